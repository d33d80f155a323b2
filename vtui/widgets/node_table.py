"""The inventory table: rows keyed by node key, reconciled in place from snapshots."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from rich.console import Console, ConsoleOptions
from rich.measure import Measurement
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from vtui.format import detail, human_bytes, human_rate, percent
from vtui.model import Node, State
from vtui.stats import NodeStats

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


class Cell(Text):
    """A one-line cell whose width is its length. Rich's general Text measure splits
    words and dominates DataTable's layout pass when a thousand rows arrive at once."""

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.cell_len, self.cell_len)
NO_STATS = NodeStats()
BULK_REMOVE = 32  # removing more rows than this at once rebuilds the table

Row = tuple[Node, NodeStats]
# column key -> (header, cell text, sort key)
Column = tuple[str, Callable[[Node, NodeStats], Text], Callable[[Node, NodeStats], Any]]


def _text(get: Callable[[Node], str]) -> Callable[[Node, NodeStats], Text]:
    return lambda n, _s: Cell(get(n))


def _figure(render: Callable[[NodeStats], str]) -> Callable[[Node, NodeStats], Text]:
    return lambda _n, s: Cell(render(s), justify="right")


def _big_first(get: Callable[[Node, NodeStats], float | int | None]) -> Callable[[Node, NodeStats], Any]:
    return lambda n, s: -1 if (v := get(n, s)) is None else v


def _limit(node: Node, stats: NodeStats) -> int | None:
    return stats.mem_limit_bytes or node.memory_bytes


COLUMNS: dict[str, Column] = {
    "name": ("NAME", _text(lambda n: n.name), lambda n, _s: n.name.lower()),
    "kind": ("KIND", _text(lambda n: n.kind), lambda n, _s: n.kind),
    "host": ("HOST", _text(lambda n: n.host), lambda n, _s: n.host),
    "state": ("STATE", lambda n, _s: Cell(n.state, style=STATE_STYLE[n.state]), lambda n, _s: STATE_ORDER[n.state]),
    "detail": ("DETAIL", _text(detail), lambda n, _s: detail(n)),
    "vcpus": ("VCPU", lambda n, _s: Cell("" if n.vcpus is None else str(n.vcpus), justify="right"),
              _big_first(lambda n, _s: n.vcpus)),
    "cpu": ("CPU%", _figure(lambda s: percent(s.cpu_percent)), _big_first(lambda _n, s: s.cpu_percent)),
    "mem": ("MEM", _figure(lambda s: human_bytes(s.mem_bytes)), _big_first(lambda _n, s: s.mem_bytes)),
    "limit": ("LIMIT", lambda n, s: Cell(human_bytes(_limit(n, s)), justify="right"), _big_first(_limit)),
    "disk_read": ("DISK R/s", _figure(lambda s: human_rate(s.disk_read_bps)),
                  _big_first(lambda _n, s: s.disk_read_bps)),
    "disk_write": ("DISK W/s", _figure(lambda s: human_rate(s.disk_write_bps)),
                   _big_first(lambda _n, s: s.disk_write_bps)),
    "net_rx": ("NET RX/s", _figure(lambda s: human_rate(s.net_rx_bps)), _big_first(lambda _n, s: s.net_rx_bps)),
    "net_tx": ("NET TX/s", _figure(lambda s: human_rate(s.net_tx_bps)), _big_first(lambda _n, s: s.net_tx_bps)),
}
SORTABLE = ("name", "host", "kind", "state", "cpu", "mem", "limit", "disk_read", "disk_write", "net_rx",
            "net_tx", "vcpus")
LARGEST_FIRST = frozenset(SORTABLE[4:])  # like top: figures sort big to small


def cells(node: Node, stats: NodeStats) -> list[Text]:
    return [render(node, stats) for _, render, _ in COLUMNS.values()]


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
        self._shown: dict[str, Row] = {}
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
        row = self._shown.get(str(row_key.value))
        return row[0] if row else None

    def show(self, nodes: Iterable[Node], stats: Mapping[str, NodeStats]) -> None:
        """Make the rows exactly `nodes`, touching only the cells that changed."""
        wanted = {n.key: (n, stats.get(n.key, NO_STATS)) for n in nodes}
        selected = self.selected
        reorder = False
        gone = [k for k in self._shown if k not in wanted]
        if len(gone) > BULK_REMOVE:
            # remove_row() re-indexes every row it leaves: rebuilding is linear instead
            self.clear()
            self._shown.clear()
            self._shown_cells.clear()
            gone = []
        for key in gone:
            self.remove_row(key)
            del self._shown[key], self._shown_cells[key]
        sort_key = COLUMNS[self.sort_column][2]
        for key, row in wanted.items():
            old = self._shown.get(key)
            if old == row:
                continue
            new_cells = cells(*row)
            if old is None:
                self.add_row(*new_cells, key=key)
                reorder = True
            else:
                for column, before, after in zip(COLUMNS, self._shown_cells[key], new_cells, strict=True):
                    if before != after:
                        self.update_cell(key, column, after)
                        self._widen(column, after)
                reorder = reorder or sort_key(*old) != sort_key(*row) or old[0].name != row[0].name
            self._shown[key], self._shown_cells[key] = row, new_cells
        if reorder:
            self._reorder(selected)
        else:
            self._keep_cursor_on(selected)

    def _widen(self, column: str, cell: Text) -> None:
        """Columns grow to fit and never shrink: update_cell(update_width=True) re-measures
        the whole column whenever a value gets narrower, every second, on every row."""
        col = self.columns[column]  # type: ignore[index]
        if cell.cell_len > col.content_width:
            col.content_width = cell.cell_len
            self._require_update_dimensions = True  # recompute the virtual width on idle

    def sort_by(self, column: str, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._reorder(self.selected)

    def _reorder(self, keep: Node | None) -> None:
        sort_key = COLUMNS[self.sort_column][2]
        ordered = sorted(self._shown.values(), key=lambda r: (r[0].name.lower(), r[0].host))
        ordered.sort(key=lambda r: sort_key(*r), reverse=self.sort_reverse)  # stable: ties stay by name
        # DataTable.sort() only sees cell values; we order by node, through the
        # same mapping it updates.
        self._row_locations = TwoWayDict({RowKey(r[0].key): i for i, r in enumerate(ordered)})
        self._update_count += 1
        self.refresh()
        self._keep_cursor_on(keep)

    def _keep_cursor_on(self, node: Node | None) -> None:
        """Rows moved or vanished: keep the cursor on the node the user was on."""
        current = self.selected
        if node is not None and node.key in self._shown and (current is None or current.key != node.key):
            self.move_cursor(row=self.get_row_index(node.key), animate=False)
