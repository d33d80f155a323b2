"""The main screen: every host's VMs and containers in one live table."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from vtui.actions import ACTIONS, SHUTDOWN_TIMEOUT, Action, Asked, Option, ShutdownTimedOut, keyed
from vtui.backends.base import Capability
from vtui.errors import LinkError, VtuiError
from vtui.messages import ConsoleWanted, InventoryChanged
from vtui.model import EngineState, HostState, HostStatus, Inventory, Kind, Node, State
from vtui.model.filtering import HOST_PREFIX, filter_nodes
from vtui.model.format import human_bytes, human_rate, milliseconds, percent
from vtui.model.refs import qualified
from vtui.model.stats import History, total
from vtui.screens.action_menu import ActionMenu
from vtui.screens.confirm import ConfirmScreen
from vtui.screens.prompt import PickScreen, PromptScreen
from vtui.services.hub import HISTORY_SECONDS, Hub
from vtui.services.triage import STOPPED_STATES, stop_report
from vtui.widgets import set_content
from vtui.widgets.node_detail import NodeDetail
from vtui.widgets.node_table import COLUMNS, LARGEST_FIRST, SORTABLE, NodeTable
from vtui.widgets.stop_report import StopReportPane

if TYPE_CHECKING:  # the links (netlink, the kinds) and the screens behind keys load when first used
    from vtui.links.wiring import Wiring

ENGINE_MARK = {
    EngineState.UP: ("●", "green"),
    EngineState.CONNECTING: ("◌", "yellow"),
    EngineState.UNAVAILABLE: ("✖", "red"),
}


HOST_MARK = {
    HostState.UP: ("●", "green"),
    HostState.CONNECTING: ("◌", "yellow"),
    HostState.DEGRADED: ("◐", "yellow"),
    HostState.UNREACHABLE: ("✖", "red"),
    HostState.AUTH_FAILED: ("✖", "red"),
    HostState.UNTRUSTED: ("!", "bold red"),
}
HOST_LINES = 4  # hosts shown a line each; more are summed up in one line (H lists them)
PROBLEM_LINES = 3


def hosts_lines(inventory: Inventory) -> Text:
    """A line per host (its state, engines and the totals of its nodes), or one line for many hosts;
    then why a host or an engine is down."""
    text = Text()
    problems: list[tuple[str, str]] = []
    hosts = inventory.hosts or tuple(
        HostStatus(h, h, HostState.UP) for h in dict.fromkeys(e.host for e in inventory.engines))
    for host in hosts:
        reached = host.state in (HostState.UP, HostState.DEGRADED)
        if not reached and host.reason:
            problems.append((f"{host.name} {host.state}: {host.reason}", "red"))
        for status in (e for e in inventory.engines if e.host == host.name):
            if status.reason and reached:
                problems.append((f"{status.host} {status.engine} {status.state}: {status.reason}", "red"))
            if status.note:
                problems.append((f"{status.host} {status.engine}: {status.note}", "yellow"))
    if len(hosts) > HOST_LINES:
        counts = Counter(h.state for h in hosts)
        text.append(f"{len(hosts)} hosts:", style="bold")
        for state, (mark, style) in HOST_MARK.items():
            if counts[state]:
                text.append(f"  {mark} {counts[state]} {state}", style=style)
        _totals(text, inventory, inventory.nodes)
        text.append("   H: host list", style="dim")
    for host in hosts if len(hosts) <= HOST_LINES else ():
        if text:
            text.append("\n")
        mark, style = HOST_MARK[host.state]
        text.append(f"{mark} ", style=style)
        text.append(host.name, style="bold")
        if host.latency is not None:
            text.append(f" {milliseconds(host.latency)}", style="dim")
        for status in (e for e in inventory.engines if e.host == host.name):
            mark, style = ENGINE_MARK[status.state]
            text.append(f"  {mark} {status.engine}", style=style)
        _totals(text, inventory, [n for n in inventory.nodes if n.host == host.name])
    for line, style in problems[:PROBLEM_LINES]:
        text.append("\n")
        text.append(line, style=style)
    if len(problems) > PROBLEM_LINES:
        text.append(f"\n… and {len(problems) - PROBLEM_LINES} more (H: host list)", style="red")
    return text


def _totals(text: Text, inventory: Inventory, nodes: Sequence[Node]) -> None:
    measured = [inventory.stats[n.key] for n in nodes if n.key in inventory.stats]
    sums = total(measured)
    running = sum(n.state is State.RUNNING for n in nodes)
    text.append(f"   {running}/{len(nodes)} running", style="dim")
    if measured:
        cpu = f"{percent(sums.cpu_percent)}%" if sums.cpu_percent is not None else "-"
        text.append(f"   CPU {cpu}  MEM {human_bytes(sums.mem_bytes) or '-'}"
                    f"  DISK {human_rate(sums.disk_read_bps) or '-'} r {human_rate(sums.disk_write_bps) or '-'} w"
                    f"  NET {human_rate(sums.net_rx_bps) or '-'} rx {human_rate(sums.net_tx_bps) or '-'} tx")


class InventoryScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: handled before the next keys are forwarded, so "/db" typed in
        # one burst lands "db" in the filter box, not in the table
        Binding("slash", "filter", "Filter", id="filter", priority=True),
        Binding("s", "sort_next", "Sort", id="sort"),
        Binding("b", "group_hosts", "By host", id="group-hosts"),
        Binding("S", "sort_reverse", "Reverse", id="sort-reverse", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="clear-filter"),
        Binding("i", "toggle_detail", "Detail", id="toggle-detail"),
        Binding("enter,a", "menu", "Actions", id="actions"),
        Binding("space", "mark", "Mark", id="mark"),
        Binding("l", "logs", "Logs", id="logs"),
        Binding("t", "triage", "Triage", id="triage"),
        Binding("c", "console", "Console", id="console"),
        Binding("A", "console(True)", "Attach", id="attach", show=False),
        Binding("C", "consoles", "Open consoles", id="consoles", show=False),
        Binding("w", "wire", "Wire", id="wire"),
        Binding("L", "links", "Links", id="links"),
        # the registry's direct keys; the action that fits the selection runs
        *(Binding(key, f"act_key('{key}')", " / ".join(dict.fromkeys(a.title for a in actions)),
                  id=f"act-{'-'.join(a.name for a in actions)}", show=False)
          for key, actions in keyed().items()),
    ]

    shutdown_timeout = SHUTDOWN_TIMEOUT  # seconds before force-off is offered

    def __init__(self) -> None:
        super().__init__()
        self.hub: Hub | None = None  # set by the app; actions go through it
        self.links: Callable[[], Wiring] | None = None  # set by the app: the links service, made on first use
        self.links_shown = False  # the detail pane lists a node's links once the app has loaded the service
        self.triage = False  # only stopped nodes, and why they stopped
        self._report_for: tuple[str, State, str] | None = None
        self.inventory = Inventory()
        self.history = History(0)
        self.query_text = ""

    @property
    def wiring(self) -> Wiring | None:
        return self.links() if self.links is not None else None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="demo-banner")
        yield Static(id="engines")
        with Vertical(id="body"):
            yield NodeTable(id="nodes")
            yield NodeDetail(id="detail")
            yield StopReportPane(id="stop-report")
            yield Input(placeholder="filter: words in name, host, kind, state, image", id="filter")

    @property
    def table(self) -> NodeTable:
        return self.query_one(NodeTable)

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one(StopReportPane).display = False
        self._render_inventory()
        self.call_after_refresh(self._mount_footer)

    async def _mount_footer(self) -> None:
        """The key bar (a widget per key) comes one frame after the table: the first rows are ~40 ms
        sooner. It shows the keys once told that they are there."""
        await self.mount(Footer())
        self.refresh_bindings()

    def on_inventory_changed(self, message: InventoryChanged) -> None:
        self.inventory, self.history = message.inventory, message.history
        self._render_inventory()

    def on_node_table_highlighted(self) -> None:
        self._render_detail()

    def _render_detail(self) -> None:
        if self.triage:
            self._render_report()
            return
        pane = self.query_one(NodeDetail)
        if pane.display:
            node = self.table.selected
            stats = self.inventory.stats.get(node.key) if node else None
            links = self.wiring.links_of(node) if node and self.links_shown and self.wiring else []
            pane.show(node, stats, self.history, HISTORY_SECONDS, links)

    def _render_report(self) -> None:
        """Fetch the selected node's stop report (once per node and state) off the UI's path."""
        node = self.table.selected
        wanted = (node.key, node.state, node.reason) if node else None
        if wanted == self._report_for:
            return
        self._report_for = wanted
        if node is None or self.hub is None:
            self.query_one(StopReportPane).show(None)
            return
        backend = self.hub.backend_for(node)

        async def fetch() -> None:
            self.query_one(StopReportPane).show(await stop_report(backend, node))

        self.run_worker(fetch(), group="stop-report", exclusive=True)

    def action_triage(self) -> None:
        """t: only stopped, crashed and exited nodes, each with why it stopped."""
        self.triage = not self.triage
        self._report_for = None
        self.query_one(StopReportPane).display = self.triage
        self.query_one(NodeDetail).display = not self.triage
        self._render_inventory()

    def action_toggle_detail(self) -> None:
        pane = self.query_one(NodeDetail)
        pane.display = not pane.display
        self._render_detail()

    def _render_inventory(self) -> None:
        inventory = self.inventory
        banner = self.query_one("#demo-banner", Static)
        banner.display = inventory.demo
        set_content(banner, "DEMO: libvirt's test driver with made-up VMs; nothing here touches a real machine.")
        set_content(self.query_one("#engines", Static), hosts_lines(inventory))
        shown = filter_nodes(inventory.nodes, self.query_text)
        if self.triage:
            shown = [n for n in shown if n.state in STOPPED_STATES]
        self.table.show(shown, inventory.stats)
        self._set_title(len(shown))
        self._render_detail()

    def _set_title(self, shown: int) -> None:
        total = len(self.inventory.nodes)
        count = f"{shown} of {total}" if self.query_text else str(total)
        arrow = "▼" if self.table.sort_reverse else "▲"
        title = f"nodes ({count})  sort: {COLUMNS[self.table.sort_column][0].lower()} {arrow}"
        if self.triage:
            title += "  triage: stopped, crashed, exited"
        if self.query_text:
            title += f"  filter: {self.query_text}"
        marked = f"{len(self.table.marked)} marked (space: mark, esc: clear)" if self.table.marked else ""
        if self.table.border_subtitle != marked:
            self.table.border_subtitle = marked  # on the bottom edge, by the keys
        if self.table.border_title != title:
            self.table.border_title = title

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # in the filter box, "/" is just a character of the filter
        return not (action == "filter" and self.focused is self.query_one("#filter", Input))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        self.set_focus(box)  # at once: focus() would defer it

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        self._render_inventory()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()
        if not self.query_text:
            self.query_one("#filter", Input).display = False

    def action_clear_filter(self) -> None:
        if not self.query_text and self.table.marked:
            self.table.clear_marks()  # escape: first the filter, then the marks
            self._set_title(self.table.row_count)
            return
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.query_text = ""
        self.table.focus()
        self._render_inventory()

    # --- actions ------------------------------------------------------------------

    def targets(self) -> list[Node]:
        """The marked nodes, or else the selected one."""
        marked = self.table.marked_nodes()
        return marked or ([self.table.selected] if self.table.selected else [])

    def action_act_key(self, key: str) -> None:
        """A direct key: the first of its actions that fits one of the targets."""
        targets = self.targets()
        starts = ACTIONS["start"] in keyed().get(key, [])
        if self.triage and starts and len(targets) == 1 and targets[0].kind is Kind.VM:
            self.post_message(ConsoleWanted(targets[0], start=True))  # start it and watch it boot
            return
        for action in keyed().get(key, []):
            if any(action.applies_to(n) for n in targets):
                self.start_action(action.name, targets)
                return
        self.notify(f"{key}: nothing it does fits the selection", severity="warning")

    def action_logs(self) -> None:
        from vtui.screens.logs import LogsScreen

        if (node := self.table.selected) and self.hub:
            self.app.push_screen(LogsScreen(self.hub.backend_for(node), node))

    def action_console(self, attach: bool = False) -> None:
        """c: the selected node's console (a VM's serial port, a container's shell); A: attach."""
        if node := self.table.selected:
            self.post_message(ConsoleWanted(node, attach))

    def action_consoles(self) -> None:
        """C: back to the open consoles."""
        if self.app.is_screen_installed("consoles") and self.app.get_screen("consoles").query("ConsolePane"):
            self.app.push_screen("consoles")
        else:
            self.notify("No console is open: c opens the selected node's", severity="warning")

    def action_links(self) -> None:
        """L: every link, live."""
        from vtui.screens.links import LinksScreen

        if self.wiring is not None:
            self.app.push_screen(LinksScreen(self.wiring))

    def action_wire(self) -> None:
        """w: a link between the two marked nodes (or the marked one and the selected one)."""
        nodes = self.table.marked_nodes()
        selected = self.table.selected
        if len(nodes) == 1 and selected is not None and selected.key != nodes[0].key:
            nodes.append(selected)
        if len(nodes) > 2:
            self.run_worker(self._segment(nodes), group="wire")
        elif len(nodes) == 2:
            self.run_worker(self._wire(nodes[0], nodes[1]), group="wire")
        else:
            self.notify("Mark two containers with space, then w wires them (three or more: a segment)",
                        severity="warning")

    async def _segment(self, nodes: list[Node]) -> None:
        """w with three or more marked: a segment (a bridge) that each of them joins."""
        from vtui.net.plan import DEFAULT_MTU

        if self.wiring is None:
            return
        taken = {s.name for s in self.wiring.book.read().segments.values()}
        proposed = next(f"lan{n}" for n in range(1, len(taken) + 2) if f"lan{n}" not in taken)
        answer = await self.app.push_screen_wait(PromptScreen(
            f"A segment of {len(nodes)} nodes: its name, and the MTU", "lan1 1500", value=f"{proposed} 1500"))
        if answer is None:
            return
        name, _, mtu = answer.rpartition(" ") if answer.strip().split()[-1].isdigit() else (answer, "", "")
        try:
            segment, made = await self.wiring.bridge_add(name.strip(), nodes[0].host, int(mtu or DEFAULT_MTU))
        except VtuiError as err:
            self.notify(str(err), title="Segment", severity="error")
            return
        try:
            for node in nodes:
                await self.wiring.bridge_attach(f"{segment.name}@{segment.host}", qualified(node))
        except VtuiError as err:
            if made:  # all or nothing: the segment made here goes, with the members that joined
                await self.wiring.bridge_del(segment)
            self.notify(f"{err}{' (the segment was not kept)' if made else ''}", title="Segment", severity="error")
            return
        self.table.clear_marks()
        self.notify(f"segment {segment}: {', '.join(n.name for n in nodes)} joined", title="Segment")

    async def _wire(self, a: Node, b: Node) -> None:
        from vtui.links.service import NEW_NIC
        from vtui.net.plan import DEFAULT_MTU

        if self.wiring is None:
            return
        specs = qualified(a), qualified(b)
        try:
            if_a, if_b = await self.wiring.propose(*specs)
            answer = await self.app.push_screen_wait(PromptScreen(
                f"Wire {a.name} — {b.name}: interface of each (nic: a VM's new NIC), and the MTU",
                f"{if_a} {if_b} 1500",
                value=f"{if_a} {if_b} 1500"))
            if answer is None:
                return
            words = answer.split()
            if len(words) not in (2, 3) or (len(words) == 3 and not words[2].isdigit()):
                raise LinkError(f"{answer!r}: write the two interface names and, if you like, the MTU")
            mtu = int(words[2]) if len(words) == 3 else DEFAULT_MTU
            ends = [spec if word == NEW_NIC else f"{spec}:{word}" for spec, word in zip(specs, words, strict=False)]
            record, made = await self.wiring.add(ends[0], ends[1], mtu=mtu)
        except VtuiError as err:
            self.notify(str(err), title="Wire", severity="error")
            return
        self.table.clear_marks()
        self.notify(f"{'wired' if made else 'already wired'}: link {record}", title="Wire")

    def action_mark(self) -> None:
        self.table.toggle_mark()
        self._set_title(self.table.row_count)

    def action_menu(self) -> None:
        nodes = self.targets()
        if not nodes:
            return
        read_only = bool(self.hub and any(b.read_only for b in self.hub.backends))

        def chosen(name: str | None) -> None:
            if name:
                self.start_action(name, nodes)

        self.app.push_screen(ActionMenu(nodes, read_only), chosen)

    def start_action(self, name: str, nodes: Sequence[Node] | None = None) -> None:
        self.run_worker(self._act(ACTIONS[name], list(nodes or self.targets())), group="actions")

    async def _act(self, action: Action, nodes: list[Node]) -> None:
        fits = [n for n in nodes if action.applies_to(n)]
        if not fits:
            self.notify(f"{action.title} fits none of the chosen nodes", severity="warning")
            return
        options = await self._ask(action, fits)
        if options is None:
            return  # cancelled: nothing was done
        results = await asyncio.gather(*(self._act_on(action, n, options) for n in fits))
        if len(nodes) > 1:
            failed, skipped = results.count(False), len(nodes) - len(fits)
            summary = f"{action.title}: {results.count(True)} done, {failed} failed, {skipped} did not fit"
            self.notify(summary, severity="error" if failed else "information")

    async def _ask(self, action: Action, nodes: list[Node]) -> dict[str, object] | None:
        """What the action needs from the user first, or None when they cancel.

        Destructive actions are confirmed; deleting a VM takes its name typed out.
        """
        options: dict[str, object] = {"timeout": self.shutdown_timeout}
        names = ", ".join(repr(n.name) for n in nodes[:5]) + (" …" if len(nodes) > 5 else "")
        for option in (o for o in action.options if o.asked in (Asked.TEXT, Asked.SNAPSHOT)):
            value = await self._ask_value(action, option, nodes, names)
            if not value:
                return None
            options[option.name] = value
        if action.name == "delete":  # cannot be undone: each name typed out
            for node in nodes:
                question = f"Delete VM {node.name!r}? Type its name to confirm."
                if await self.app.push_screen_wait(PromptScreen(question, node.name, must_equal=node.name)) is None:
                    return None
        elif action.destructive and not await self.app.push_screen_wait(
                ConfirmScreen(f"{action.title} {names}?", action.description)):
            return None
        for option in (o for o in action.options if o.asked is Asked.YES_NO):
            yes: bool = await self.app.push_screen_wait(ConfirmScreen(option.question, option.help))
            options[option.name] = yes
        return options

    async def _ask_value(self, action: Action, option: Option, nodes: list[Node], names: str) -> str | None:
        """A text option typed in, or a snapshot picked from the VM's; None when cancelled or there is none."""
        question = option.question.format(names=names, title=action.title)
        if option.asked is Asked.TEXT:
            return await self.app.push_screen_wait(PromptScreen(question, option.help))
        if len(nodes) != 1 or self.hub is None:
            self.notify(f"{action.title} works on one VM at a time", severity="warning")
            return None
        backend = self.hub.backend_for(nodes[0])
        snaps = await backend.snapshots(nodes[0]) if backend.supports(Capability.SNAPSHOTS) else []
        if not snaps:
            self.notify(f"{nodes[0].name!r} has no snapshots", severity="warning")
            return None
        choices = [(s.name, f"{s.name}  ({s.state}){'  current' if s.current else ''}  {s.description}")
                   for s in snaps]
        picked: str | None = await self.app.push_screen_wait(PickScreen(question, choices))
        return picked

    async def _act_on(self, action: Action, node: Node, options: dict[str, object]) -> bool:
        """One node: progress on its row, the result as a notification; True when it worked."""
        assert self.hub is not None
        self.table.set_busy(node.key, action.name)
        try:
            done = await self.hub.perform(node, action.name, options)
            self.notify(done)
            return True
        except ShutdownTimedOut as err:
            self.table.set_busy(node.key, None)
            force = ConfirmScreen(f"{node.name!r} is still running.", f"{err}\n\nForce it off now?")
            return await self.app.push_screen_wait(force) and await self._act_on(ACTIONS["force-off"], node, options)
        except VtuiError as err:
            self.notify(str(err), severity="error", timeout=12)
            return False
        finally:
            self.table.set_busy(node.key, None)

    def action_sort_next(self) -> None:
        current = SORTABLE.index(self.table.sort_column) if self.table.sort_column in SORTABLE else -1
        column = SORTABLE[(current + 1) % len(SORTABLE)]
        self.sort_by(column, column in LARGEST_FIRST)

    def action_group_hosts(self) -> None:
        self.table.group_hosts(not self.table.group_by_host)
        self.notify("grouped by host" if self.table.group_by_host else "not grouped", timeout=2)

    def show_host(self, host: str) -> None:
        """Only the nodes of this host (the filter `host:NAME`, which escape clears)."""
        box = self.query_one("#filter", Input)
        box.value = f"{HOST_PREFIX}{host}"
        box.display = True
        self.query_text = box.value
        self.table.focus()
        self._render_inventory()

    def action_sort_reverse(self) -> None:
        self.sort_by(self.table.sort_column, not self.table.sort_reverse)

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        """Order rows by `column`; `reverse` defaults to the column's natural direction."""
        if reverse is None:
            reverse = column in LARGEST_FIRST
        self.table.sort_by(column, reverse)
        self._set_title(self.table.row_count)

    def on_node_table_header_clicked(self, event: NodeTable.HeaderClicked) -> None:
        column = event.column
        if column not in SORTABLE:
            return
        same = column == self.table.sort_column
        reverse = not self.table.sort_reverse if same else column in LARGEST_FIRST
        self.sort_by(column, reverse)
