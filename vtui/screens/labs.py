"""The labs screen (T): each lab deployed, and the selected one's topology drawn with its links' state
and rates, with its nodes and links to pick. n deploys a file, a applies the lab's edited file, x
destroys it: each after showing what it will do, with a progress view of each step. enter on a node
opens its console; on a link, the links screen."""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, RichLog, Static

from vtui.errors import ConfigError, LinkError, VtuiError
from vtui.labs.clab import read_lab
from vtui.labs.deploy import Labs, Plan
from vtui.labs.graph import layered
from vtui.labs.inventory import host_names
from vtui.labs.steps import Step
from vtui.labs.topology import Lab
from vtui.links.wiring import LinkView, Wiring
from vtui.messages import ConsoleWanted
from vtui.model import Node
from vtui.model.format import human_rate
from vtui.net.book import SIDES
from vtui.screens.confirm import ConfirmScreen
from vtui.screens.links import STATE_STYLE, LinksScreen
from vtui.screens.prompt import PromptScreen
from vtui.screens.refresher import Refresher
from vtui.services.hub import Hub

HELP = ("n: deploy a file · a: apply the lab's edited file · x: destroy · enter: a node's console, a link's "
        "controls · esc: back   (vtui lab … does the same from a shell)")
SHOWN_STEPS = 24  # steps listed when asking; the rest counted
PAST = {"deploy": "deployed", "apply": "applied", "destroy": "destroyed"}


class ProgressScreen(ModalScreen[bool]):
    """Each step of a plan as it ends (ok, failed, undone); esc closes it when it is over."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close", id="lab-progress-close")]
    DEFAULT_CSS = """
    ProgressScreen { align: center middle; }
    ProgressScreen > Vertical { width: 90%; height: 80%; border: thick $accent; background: $surface; }
    ProgressScreen #progress-state { padding: 0 1; }
    """

    def __init__(self, labs: Labs, plan: Plan, verb: str) -> None:
        super().__init__()
        self.labs, self.plan, self.verb = labs, plan, verb  # deploy, apply or destroy
        self.finished = False
        self.count = 0

    def compose(self) -> ComposeResult:
        with Vertical():
            doing = f"{self.verb.capitalize()}ing lab {self.plan.lab.name}: {self.plan.counted}…"
            yield Static(Text(doing, style="bold"), id="progress-state")
            yield RichLog(wrap=True, markup=False)

    def on_mount(self) -> None:
        self.run()

    def _step(self, step: Step, state: str, detail: str) -> None:
        if state == "start":
            return
        self.count += state == "done"
        style = {"done": "", "failed": "red", "undone": "yellow"}[state]
        mark = f"[{self.count}/{len(self.plan.steps)}]" if state == "done" else f"[{state}]"
        self.query_one(RichLog).write(Text(f"{mark} {step}" + (f": {detail}" if detail else ""), style=style))

    @work(exclusive=True, group="lab-progress")
    async def run(self) -> None:
        state = self.query_one("#progress-state", Static)
        name, done = self.plan.lab.name, PAST[self.verb]
        try:
            await self.labs.carry_out(self.plan, self._step)
            if self.plan.left:
                state.update(Text(f"lab {name} partly {done}: {self.plan.left}", style="bold yellow"))
            else:
                state.update(Text(f"lab {name} {done}: {self.plan.counted} (esc closes)",
                                  style="bold green"))
            self.app.notify(f"lab {name} {'partly ' if self.plan.left else ''}{done}", title="Labs")
        except VtuiError as err:
            state.update(Text(f"lab {name} not {done}; what this run made was undone: {err}",
                              style="bold red"))
        finally:
            self.finished = True

    def action_close(self) -> None:
        if self.finished:
            self.dismiss(True)
        else:
            self.notify("still under way: esc again when it is over", severity="warning")


class LabsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,T", "app.pop_screen", "Back", id="labs-back"),
        Binding("n", "deploy", "Deploy file", id="lab-deploy"),
        Binding("a", "apply", "Apply", id="lab-apply"),
        Binding("x", "destroy", "Destroy", id="lab-destroy"),
        Binding("tab", "switch", "Labs/parts", id="lab-switch", show=False),
    ]
    DEFAULT_CSS = """
    LabsScreen #labs-list { width: 40; }
    LabsScreen #lab-drawing { height: auto; max-height: 50%; border: round $accent; padding: 0 1; }
    """

    def __init__(self, hub: Hub, wiring: Wiring) -> None:
        super().__init__()
        self.hub, self.wiring = hub, wiring
        self.parts: dict[str, object] = {}  # row key of the parts table -> a Node or a LinkView
        self._last: dict[str, tuple[float, LinkView]] = {}
        self.lab: Lab | None = None
        self._host_names: dict[tuple[str, ...], dict[str, str]] = {}
        self.refresh_labs = Refresher(self, self._read_labs, "labs-refresh")

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(HELP), id="labs-help")
        with Horizontal():
            labs: DataTable[str] = DataTable(cursor_type="row", id="labs-list")
            labs.add_columns("LAB", "NODES", "LINKS")
            yield labs
            with Vertical():
                yield Static(id="lab-drawing")
                parts: DataTable[Text | str] = DataTable(cursor_type="row", id="lab-parts", zebra_stripes=True)
                yield parts
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Labs"
        self.refresh_labs()
        self.set_interval(1.0, self.refresh_labs)

    def labs(self, hosts: list[str] | None = None) -> Labs:
        """A Labs over the app's engines and inventory (no second connection)."""
        key = tuple(dict.fromkeys(hosts or ()))
        if key not in self._host_names:  # hosts.toml read once per set of hosts, not at each refresh
            self._host_names[key] = host_names(key)
        labs = Labs(self.hub.backends, self._host_names[key], self.wiring.book)
        labs.nodes = list(self.hub.inventory.nodes)
        return labs

    @property
    def selected_lab(self) -> str | None:
        table = self.query_one("#labs-list", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    async def _read_labs(self) -> None:
        try:
            records = self.wiring.book.read().labs
        except LinkError as err:
            self.query_one("#labs-help", Static).update(Text(str(err), style="red"))
            return
        labs = self.labs([h for r in records.values() for h in r.hosts])
        deployed: dict[str, Lab] = {}
        for name in records:
            try:
                lab = labs.deployed(name)
            except ConfigError:
                continue
            if lab is not None:
                deployed[name] = lab
        table = self.query_one("#labs-list", DataTable)
        chosen = self.selected_lab
        rows = {name: (name, f"{sum(labs.view(lab, n).state in ('running', 'made') for n in lab.nodes.values())}/"
                             f"{len(lab.nodes)}", str(len(lab.links))) for name, lab in deployed.items()}
        if [str(key.value) for key in table.rows] != list(rows):  # labs came or went: the list anew
            table.clear()
            for name, cells in rows.items():
                table.add_row(*cells, key=name)
            if chosen in rows:
                table.move_cursor(row=table.get_row_index(chosen))
        else:  # the same labs: only their figures change (no cursor move, no highlight event)
            for name, cells in rows.items():
                for column, cell in zip(table.columns, cells, strict=True):
                    table.update_cell(name, column, cell)
        self.sub_title = f"{len(deployed)} lab{'s' * (len(deployed) != 1)}"
        self.lab = deployed.get(self.selected_lab or "")
        await self._show_lab(labs)

    async def _show_lab(self, labs: Labs) -> None:
        drawing = self.query_one("#lab-drawing", Static)
        parts: DataTable[Text | str] = self.query_one("#lab-parts", DataTable)
        lab = self.lab
        if lab is None:
            drawing.update(Text("No lab is deployed: n deploys a containerlab file (*.clab.yml)."))
            parts.clear(columns=True)
            return
        records = {ends: record for ends, (record, _) in labs.wired(lab).items()}
        views = {v.record.id: v for v in await self.wiring.views(records.values())}
        now = time.monotonic()
        states: dict[frozenset[tuple[str, str]], str] = {}
        row_key = self._row_key(parts)
        parts.clear(columns=True)
        parts.add_columns("", "NAME", "KIND", "HOST", "STATE", "DETAIL")
        self.parts = {}
        for node in lab.nodes.values():
            view = labs.view(lab, node)
            key = f"node:{node.name}"
            self.parts[key] = view.node
            parts.add_row("node", node.name, node.kind, view.host, Text(view.state, style=STATE_STYLE.get(
                "up" if view.state in ("running", "made") else "waiting", "")), view.engine_name, key=key)
        for link in lab.links:
            record = records.get(link.ends)
            link_view = views.get(record.id) if record else None
            state = link_view.state if link_view else "absent"
            rate = self._rate(link_view, now) if link_view else ""
            states[link.ends] = state + (f" {rate}" if rate else "")
            key = f"link:{link}"
            self.parts[key] = link_view
            parts.add_row("link", str(link), record.kind if record else "-", labs.host(lab.nodes[link.a.node]),
                          Text(state, style=STATE_STYLE.get(state, "red")),
                          " ".join(w for w in (rate, record.impair_words() if record else "") if w), key=key)
        self._last = {v.record.id: (now, v) for v in views.values()}
        if row_key in self.parts:
            parts.move_cursor(row=parts.get_row_index(row_key))
        drawing.update(Text("\n".join(layered(lab, states))))

    @staticmethod
    def _row_key(table: DataTable[Text | str]) -> str | None:
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _rate(self, view: LinkView, now: float) -> str:
        before = self._last.get(view.record.id)
        if before is None or not all(view.ends[s].present and before[1].ends[s].present for s in SIDES):
            return ""
        seconds = max(now - before[0], 1e-3)
        sent = sum(max(view.ends[s].tx_bytes - before[1].ends[s].tx_bytes, 0) for s in SIDES) / seconds
        return human_rate(sent) or "0 B/s"

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "labs-list" and (self.lab is None or event.row_key.value != self.lab.name):
            self.refresh_labs()  # another lab chosen: drawn now, not at the next tick

    def action_switch(self) -> None:
        focused = self.focused
        target = "#lab-parts" if focused is None or focused.id == "labs-list" else "#labs-list"
        self.query_one(target, DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """enter: on a lab, to its parts; on a node, its console; on a link, the links screen."""
        event.stop()
        if event.data_table.id == "labs-list":
            self.query_one("#lab-parts", DataTable).focus()
        else:
            self.action_open()

    def action_open(self) -> None:
        parts: DataTable[Text | str] = self.query_one("#lab-parts", DataTable)
        key = self._row_key(parts)
        if key is None:
            return
        part = self.parts.get(key)
        if isinstance(part, LinkView):
            self.app.push_screen(LinksScreen(self.wiring, select=part.record.id))
        elif key.startswith("link:"):
            self.notify(f"{key.removeprefix('link:')} is not wired: a applies the lab's file", severity="warning")
        elif isinstance(part, Node):
            self.post_message(ConsoleWanted(part))
        else:
            self.notify(f"{key.removeprefix('node:')} is not running here: a to apply the lab's file makes it",
                        severity="warning")

    # --- deploy, apply, destroy: shown, asked, carried out with progress ----------------------------

    def action_deploy(self) -> None:
        def answered(path: str | None) -> None:
            if path:
                self._plan_file(Path(path).expanduser(), "deploy")

        self.app.push_screen(PromptScreen("Deploy a lab: its containerlab file", "lab.clab.yml",
                                          value=str(Path.cwd()) + "/"), answered)

    def action_apply(self) -> None:
        name = self.selected_lab
        record = self.wiring.book.read().labs.get(name or "")
        if record is None:
            self.notify("No lab is selected", severity="warning")
            return
        self._plan_file(Path(record.file), "apply")

    @work(group="lab-plan")
    async def _plan_file(self, path: Path, verb: str) -> None:
        try:
            lab = read_lab(path)
            labs = self.labs(lab.hosts)
            await labs.refresh()
            plan = await labs.plan(lab)
        except VtuiError as err:
            self.notify(str(err), title=f"lab {verb}", severity="error", timeout=10)
            return
        for note in lab.notes:
            self.notify(note, title=f"lab {lab.name}", severity="warning")
        if not plan.steps:
            self.notify(f"lab {lab.name}: nothing to change", title=f"lab {verb}")
            return
        self._ask(labs, plan, verb, f"{verb.capitalize()} lab {lab.name} ({path.name}): {plan.counted}?")

    def action_destroy(self) -> None:
        name = self.selected_lab
        if name is None:
            self.notify("No lab is selected", severity="warning")
            return
        self._plan_destroy(name)

    @work(group="lab-plan")
    async def _plan_destroy(self, name: str) -> None:
        record = self.wiring.book.read().labs.get(name)
        labs = self.labs(list(record.hosts) if record else [])
        try:
            await labs.refresh()
            plan = labs.destroy_plan(name)
        except VtuiError as err:
            self.notify(str(err), title="lab destroy", severity="error")
            return
        self._ask(labs, plan, "destroy", f"Destroy lab {name}: remove everything it made?")

    def _ask(self, labs: Labs, plan: Plan, verb: str, question: str) -> None:
        steps = [str(step) for step in plan.steps]
        detail = "\n".join(steps[:SHOWN_STEPS]) + (f"\n… and {len(steps) - SHOWN_STEPS} more" if
                                                   len(steps) > SHOWN_STEPS else "")

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.push_screen(ProgressScreen(labs, plan, verb), self._after_progress)

        self.app.push_screen(ConfirmScreen(question, detail or "its record only"), answered)

    def _after_progress(self, _: bool | None) -> None:
        self.refresh_labs()
