"""An embedded terminal: shows an Emulator's screen and scrollback, turns keys into the bytes an
xterm sends, and has a keyboard-driven copy mode. It knows nothing of consoles: its owner feeds it
the console's output and sends the console what its Keys messages carry."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import ClassVar

from pyte.screens import Char
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from vtui.console.emulator import BLANK, Emulator, HistoryRow, cell_texts, cells_text, encode_key, row_cells

FRAME = 1 / 30  # repaints at most this often while output flows
SLICE_SECONDS = 0.003  # emulation between two yields to the event loop, roughly
YIELDS = 4  # at most, in a row while the rest of the app keeps the loop busy
IDLE_YIELD = 0.0003  # a yield shorter than this: the rest of the app had nothing to do
SLICE_BYTES = (1024, 16 * 1024, 256 * 1024)  # smallest, first, largest slice

# Keys that scroll the view through the scrollback (on the main screen), in rows or pages.
SCROLL_ROWS = {"shift+up": -1, "shift+down": 1}
SCROLL_PAGES = {"shift+pageup": -1, "shift+pagedown": 1}
WHEEL_LINES = 3

_ANSI = {"black": 0, "red": 1, "green": 2, "brown": 3, "blue": 4, "magenta": 5, "cyan": 6, "white": 7}
_ATTRS = itemgetter(1, 2, 3, 4, 5, 6, 7, 8)  # a cell's attributes: everything but its text
_DATA = attrgetter("data")


def _color(name: str) -> Color | None:
    """A pyte colour: "default", an ANSI name ("red", "brightred"), or hex digits."""
    bright = name.startswith("b") and name != "black" and name != "blue" and name != "brown"
    base = "magenta" if name == "bfightmagenta" else name[6:] if bright else name  # sic, pyte 0.8
    if base in _ANSI:
        return Color.from_ansi(_ANSI[base] + 8 * bright)
    if len(name) == 6:
        try:
            return Color.from_rgb(int(name[0:2], 16), int(name[2:4], 16), int(name[4:6], 16))
        except ValueError:
            return None
    return None


def _cell_style(attrs: tuple[str, str, bool, bool, bool, bool, bool, bool]) -> Style:
    fg, bg, bold, italics, underscore, strikethrough, reverse, blink = attrs
    return Style(
        color=_color(fg), bgcolor=_color(bg), bold=bold or None, italic=italics or None,
        underline=underscore or None, strike=strikethrough or None, reverse=reverse or None, blink=blink or None,
    )  # fmt: skip


@dataclass
class _CopyMode:
    row: int  # the copy cursor, an absolute row (see Emulator) and a column
    col: int
    anchor: tuple[int, int] | None = None  # where the selection started
    lines: bool = False  # a line-wise selection


class Terminal(Widget, can_focus=True):
    """A VT100/xterm terminal over pyte, with scrollback and a copy mode.

    Feed it output with `await feed(data)`; what it posts in `Keys` goes to the console. Every key
    reaches the console except those bound with priority on the screen or a container above it (a
    screen's own keys, e.g. to leave the console); the App's priority keys (ctrl+q, ctrl+p) do.
    """

    DEFAULT_CSS = """
    Terminal { background: $background; color: $foreground; width: 1fr; height: 1fr; }
    Terminal > .terminal--selection { background: $primary; color: $foreground; }
    Terminal > .terminal--copy-cursor { background: $warning; color: $background; }
    Terminal > .terminal--indicator { background: $warning; color: $background; text-style: bold; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"terminal--selection", "terminal--copy-cursor", "terminal--indicator"}

    @dataclass
    class Keys(Message):
        """Bytes for the console: keys typed, text pasted, answers to the queries it printed."""

        terminal: Terminal
        data: bytes

        @property
        def control(self) -> Terminal:
            return self.terminal

    @dataclass
    class Resized(Message):
        """The terminal's size in cells, after mount and on every change: tell the console."""

        terminal: Terminal
        rows: int
        cols: int

        @property
        def control(self) -> Terminal:
            return self.terminal

    def __init__(
        self, *, scrollback: int = 10_000, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._emulator = Emulator(scrollback=scrollback)
        self._strips: list[Strip | None] = []  # screen rows as drawn, without cursor or selection
        self._history_strips: dict[int, Strip] = {}  # scrollback rows by absolute number
        self._base: Style | None = None  # the widget's colours, for cells in default colours
        self._styles: dict[tuple[str, str, bool, bool, bool, bool, bool, bool], Style] = {}
        self._view_top: int | None = None  # absolute row at the top when scrolled back, else None
        self._copy: _CopyMode | None = None
        self._announced: tuple[int, int] | None = None
        self._repaint_timer: Timer | None = None
        self._painted_at = 0.0
        self._slice = SLICE_BYTES[1]
        self._feeding = asyncio.Lock()
        self._cursor_row = 0  # the row the cursor was drawn on
        self.copied_text = ""  # what copy mode copied last

    # --- public API ---------------------------------------------------------------------------

    @property
    def emulator(self) -> Emulator:
        return self._emulator

    @property
    def rows(self) -> int:
        return self._emulator.rows

    @property
    def cols(self) -> int:
        return self._emulator.cols

    @property
    def scrolled_back(self) -> int:
        """How many rows the view is above the live screen (0 when it follows the output)."""
        return self._emulator.screen_top - self._top()

    @property
    def in_copy_mode(self) -> bool:
        return self._copy is not None

    def screen_lines(self) -> list[str]:
        """The live screen's rows as text, each `cols` cells wide."""
        return self._emulator.screen_lines()

    async def feed(self, data: bytes) -> None:
        """Emulate `data` (UTF-8) in slices, yielding to the event loop after each, and return
        once all of it is emulated; repaints follow at most every FRAME seconds."""
        async with self._feeding:  # one feed after the other, in order
            await self._feed(data)

    async def _feed(self, data: bytes) -> None:
        offset = 0
        while offset < len(data):
            piece = data[offset : offset + self._slice]
            offset += len(piece)
            started = time.perf_counter()
            self._emulator.feed(piece)
            elapsed = time.perf_counter() - started
            if elapsed > SLICE_SECONDS and len(piece) == self._slice:
                self._slice = max(SLICE_BYTES[0], self._slice // 2)
            elif elapsed < SLICE_SECONDS / 4 and len(piece) == self._slice:
                self._slice = min(SLICE_BYTES[2], self._slice * 2)
            self._emulated()
            await self._yield()

    async def _yield(self) -> None:
        """Let the rest of the app run: yield again while the others keep the loop busy."""
        for _ in range(YIELDS):
            started = time.perf_counter()
            await asyncio.sleep(0)
            if time.perf_counter() - started < IDLE_YIELD:
                return

    def scroll_lines(self, count: int) -> None:
        """Scroll the view `count` rows down (negative: back into the scrollback)."""
        emulator = self._emulator
        if emulator.alternate:
            return
        top = min(max(self._top() + count, emulator.first_row), emulator.screen_top)
        self._set_view(None if top == emulator.screen_top else top)

    def scroll_to_live(self) -> None:
        self._set_view(None)

    def action_copy_mode(self) -> None:
        """Select text of the screen and scrollback with the keyboard and copy it."""
        if self._copy is not None:
            return
        top = self._top()
        row, col = self._emulator.cursor
        if self._view_top is None:
            self._copy = _CopyMode(top + row, col)
        else:
            self._copy = _CopyMode(top + self.rows - 1, 0)
        self._view_top = top  # the view holds still while output flows
        self.refresh()

    # --- events -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self, event: events.Resize) -> None:
        self._fit()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if self._copy is not None:
            self._copy_key(event.key, event.character)
            return
        emulator = self._emulator
        if not emulator.alternate and (event.key in SCROLL_ROWS or event.key in SCROLL_PAGES):
            self.scroll_lines(SCROLL_ROWS.get(event.key, 0) + SCROLL_PAGES.get(event.key, 0) * self.rows)
            return
        data = encode_key(event.key, event.character, app_cursor=emulator.app_cursor_keys)
        if data:
            self.scroll_to_live()
            self.post_message(self.Keys(self, data))

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        if self._copy is not None or not event.text:
            return
        text = event.text.replace("\r\n", "\r").replace("\n", "\r")
        if self._emulator.bracketed_paste:
            text = "\x1b[200~" + text.replace("\x1b[201~", "") + "\x1b[201~"
        self.scroll_to_live()
        self.post_message(self.Keys(self, text.encode()))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self._wheel(-WHEEL_LINES)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self._wheel(WHEEL_LINES)

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """Take every key but the priority keys of the screen and containers above: those are how
        a screen lets its user leave the console. The App's (ctrl+q, ctrl+p) come here."""
        return key not in self._reserved_keys()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None
        self._styles.clear()
        self._strips = [None] * self.rows
        self._history_strips.clear()

    # --- rendering ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        if self._emulator.damaged:
            self._take_damage()
        emulator, width = self._emulator, self.size.width
        number = self._top() + y
        copy = self._copy
        cursor_row, cursor_col = emulator.cursor
        if copy is None and number == emulator.screen_top + cursor_row and emulator.cursor_visible and self.has_focus:
            cells = row_cells(emulator.row(number), emulator.cols)
            cell = cells[cursor_col]
            cells[cursor_col] = cell._replace(reverse=not cell.reverse)
            strip = self._render_cells(cells)
        else:
            strip = self._row_strip(number)
        if copy is not None:
            strip = self._copy_overlay(strip, number, copy)
        if y == 0 and (label := self._indicator()):
            style = self.get_component_rich_style("terminal--indicator")
            strip = Strip.join([strip.crop(0, max(0, width - len(label))), Strip([Segment(label, style)])])
        return strip.adjust_cell_length(width, self._base_style())

    def _row_strip(self, number: int) -> Strip:
        emulator = self._emulator
        y = number - emulator.screen_top
        if y >= 0:
            if len(self._strips) != emulator.rows:
                self._strips = [None] * emulator.rows
            if y >= emulator.rows:
                return Strip.blank(emulator.cols, self._base_style())
            strip = self._strips[y]
            if strip is None:
                strip = self._strips[y] = self._render_row(emulator.row(number))
            return strip
        found = self._history_strips.get(number)
        if found is None:
            if len(self._history_strips) > 4 * self.rows:
                self._history_strips.clear()
            found = self._history_strips[number] = self._render_row(emulator.row(number))
        return found

    def _render_row(self, row: HistoryRow) -> Strip:
        cols = self._emulator.cols
        if isinstance(row, dict):
            return self._render_cells(row_cells(row, cols))
        styles, base = self._styles, self._base_style()
        segments = []
        width = 0  # spans hold one-cell characters only
        for attrs, text in zip(*(((BLANK,), (row,)) if isinstance(row, str) else row), strict=True):
            if text:
                key = _ATTRS(attrs)
                style = styles.get(key)
                if style is None:
                    style = styles[key] = base + _cell_style(key)
                segments.append(Segment(text, style))
                width += len(text)
        if width < cols:
            segments.append(Segment(" " * (cols - width), base))
        elif width > cols:  # drawn before the screen narrowed
            return Strip(segments, width).crop(0, cols)
        return Strip(segments, cols)

    def _render_cells(self, cells: list[Char]) -> Strip:
        strip = Strip(self._segments(cells))
        if strip.cell_length != len(cells):  # a wide character cut, or half overwritten
            fixed = [cell._replace(data=text) for cell, text in zip(cells, cell_texts(cells), strict=True)]
            strip = Strip(self._segments(fixed)).crop_extend(0, len(cells), None)
        return strip

    def _base_style(self) -> Style:
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def _segments(self, cells: list[Char]) -> list[Segment]:
        styles, base = self._styles, self._base_style()
        segments = []
        for attrs, run in groupby(cells, _ATTRS):
            style = styles.get(attrs)
            if style is None:
                style = styles[attrs] = base + _cell_style(attrs)
            segments.append(Segment("".join(map(_DATA, run)), style))
        return segments

    def _copy_overlay(self, strip: Strip, number: int, copy: _CopyMode) -> Strip:
        """Highlight the selected part of a row and the copy cursor."""
        if (span := self._selected_span(number, copy)) is not None:
            strip = _restyle(strip, *span, self.get_component_rich_style("terminal--selection"))
        if number == copy.row:
            strip = _restyle(strip, copy.col, copy.col + 1, self.get_component_rich_style("terminal--copy-cursor"))
        return strip

    def _indicator(self) -> str:
        parts = []
        if (copy := self._copy) is not None:
            parts.append("COPY" + ("" if copy.anchor is None else " (V)" if copy.lines else " (v)"))
        if back := self.scrolled_back:
            parts.append(f"[+{back} lines]")
        return f" {' '.join(parts)} " if parts else ""

    # --- damage and repaint -------------------------------------------------------------------

    def _emulated(self) -> None:
        """After a slice of output: answer its queries and schedule a repaint."""
        if replies := self._emulator.take_replies():
            self.post_message(self.Keys(self, replies))
        if self._repaint_timer is None and self.is_mounted and self.is_running:
            delay = max(0.001, self._painted_at + FRAME - time.monotonic())  # Textual's timers need > 0
            self._repaint_timer = self.set_timer(delay, self._repaint, name="terminal-repaint")

    def _repaint(self) -> None:
        self._repaint_timer = None
        self._painted_at = time.monotonic()
        changed = self._take_damage()
        cursor_row = self._emulator.cursor[0]
        if changed is None or self._view_top is not None:
            self.refresh()
        else:
            width = self.size.width
            changed |= {cursor_row, self._cursor_row, 0}  # the cursor moved; the indicator's row
            self.refresh(*(Region(0, y, width, 1) for y in changed))
        self._cursor_row = cursor_row

    def _take_damage(self) -> set[int] | None:
        """Drop the strips of rows that changed; returns them, or None if all did (or moved)."""
        scrolled, dirty = self._emulator.take_damage()
        rows = self.rows
        if len(self._strips) != rows or scrolled >= rows:
            self._strips = [None] * rows
            return None
        if scrolled:
            self._strips = self._strips[scrolled:] + [None] * scrolled
        for y in dirty:
            self._strips[y] = None
        return None if scrolled else dirty

    def _fit(self) -> None:
        """Make the emulated screen as large as the widget's content; tell the owner."""
        size = self.content_size
        if size.width < 1 or size.height < 1:
            return
        rows, cols = size.height, size.width
        if (rows, cols) != (self.rows, self.cols):
            self._emulator.resize(rows, cols)
            self._strips = [None] * rows
            self._history_strips.clear()
        if self._announced != (rows, cols):
            self._announced = (rows, cols)
            self.post_message(self.Resized(self, rows, cols))
        self.refresh()

    # --- view ---------------------------------------------------------------------------------

    def _top(self) -> int:
        """The absolute row at the top of the view."""
        emulator = self._emulator
        if self._view_top is None or emulator.alternate:
            return emulator.screen_top
        return min(max(self._view_top, emulator.first_row), emulator.screen_top)

    def _set_view(self, top: int | None) -> None:
        if top != self._view_top:
            self._view_top = top
            self.refresh()

    def _wheel(self, lines: int) -> None:
        if self._copy is not None:
            return
        if not self._emulator.alternate:
            self.scroll_lines(lines)
            return
        key = "up" if lines < 0 else "down"  # full-screen programs scroll with arrows, as in xterm
        data = encode_key(key, None, app_cursor=self._emulator.app_cursor_keys)
        if data:
            self.post_message(self.Keys(self, data * abs(lines)))

    def _reserved_keys(self) -> set[str]:
        keymap = self.app._keymap  # what App.set_keymap() installed; no public getter
        keys: set[str] = set()
        for node in self.ancestors:
            if node is self.app:
                continue
            bindings = node._bindings
            if keymap:
                bindings = bindings.copy()
                bindings.apply_keymap(keymap)
            keys.update(key for key, found in bindings.key_to_bindings.items() if any(b.priority for b in found))
        return keys

    # --- copy mode ----------------------------------------------------------------------------

    def _copy_key(self, key: str, character: str | None) -> None:
        copy, emulator = self._copy, self._emulator
        assert copy is not None
        rows, cols = self.rows, self.cols
        char = character or ""
        moves = {"up": (-1, 0), "k": (-1, 0), "down": (1, 0), "j": (1, 0), "left": (0, -1), "h": (0, -1),
                 "right": (0, 1), "l": (0, 1), "pageup": (-rows, 0), "ctrl+b": (-rows, 0),
                 "pagedown": (rows, 0), "ctrl+f": (rows, 0)}  # fmt: skip
        first = emulator.screen_top if emulator.alternate else emulator.first_row
        last = emulator.screen_top + rows - 1
        if key in ("escape", "q"):
            self._leave_copy()
            return
        if key in moves:
            copy.row += moves[key][0]
            copy.col += moves[key][1]
        elif char == "g":
            copy.row, copy.col = first, 0
        elif char == "G":
            copy.row, copy.col = last, 0
        elif char == "0" or key == "home":
            copy.col = 0
        elif char == "$" or key == "end":
            copy.col = max(0, len(emulator.row_text(copy.row).rstrip()) - 1)
        elif char in ("v", " ", "V"):
            lines = char == "V"
            started = copy.anchor is None or copy.lines != lines
            copy.anchor, copy.lines = ((copy.row, copy.col) if started else None), lines
        elif char == "y" or key == "enter":
            self._copy_selection()
            return
        copy.row = min(max(copy.row, first), last)
        copy.col = min(max(copy.col, 0), cols - 1)
        top = self._top()
        if copy.row < top:
            self._view_top = copy.row
        elif copy.row >= top + rows:
            self._view_top = copy.row - rows + 1
        self.refresh()

    def _copy_selection(self) -> None:
        copy = self._copy
        assert copy is not None
        if copy.anchor is None:
            self.notify("Nothing selected: v or space starts a selection, V selects lines")
            return
        (first_row, first_col), (last_row, last_col) = sorted([copy.anchor, (copy.row, copy.col)])
        lines = []
        for number in range(first_row, last_row + 1):
            cells = row_cells(self._emulator.row(number), self.cols)
            if not copy.lines:
                cells = cells[first_col if number == first_row else 0 : last_col + 1 if number == last_row else None]
            lines.append(cells_text(cells).rstrip())
        text = "\n".join(lines)
        self.copied_text = text
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text)} characters")
        self._leave_copy()

    def _selected_span(self, number: int, copy: _CopyMode) -> tuple[int, int] | None:
        """The columns [start, end) selected in a row, if any."""
        if copy.anchor is None:
            return None
        (first_row, first_col), (last_row, last_col) = sorted([copy.anchor, (copy.row, copy.col)])
        if not first_row <= number <= last_row:
            return None
        if copy.lines:
            return 0, self.cols
        return (first_col if number == first_row else 0), (last_col + 1 if number == last_row else self.cols)

    def _leave_copy(self) -> None:
        self._copy = None
        self._view_top = None
        self.refresh()


def _restyle(strip: Strip, start: int, end: int, style: Style) -> Strip:
    """`strip` with `style` laid over cells [start, end)."""
    end = min(end, strip.cell_length)
    if start >= end:
        return strip
    before, middle, after = strip.divide([start, end, strip.cell_length])
    return Strip.join([before, Strip(Segment.apply_style(middle, post_style=style)), after])
