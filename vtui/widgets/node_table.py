"""The inventory table: rows keyed by node key, each rendered once per change.

A Textual DataTable re-renders every visible cell whenever any cell changes
(its render caches share one generation counter), which at a 1 s refresh of
hundreds of nodes costs more CPU than the sampling itself. This table keeps
one rendered Strip per row and rebuilds only rows whose cells, cursor or
stripe changed; a stats tick or a cursor move costs the rows it touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from vtui.model import Node, State
from vtui.model.format import detail, human_bytes, human_rate, percent
from vtui.model.stats import NodeStats

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
NO_STATS = NodeStats()
GUTTER = 2  # "● " marks a row for bulk actions


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    style: str = ""
    right: bool = False  # numbers align right


Row = tuple[Node, NodeStats]
# column key -> (header, cell, sort key)
Column = tuple[str, Callable[[Node, NodeStats], Cell], Callable[[Node, NodeStats], Any]]


def _text(get: Callable[[Node], str]) -> Callable[[Node, NodeStats], Cell]:
    return lambda n, _s: Cell(get(n))


def _figure(render: Callable[[NodeStats], str]) -> Callable[[Node, NodeStats], Cell]:
    return lambda _n, s: Cell(render(s), right=True)


def _big_first(get: Callable[[Node, NodeStats], float | int | None]) -> Callable[[Node, NodeStats], Any]:
    return lambda n, s: -1 if (v := get(n, s)) is None else v


def _limit(node: Node, stats: NodeStats) -> int | None:
    return stats.mem_limit_bytes or node.memory_bytes


COLUMNS: dict[str, Column] = {
    "name": ("NAME", _text(lambda n: n.name), lambda n, _s: n.name.lower()),
    "kind": ("KIND", _text(lambda n: n.kind), lambda n, _s: n.kind),
    "host": ("HOST", _text(lambda n: n.host), lambda n, _s: n.host),
    "state": ("STATE", lambda n, _s: Cell(n.state, STATE_STYLE[n.state]), lambda n, _s: STATE_ORDER[n.state]),
    "detail": ("DETAIL", _text(detail), lambda n, _s: detail(n)),
    "vcpus": ("VCPU", lambda n, _s: Cell("" if n.vcpus is None else str(n.vcpus), right=True),
              _big_first(lambda n, _s: n.vcpus)),
    "cpu": ("CPU%", _figure(lambda s: percent(s.cpu_percent)), _big_first(lambda _n, s: s.cpu_percent)),
    "mem": ("MEM", _figure(lambda s: human_bytes(s.mem_bytes)), _big_first(lambda _n, s: s.mem_bytes)),
    "limit": ("LIMIT", lambda n, s: Cell(human_bytes(_limit(n, s)), right=True), _big_first(_limit)),
    "disk_read": ("DISK R/s", _figure(lambda s: human_rate(s.disk_read_bps)),
                  _big_first(lambda _n, s: s.disk_read_bps)),
    "disk_write": ("DISK W/s", _figure(lambda s: human_rate(s.disk_write_bps)),
                   _big_first(lambda _n, s: s.disk_write_bps)),
    "net_rx": ("NET RX/s", _figure(lambda s: human_rate(s.net_rx_bps)), _big_first(lambda _n, s: s.net_rx_bps)),
    "net_tx": ("NET TX/s", _figure(lambda s: human_rate(s.net_tx_bps)), _big_first(lambda _n, s: s.net_tx_bps)),
    "image": ("IMAGE", _text(lambda n: n.image), lambda n, _s: n.image),
}
SORTABLE = ("name", "host", "kind", "state", "cpu", "mem", "limit", "disk_read", "disk_write", "net_rx",
            "net_tx", "vcpus")
LARGEST_FIRST = frozenset(SORTABLE[4:])  # like top: figures sort big to small


def cells(node: Node, stats: NodeStats) -> tuple[Cell, ...]:
    return tuple(render(node, stats) for _, render, _ in COLUMNS.values())


@lru_cache(maxsize=64)
def _style(spec: str) -> Style:
    return Style.parse(spec)


class NodeTable(ScrollView, can_focus=True):
    """Shows nodes; `show()` adds, removes and updates rows; only changed rows are re-rendered."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "cursor_down", "Down", show=False, id="cursor-down"),
        Binding("up,k", "cursor_up", "Up", show=False, id="cursor-up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="page-down"),
        Binding("pageup", "page_up", "Page up", show=False, id="page-up"),
        Binding("home,g", "top", "Top", show=False, id="top"),
        Binding("end,G", "bottom", "Bottom", show=False, id="bottom"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "node-table--header", "node-table--cursor", "node-table--even", "node-table--odd"}
    DEFAULT_CSS = """
    NodeTable { background: $surface; }
    NodeTable > .node-table--header { text-style: bold; background: $panel; color: $foreground; }
    NodeTable > .node-table--cursor { background: $block-cursor-blurred-background; }
    NodeTable:focus > .node-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    NodeTable > .node-table--even { background: $surface; }
    NodeTable > .node-table--odd { background: $surface-lighten-1; }
    """

    class Highlighted(Message):
        """The cursor is on another node (or none)."""

        def __init__(self, node: Node | None) -> None:
            super().__init__()
            self.node = node

    class HeaderClicked(Message):
        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rows: dict[str, Row] = {}
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._strips: dict[str, tuple[tuple[object, ...], Strip]] = {}  # key -> (look, strip)
        self.marked: set[str] = set()  # keys marked with space, for bulk actions
        self.busy: dict[str, str] = {}  # key -> the action under way
        self._header: tuple[tuple[int, int], Strip] | None = None
        self._widths = [cell_len(header) for header, _, _ in COLUMNS.values()]
        self._cursor = 0
        self._highlighted: str | None = None
        self.sort_column = "name"
        self.sort_reverse = False
        self.group_by_host = False  # rows of one host together, sorted within it

    # --- what the rest of the UI uses -------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def selected(self) -> Node | None:
        return self._rows[self._order[self._cursor]][0] if self._order else None

    def marked_nodes(self) -> list[Node]:
        return [self._rows[key][0] for key in self._order if key in self.marked]

    def toggle_mark(self) -> None:
        """Mark or unmark the selected node and move on, as in a file manager."""
        if node := self.selected:
            self.marked ^= {node.key}
            self._move_to(self._cursor + 1)
            self.refresh()

    def clear_marks(self) -> None:
        self.marked.clear()
        self.refresh()

    def set_busy(self, key: str, action: str | None) -> None:
        if action is None:
            self.busy.pop(key, None)
        else:
            self.busy[key] = action
        self.refresh()

    def ordered_nodes(self) -> list[Node]:
        return [self._rows[key][0] for key in self._order]

    def cell_text(self, index: int, column: str) -> str:
        return self._cells[self._order[index]][list(COLUMNS).index(column)].text

    def show(self, nodes: Iterable[Node], stats: Mapping[str, NodeStats]) -> None:
        """Make the rows exactly `nodes` with their figures."""
        wanted = {n.key: (n, stats.get(n.key, NO_STATS)) for n in nodes}
        keep = self.selected
        reorder = len(wanted) != len(self._rows) or any(k not in wanted for k in self._rows)
        sort_key = COLUMNS[self.sort_column][2]
        widened = False
        for key in [k for k in self._rows if k not in wanted]:
            del self._rows[key], self._cells[key]
            self._strips.pop(key, None)
            self.marked.discard(key)
        for key, row in wanted.items():
            old = self._rows.get(key)
            if old is not None and ((old[0] is row[0] and old[1] is row[1]) or old == row):
                continue  # the hub reuses unchanged objects: identity settles most rows
            new_cells = cells(*row)
            if old is None or sort_key(*old) != sort_key(*row) or old[0].name != row[0].name:
                reorder = True
            if self._cells.get(key) != new_cells:
                self._strips.pop(key, None)
                widened = self._fit(new_cells) or widened
            self._rows[key], self._cells[key] = row, new_cells
        if widened:
            self._strips.clear()
            self._header = None
        if reorder:
            self._reorder(keep)
        self._resize()
        self.refresh()

    def sort_by(self, column: str, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._reorder(self.selected)
        self.refresh()

    def group_hosts(self, on: bool) -> None:
        self.group_by_host = on
        self._reorder(self.selected)
        self.refresh()

    # --- layout and ordering ----------------------------------------------------

    def _fit(self, row_cells: tuple[Cell, ...]) -> bool:
        """Grow columns to fit; they never shrink, so figures do not make the table jitter."""
        grew = False
        for i, cell in enumerate(row_cells):
            if (width := cell_len(cell.text)) > self._widths[i]:
                self._widths[i] = width
                grew = True
        return grew

    def _resize(self) -> None:
        width = GUTTER + sum(w + 2 for w in self._widths)
        if self.virtual_size != Size(width, len(self._order) + 1):
            self.virtual_size = Size(width, len(self._order) + 1)  # + the header line

    def _reorder(self, keep: Node | None) -> None:
        sort_key = COLUMNS[self.sort_column][2]
        rows = sorted(self._rows.items(), key=lambda kv: (kv[1][0].name.lower(), kv[1][0].host))
        rows.sort(key=lambda kv: sort_key(*kv[1]), reverse=self.sort_reverse)  # stable: ties by name
        if self.group_by_host:
            rows.sort(key=lambda kv: (kv[1][0].host, kv[1][0].lab))  # stable: a host's labs together, sorted within
        self._order = [key for key, _ in rows]
        self._index = {key: i for i, key in enumerate(self._order)}
        if keep is not None and keep.key in self._index:
            self._move_to(self._index[keep.key])
        else:
            self._move_to(min(self._cursor, max(0, len(self._order) - 1)))

    # --- cursor -----------------------------------------------------------------

    def _move_to(self, index: int) -> None:
        self._cursor = max(0, min(index, len(self._order) - 1)) if self._order else 0
        visible = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False)
        self.refresh()
        key = self._order[self._cursor] if self._order else None
        if key != self._highlighted:
            self._highlighted = key
            self.post_message(self.Highlighted(self.selected))

    def action_cursor_down(self) -> None:
        self._move_to(self._cursor + 1)

    def action_cursor_up(self) -> None:
        self._move_to(self._cursor - 1)

    def action_page_down(self) -> None:
        self._move_to(self._cursor + max(1, self.scrollable_content_region.height - 2))

    def action_page_up(self) -> None:
        self._move_to(self._cursor - max(1, self.scrollable_content_region.height - 2))

    def action_top(self) -> None:
        self._move_to(0)

    def action_bottom(self) -> None:
        self._move_to(len(self._order) - 1)

    def on_click(self, event: events.Click) -> None:
        x = event.x + round(self.scroll_x)
        if event.y == 0:
            edge = GUTTER
            for column, width in zip(COLUMNS, self._widths, strict=True):
                edge += width + 2
                if x < edge:
                    self.post_message(self.HeaderClicked(column))
                    return
        elif (index := round(self.scroll_y) + event.y - 1) < len(self._order):
            self._move_to(index)

    def on_focus(self) -> None:
        self._restyle()

    def on_blur(self) -> None:
        self._restyle()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restyle()

    def _restyle(self) -> None:
        self._strips.clear()
        self._header = None
        self.refresh()

    # --- rendering --------------------------------------------------------------

    def _line(self, row_cells: Iterable[Cell], base: Style, mark: str = " ") -> Strip:
        segments = [Segment(f"{mark} ", base + _style("bold magenta") if mark.strip() else base)]
        for cell, width in zip(row_cells, self._widths, strict=True):
            content = cell.text if cell_len(cell.text) <= width else set_cell_size(cell.text, width)  # an overlay
            pad = " " * (width - cell_len(content))
            text = f" {pad}{content} " if cell.right else f" {content}{pad} "
            segments.append(Segment(text, base + _style(cell.style) if cell.style else base))
        return Strip(segments)

    def _row_strip(self, index: int, scroll_x: int, width: int) -> Strip:
        """The row as shown: built when its cells, cursor, stripe or the view changed."""
        key = self._order[index]
        marked, busy = key in self.marked, self.busy.get(key)
        look = (index == self._cursor, index % 2 == 1, marked, busy, scroll_x, width)
        cached = self._strips.get(key)
        if cached and cached[0] == look:
            return cached[1]
        part = "node-table--cursor" if look[0] else ("node-table--odd" if look[1] else "node-table--even")
        row_cells = self._cells[key]
        if busy:
            row_cells = tuple(Cell(f"{busy}…", "italic") if c == "detail" else cell
                              for c, cell in zip(COLUMNS, row_cells, strict=True))
        strip = self._line(row_cells, self.get_component_rich_style(part), "●" if marked else " ")
        strip = strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)
        self._strips[key] = (look, strip)
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        if y == 0:
            if self._header is None or self._header[0] != (scroll_x, width):
                header = [Cell(h, right=c in LARGEST_FIRST) for c, (h, _, _) in COLUMNS.items()]
                strip = self._line(header, self.get_component_rich_style("node-table--header"))
                self._header = ((scroll_x, width), strip.crop_extend(scroll_x, scroll_x + width, self.rich_style))
            return self._header[1]
        if (index := scroll_y + y - 1) < len(self._order):
            return self._row_strip(index, scroll_x, width)
        return Strip.blank(width, self.rich_style)
