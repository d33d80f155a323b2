"""The main screen: every host's VMs and containers in one live table."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Header, Input, Static

from vtui.actions import ACTIONS, keyed
from vtui.errors import LinkError, VtuiError
from vtui.messages import ConsoleWanted, InventoryChanged
from vtui.model import Inventory, Kind, Node, State
from vtui.model.filtering import HOST_PREFIX, filter_nodes
from vtui.model.refs import qualified
from vtui.model.stats import History
from vtui.screens.acting import ActingScreen
from vtui.screens.hosts_lines import hosts_lines
from vtui.screens.prompt import PromptScreen
from vtui.services.hub import HISTORY_SECONDS, Hub
from vtui.services.triage import STOPPED_STATES, stop_report
from vtui.widgets import set_content
from vtui.widgets.node_detail import NodeDetail
from vtui.widgets.node_table import COLUMNS, LARGEST_FIRST, SORTABLE, NodeTable
from vtui.widgets.stop_report import StopReportPane

if TYPE_CHECKING:  # the links (netlink, the kinds) and the screens behind keys load when first used
    from vtui.links.wiring import Wiring


class InventoryScreen(ActingScreen):
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
        yield Footer()

    @property
    def table(self) -> NodeTable:
        return self.query_one(NodeTable)

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one(StopReportPane).display = False
        self._render_inventory()

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
