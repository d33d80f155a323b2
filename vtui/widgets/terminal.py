"""An embedded terminal: shows an Emulator's screen and scrollback, turns keys into the bytes an
xterm sends, and has a keyboard-driven copy mode. It knows nothing of consoles: its owner feeds it
the console's output and sends the console what its Keys messages carry."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from vtui.console.emulator import Emulator, encode_key, row_cells
from vtui.widgets.cell_painter import CellPainter, restyle
from vtui.widgets.copy_mode import CopyMode

FRAME = 1 / 30  # repaints at most this often while output flows
SLICE_SECONDS = 0.003  # emulation between two yields to the event loop, roughly
YIELDS = 4  # at most, in a row while the rest of the app keeps the loop busy
IDLE_YIELD = 0.0003  # a yield shorter than this: the rest of the app had nothing to do
SLICE_BYTES = (1024, 16 * 1024, 256 * 1024)  # smallest, first, largest slice

# Keys that scroll the view through the scrollback (on the main screen), in rows or pages.
SCROLL_ROWS = {"shift+up": -1, "shift+down": 1}
SCROLL_PAGES = {"shift+pageup": -1, "shift+pagedown": 1}
WHEEL_LINES = 3


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
        self._painter = CellPainter(self._base_style)
        self._view_top: int | None = None  # absolute row at the top when scrolled back, else None
        self._copy: CopyMode | None = None
        self._announced: tuple[int, int] | None = None
        self._repaint_timer: Timer | None = None
        self._painted_at = 0.0
        self._slice = SLICE_BYTES[1]
        self._feeding = asyncio.Lock()
        self._cursor_row = 0  # the row the cursor was drawn on
        self.copied_text = ""  # what copy mode copied last
        self._reading_bindings = False

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
            self._copy = CopyMode(top + row, col)
        else:
            self._copy = CopyMode(top + self.rows - 1, 0)
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
        return not self._reading_bindings and key not in self._reserved_keys()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None
        self._painter.clear()
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
            strip = self._painter.cells(cells)
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
                strip = self._strips[y] = self._painter.row(emulator.row(number), emulator.cols)
            return strip
        found = self._history_strips.get(number)
        if found is None:
            if len(self._history_strips) > 4 * self.rows:
                self._history_strips.clear()
            found = self._history_strips[number] = self._painter.row(emulator.row(number), emulator.cols)
        return found

    def _base_style(self) -> Style:
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def _copy_overlay(self, strip: Strip, number: int, copy: CopyMode) -> Strip:
        """Highlight the selected part of a row and the copy cursor."""
        if (span := copy.span(number, self.cols)) is not None:
            strip = restyle(strip, *span, self.get_component_rich_style("terminal--selection"))
        if number == copy.row:
            strip = restyle(strip, copy.col, copy.col + 1, self.get_component_rich_style("terminal--copy-cursor"))
        return strip

    def _indicator(self) -> str:
        parts = []
        if (copy := self._copy) is not None:
            parts.append(copy.label)
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
        """The keys bound with priority on the screen and the containers above (as the app's keymap
        has them), from the screen's active bindings."""
        self._reading_bindings = True  # they ask check_consume_key again: it then takes nothing
        try:
            active = self.screen.active_bindings
        finally:
            self._reading_bindings = False
        return {key for key, bound in active.items()
                if bound.binding.priority and bound.node is not self.app and bound.node is not self}

    # --- copy mode ----------------------------------------------------------------------------

    def _copy_key(self, key: str, character: str | None) -> None:
        copy = self._copy
        assert copy is not None
        done = copy.key(key, character, self._emulator)
        if done == "leave":
            self._leave_copy()
            return
        if done == "copy":
            self._copy_selection(copy)
            return
        top, rows = self._top(), self.rows
        if copy.row < top:
            self._view_top = copy.row
        elif copy.row >= top + rows:
            self._view_top = copy.row - rows + 1
        self.refresh()

    def _copy_selection(self, copy: CopyMode) -> None:
        text = copy.text(self._emulator)
        if text is None:
            self.notify("Nothing selected: v or space starts a selection, V selects lines")
            return
        self.copied_text = text
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text)} characters")
        self._leave_copy()

    def _leave_copy(self) -> None:
        self._copy = None
        self._view_top = None
        self.refresh()

