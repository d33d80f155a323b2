"""The inventory table: rows keyed by node key, reconciled in place from snapshots."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from vtui.format import detail, human_bytes
from vtui.model import Node, State

STATE_STYLE: dict[State, str] = {
    State.RUNNING: "bold green",
    State.PAUSED: "yellow",
    State.SHUTTING_DOWN: "yellow",
    State.SUSPENDED: "cyan",
    State.STOPPED: "dim",
    State.CREATED: "dim",
    State.CRASHED: "bold red",
    State.DEAD: "bold red",
    State.RESTARTING: "magenta",
    State.REMOVING: "magenta",
    State.UNKNOWN: "red",
}
STATE_ORDER = {state: i for i, state in enumerate(State)}

# column key -> (header, cell text, sort key)
Column = tuple[str, Callable[[Node], Text], Callable[[Node], Any]]


def _text(get: Callable[[Node], str]) -> Callable[[Node], Text]:
    return lambda n: Text(get(n))


def _number(get: Callable[[Node], str]) -> Callable[[Node], Text]:
    return lambda n: Text(get(n), justify="right")


COLUMNS: dict[str, Column] = {
    "name": ("NAME", _text(lambda n: n.name), lambda n: n.name.lower()),
    "kind": ("KIND", _text(lambda n: n.kind), lambda n: n.kind),
    "host": ("HOST", _text(lambda n: n.host), lambda n: n.host),
    "state": ("STATE", lambda n: Text(n.state, style=STATE_STYLE[n.state]), lambda n: STATE_ORDER[n.state]),
    "detail": ("DETAIL", _text(detail), detail),
    "image": ("IMAGE", _text(lambda n: n.image), lambda n: n.image),
    "vcpus": ("VCPU", _number(lambda n: "" if n.vcpus is None else str(n.vcpus)), lambda n: n.vcpus or 0),
    "memory": ("MEMORY", _number(lambda n: human_bytes(n.memory_bytes)), lambda n: n.memory_bytes or 0),
}
SORTABLE = ("name", "host", "kind", "state", "memory", "vcpus")
LARGEST_FIRST = frozenset({"memory", "vcpus"})  # like top: numbers sort big to small


def cells(node: Node) -> list[Text]:
    return [render(node) for _, render, _ in COLUMNS.values()]


class NodeTable(DataTable[Text]):
    """Shows nodes; `show()` adds, removes and updates only what changed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="cursor-down"),
        Binding("k", "cursor_up", "Up", show=False, id="cursor-up"),
        Binding("g", "scroll_top", "Top", show=False, id="top"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="bottom"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._shown: dict[str, Node] = {}
        self._shown_cells: dict[str, list[Text]] = {}
        self.sort_column = "name"
        self.sort_reverse = False

    def on_mount(self) -> None:
        for key, (header, _, _) in COLUMNS.items():
            self.add_column(header, key=key)

    async def _on_idle(self, event: events.Idle) -> None:
        # DataTable widens columns here, but its cell render cache is keyed by
        # _update_count, not by width: a paint between add_row() and this idle
        # pass leaves cells clipped to the header's width. Invalidate on change.
        before = [c.content_width for c in self.ordered_columns]
        await super()._on_idle(event)
        if [c.content_width for c in self.ordered_columns] != before:
            self._update_count += 1
            self.refresh()

    @property
    def selected(self) -> Node | None:
        if not self.row_count:
            return None
        row_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return self._shown.get(str(row_key.value))

    def show(self, nodes: Iterable[Node]) -> None:
        """Make the rows exactly `nodes`, touching only the cells that changed."""
        wanted = {n.key: n for n in nodes}
        selected = self.selected
        reorder = False
        for key in [k for k in self._shown if k not in wanted]:
            self.remove_row(key)
            del self._shown[key], self._shown_cells[key]
        sort_key = COLUMNS[self.sort_column][2]
        for key, node in wanted.items():
            old = self._shown.get(key)
            if old == node:
                continue
            new_cells = cells(node)
            if old is None:
                self.add_row(*new_cells, key=key)
                reorder = True
            else:
                for column, before, after in zip(COLUMNS, self._shown_cells[key], new_cells, strict=True):
                    if before != after:
                        self.update_cell(key, column, after)
                reorder = reorder or sort_key(old) != sort_key(node) or old.name != node.name
            self._shown[key], self._shown_cells[key] = node, new_cells
        if reorder:
            self._reorder(selected)
        else:
            self._keep_cursor_on(selected)

    def sort_by(self, column: str, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._reorder(self.selected)

    def _reorder(self, keep: Node | None) -> None:
        sort_key = COLUMNS[self.sort_column][2]
        ordered = sorted(self._shown.values(), key=lambda n: (n.name.lower(), n.host))
        ordered.sort(key=sort_key, reverse=self.sort_reverse)  # stable: ties stay by name
        # DataTable.sort() only sees cell values; we order by node, through the
        # same mapping it updates.
        self._row_locations = TwoWayDict({RowKey(n.key): i for i, n in enumerate(ordered)})
        self._update_count += 1
        self.refresh()
        self._keep_cursor_on(keep)

    def _keep_cursor_on(self, node: Node | None) -> None:
        """Rows moved or vanished: keep the cursor on the node the user was on."""
        current = self.selected
        if node is not None and node.key in self._shown and (current is None or current.key != node.key):
            self.move_cursor(row=self.get_row_index(node.key), animate=False)
