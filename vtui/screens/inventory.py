"""The main screen: every host's VMs and containers in one live table."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from vtui.filtering import filter_nodes
from vtui.messages import InventoryChanged
from vtui.model import EngineState, Inventory
from vtui.widgets.node_table import COLUMNS, LARGEST_FIRST, SORTABLE, NodeTable

ENGINE_MARK = {
    EngineState.UP: ("●", "green"),
    EngineState.CONNECTING: ("◌", "yellow"),
    EngineState.UNAVAILABLE: ("✖", "red"),
}


def engines_line(inventory: Inventory) -> Text:
    """One line per engine: host, engine, state, and the reason when it is down."""
    line = Text()
    for status in inventory.engines:
        mark, style = ENGINE_MARK[status.state]
        if line:
            line.append("\n")
        line.append(f"{mark} ", style=style)
        line.append(f"{status.host} {status.engine}", style="bold")
        line.append(f" {status.state}", style=style)
        if status.reason:
            line.append(f": {status.reason}")
        elif status.state is EngineState.UP:
            line.append(f"  {status.target}", style="dim")
    return line


class InventoryScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: handled before the next keys are forwarded, so "/db" typed in
        # one burst lands "db" in the filter box, not in the table
        Binding("slash", "filter", "Filter", id="filter", priority=True),
        Binding("s", "sort_next", "Sort", id="sort"),
        Binding("S", "sort_reverse", "Reverse", id="sort-reverse"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="clear-filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.inventory = Inventory()
        self.query_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="demo-banner")
        yield Static(id="engines")
        with Vertical(id="body"):
            yield NodeTable(id="nodes")
            yield Input(placeholder="filter: words in name, host, kind, state, image", id="filter")
        yield Footer()

    @property
    def table(self) -> NodeTable:
        return self.query_one(NodeTable)

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self._render_inventory()

    def on_inventory_changed(self, message: InventoryChanged) -> None:
        self.inventory = message.inventory
        self._render_inventory()

    def _render_inventory(self) -> None:
        inventory = self.inventory
        banner = self.query_one("#demo-banner", Static)
        banner.display = inventory.demo
        banner.update("DEMO: libvirt's test driver with made-up VMs; nothing here touches a real machine.")
        self.query_one("#engines", Static).update(engines_line(inventory))
        shown = filter_nodes(inventory.nodes, self.query_text)
        self.table.show(shown, inventory.stats)
        self._set_title(len(shown))

    def _set_title(self, shown: int) -> None:
        total = len(self.inventory.nodes)
        count = f"{shown} of {total}" if self.query_text else str(total)
        arrow = "▼" if self.table.sort_reverse else "▲"
        title = f"nodes ({count})  sort: {COLUMNS[self.table.sort_column][0].lower()} {arrow}"
        if self.query_text:
            title += f"  filter: {self.query_text}"
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
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.query_text = ""
        self.table.focus()
        self._render_inventory()

    def action_sort_next(self) -> None:
        current = SORTABLE.index(self.table.sort_column) if self.table.sort_column in SORTABLE else -1
        column = SORTABLE[(current + 1) % len(SORTABLE)]
        self.sort_by(column, column in LARGEST_FIRST)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.table.sort_column, not self.table.sort_reverse)

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        """Order rows by `column`; `reverse` defaults to the column's natural direction."""
        if reverse is None:
            reverse = column in LARGEST_FIRST
        self.table.sort_by(column, reverse)
        self._set_title(self.table.row_count)

    def on_data_table_header_selected(self, event: NodeTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        same = column == self.table.sort_column
        reverse = not self.table.sort_reverse if same else column in LARGEST_FIRST
        self.sort_by(column, reverse)
