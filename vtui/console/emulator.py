"""VT100/xterm emulation on top of pyte, plus what pyte lacks: scrollback, the alternate screen,
query answers, the bytes an xterm sends for a key, and speed.

pyte's Screen holds the state and implements the sequences. Speed comes from exact shortcuts (a
test compares them with plain pyte): complete CSI sequences are parsed by one regex rather than by
pyte's per-character parser (which still takes everything else); runs of one-cell characters are
drawn from memoized cells; and a run of lines of such text, tabs and SGR sequences, each ending in
CR LF, is laid out at once: the rows that scroll off go to the scrollback, and those that stay are
kept pending, as runs of text and attributes, until something needs pyte's cells (settle()).
"""

from __future__ import annotations

import codecs
import contextlib
import re
import unicodedata
from bisect import bisect_right
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from functools import lru_cache
from itertools import chain, repeat
from typing import Any, cast

import pyte
from pyte import charsets
from pyte import modes as mo
from pyte.screens import Char, Margins, StaticDefaultDict, wcwidth
from pyte.streams import Stream

Row = StaticDefaultDict[int, Char]
# A row a flood drew: runs of text, the attributes of each and the text of each (the former often
# shared between rows: few objects for the garbage collector to visit).
Spans = tuple[tuple[Char, ...], tuple[str, ...]]
# A scrolled-off row: pyte's row, or from a flood the spans of a row, or the text of a plain one.
HistoryRow = Row | Spans | str

BLANK = Char(" ")
DECCKM = 1 << 5  # application cursor keys (pyte shifts private modes by 5)
BRACKETED_PASTE = 2004 << 5
_ALT_SCREEN = {47, 1047, 1049}


def _narrow_class() -> str:
    """A regex class of the characters (below U+3000) that take one cell."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x20, 0x3000):
        if wcwidth(chr(code)) == 1 and not unicodedata.combining(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "[" + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges) + "]"


# What pyte draws as text; complete CSI sequences; one-cell characters; runs of lines of those,
# tabs, SGR and EL sequences, each ending in CR LF.
_TEXT = Stream._text_pattern
_CSI = re.compile(r"\x1b\[(\??)([0-9;]*)([@-~])")
_NARROW = _narrow_class()
_NARROW_RUN = re.compile(_NARROW + "+")
_BLOCK = re.compile(rf"(?:(?:[\t{_NARROW[1:]}++|\x1b\[(?:[0-9;]*+m|0?K))*+\r\n)+")
_PARTIAL_CSI = re.compile(r"\x1b(?:\[\??[0-9;]{0,32})?\Z")
_SEQUENCE = re.compile(r"\x1b\[([0-9;]*m|0?K)")  # SGR, or erase to the end of the line (EL)
_CURSOR_ONLY = set("mABCDEFGHfdea`rncg")  # CSI finals that leave the screen's cells alone
_ROW_ONLY = set("KX@P")  # CSI finals that change the cursor's row only
# What pyte's handlers raise on sequences they do not expect (e.g. `CSI ? 5 A`, `CSI 5 K`).
_PYTE_ERRORS = (TypeError, ValueError, LookupError, NameError, ArithmeticError)
_MEMO_LIMIT = 4096


class _Glyphs(dict[str, Char]):
    """The cell for each character drawn with one set of attributes."""

    def __init__(self, attrs: Char) -> None:
        super().__init__()
        self.attrs = attrs

    def __missing__(self, char: str) -> Char:
        cell = self[char] = self.attrs._replace(data=char)
        return cell


@lru_cache(maxsize=_MEMO_LIMIT)
def _params(params: str) -> tuple[int, ...]:
    """CSI parameters as pyte's parser reads them."""
    return tuple(min(int(p or 0), 9999) for p in params.split(";"))


def row_cells(row: HistoryRow, width: int) -> list[Char]:
    """The first `width` cells of a row."""
    if isinstance(row, dict):
        return list(map(row.__getitem__, range(width)))
    if isinstance(row, str):
        row = ((BLANK,), (row,))
    cells = [attrs._replace(data=char) for attrs, text in zip(*row, strict=True) for char in text][:width]
    return cells + [BLANK] * (width - len(cells))


def cell_texts(cells: list[Char]) -> list[str]:
    """What each cell shows: the second cell of a wide character shows nothing, and one whose
    character was overwritten (pyte leaves it empty) a space."""
    texts, wide = [], False
    for cell in cells:
        texts.append(cell.data or ("" if wide else " "))
        wide = bool(cell.data) and wcwidth(cell.data[0]) == 2
    return texts


def cells_text(cells: list[Char]) -> str:
    texts = [cell.data for cell in cells]
    return "".join(texts if "" not in texts else cell_texts(cells))


def _row(runs: list[Char], texts: list[str], width: int, tail: Char | None, columns: int) -> Spans:
    """A row's spans; an EL's attributes on the cells past the text."""
    if tail is not None and width < columns:
        runs.append(tail)
        texts.append(" " * (columns - width))
    return tuple(runs), tuple(texts)


class VtScreen(pyte.Screen):
    """pyte's screen with scrollback, the alternate screen, damage tracking and fast paths."""

    def __init__(self, columns: int, lines: int, scrollback: int) -> None:
        self.history: deque[HistoryRow] = deque(maxlen=scrollback)
        self.pushed = 0  # rows ever added to the history: the absolute number of screen row 0
        self.scrolled = 0  # full-screen scrolls since take_damage(); `dirty` is in current rows
        self.alternate = False
        # Screen rows a flood drew, kept as spans until something other than scrolling touches
        # them (settle()); such a row is absent from `buffer`.
        self.pending: dict[int, Spans | str] = {}
        self._main: dict[int, Row] | None = None  # the main buffer while the alternate one shows
        self.replies: list[str] = []
        self._glyphs: dict[Char, _Glyphs] = {}
        self._sgr: dict[tuple[Char, tuple[int, ...], bool], Char] = {}
        self._line_sgr: dict[tuple[Any, ...], tuple[tuple[Char, ...], tuple[Char, ...] | None]] = {}
        super().__init__(columns, lines)

    # --- helpers ------------------------------------------------------------------------------

    def glyphs(self, attrs: Char) -> _Glyphs:
        found = self._glyphs.get(attrs)
        if found is None:
            if len(self._glyphs) > _MEMO_LIMIT:
                self._glyphs.clear()
            found = self._glyphs[attrs] = _Glyphs(attrs)
        return found

    def _new_buffer(self) -> dict[int, Row]:
        return defaultdict(lambda: StaticDefaultDict[int, Char](self.default_char))

    def _record(self, rows: Iterable[HistoryRow], count: int) -> None:
        """`count` rows scrolled off the top of the main screen; `rows` are the last of them, the
        ones the scrollback keeps."""
        if not self.alternate:
            self.history.extend(rows)
            self.pushed += count

    def settle(self) -> None:
        """Turn the pending rows into pyte's rows, before pyte reads or changes them."""
        for y in list(self.pending):
            self.settle_row(y)

    def settle_row(self, y: int) -> None:
        spans = self.pending.pop(y, None)
        if spans is not None:
            self.buffer[y] = self._paint(StaticDefaultDict[int, Char](self.default_char), spans)

    def _paint(self, row: Row, spans: Spans | str) -> Row:
        if isinstance(spans, str):
            spans = ((BLANK,), (spans,))
        x = 0
        for attrs, text in zip(*spans, strict=True):
            row.update(zip(range(x, x + len(text)), map(self.glyphs(attrs).__getitem__, text), strict=True))
            x += len(text)
        return row

    def _used(self, y: int) -> bool:
        """Whether screen row `y` holds anything."""
        return y in self.pending or bool(self.buffer.get(y))

    def _mark_scrolled(self, count: int) -> None:
        self.scrolled += count
        if self.scrolled < self.lines:
            self.dirty = {y - count for y in self.dirty if y >= count}
        elif self.dirty:
            self.dirty = set()  # every row changed anyway

    def _full_region(self) -> bool:
        return self.margins is None or self.margins == (0, self.lines - 1)

    def plain_lines_ok(self) -> bool:
        """Whether draw_lines() may stand for drawing lines one by one (with _draw_narrow())."""
        return (
            self.cursor.x == 0
            and self._full_region()
            and mo.DECAWM in self.mode
            and mo.IRM not in self.mode
            and self.charset == 0
            and self.g0_charset is charsets.LAT1_MAP
        )

    # --- drawing ------------------------------------------------------------------------------

    def draw(self, data: str) -> None:
        if not self.plain_draw_ok():
            self.settle()
            super().draw(data)
        elif data.isascii() and data.isprintable():
            self._draw_narrow(data)
        else:
            pos, size = 0, len(data)
            while pos < size:
                if match := _NARROW_RUN.match(data, pos):
                    pos = match.end()
                    self._draw_narrow(match.group())
                    continue
                char = data[pos]
                pos += 1
                width = wcwidth(char)
                if width == 2:
                    self._draw_wide(char)
                    continue
                self.settle()
                super().draw(char)
                if width < 0 or (width == 0 and not unicodedata.combining(char)):
                    break  # pyte drops the rest of a run after such a character

    def _draw_wide(self, char: str) -> None:
        """Draw a character two cells wide, as pyte's draw() would."""
        cursor, columns = self.cursor, self.columns
        if cursor.x == columns:  # the pending wrap of a full row
            self.dirty.add(cursor.y)
            self.carriage_return()
            self.linefeed()
        self.settle_row(cursor.y)
        line, glyphs = self.buffer[cursor.y], self.glyphs(cursor.attrs)
        line[cursor.x] = glyphs[char]
        if cursor.x + 1 < columns:
            line[cursor.x + 1] = glyphs[""]  # the second cell
        cursor.x = min(cursor.x + 2, columns)
        self.dirty.add(cursor.y)

    def _draw_narrow(self, data: str) -> None:
        """Draw characters one cell wide, as pyte's draw() would."""
        cursor, columns = self.cursor, self.columns
        get = self.glyphs(cursor.attrs).__getitem__
        x, pos, end = cursor.x, 0, len(data)
        self.settle_row(cursor.y)
        line = self.buffer[cursor.y]
        while pos < end:
            if x >= columns:  # the pending wrap of a full row
                self.dirty.add(cursor.y)
                self.carriage_return()
                self.linefeed()
                self.settle_row(cursor.y)
                x, line = 0, self.buffer[cursor.y]
            count = min(columns - x, end - pos)
            line.update(zip(range(x, x + count), map(get, data[pos : pos + count]), strict=True))
            x += count
            pos += count
        cursor.x = x
        self.dirty.add(cursor.y)

    def plain_draw_ok(self) -> bool:
        return (
            mo.DECAWM in self.mode
            and mo.IRM not in self.mode
            and self.charset == 0
            and self.g0_charset is charsets.LAT1_MAP
        )

    def draw_lines(self, lines: list[str], *, styled: bool = False, tabs: bool = False) -> bool:
        """Draw lines each followed by CR LF, as pyte would, when plain_lines_ok(): the lines are
        one-cell characters, with SGR sequences if `styled` and tabs if `tabs`. Rows that stay on
        screen are left pending, as spans. False (and nothing done) for what this cannot do."""
        columns, height, bottom = self.columns, self.lines, self.lines - 1
        attrs, default = self.cursor.attrs, self.default_char
        rows: list[Spans] | list[str]
        tabbed: set[int] = set()  # rows where a tab skipped cells
        if styled or tabs:
            if (laid := self._layout(lines)) is None:
                return False
            rows, tabbed, attrs = laid
        else:
            if max(map(len, lines)) > columns:  # wrapped lines take several rows
                lines = [line[i : i + columns] for line in lines for i in range(0, len(line) or 1, columns)]
            rows = lines
            if attrs != BLANK:
                one: tuple[Char, ...] = (attrs,)
                rows = [(one, cast(tuple[str, ...], (line,))) for line in lines]
        start = self.cursor.y
        buffer, pending = self.buffer, self.pending
        drawn_over = range(start, min(start + len(rows), height))  # rows already on the screen
        if tabbed and (default != BLANK or any(y - start in tabbed and self._used(y) for y in drawn_over)):
            return False  # a tab would leave their cells alone; spans would blank them
        self.cursor.attrs = attrs
        end = start + len(rows)  # the cursor's row afterwards, counting rows that scroll off
        gone = max(0, end - bottom)
        for y in drawn_over:
            self.settle_row(y)
            self._paint(buffer[y], rows[y - start])
        if gone:
            # Virtual row v is screen row v while v < height, else block row v - start.
            first = max(0, gone - (self.history.maxlen or 0))
            scrolled = rows[max(first, height) - start : gone - start] if gone > height else []
            kept: Iterable[HistoryRow] = scrolled
            if default != BLANK:  # spans assume the default blank
                kept = [self._paint(StaticDefaultDict[int, Char](default), row) for row in scrolled]
            self._record(
                chain([pending[v] if v in pending else buffer[v] for v in range(first, min(gone, height))], kept),
                gone,
            )
            old_buffer, old_pending = dict(buffer), pending
            buffer.clear()
            self.pending = pending = {}
            for y, v in enumerate(range(gone, min(end, gone + height))):
                if v >= height:
                    pending[y] = rows[v - start]
                elif v in old_pending:
                    pending[y] = old_pending[v]
                elif v in old_buffer:
                    buffer[y] = old_buffer[v]
            if default != BLANK:
                self.settle()
            self._mark_scrolled(gone)
        self.dirty.update(range(max(0, start - gone), height))
        self.cursor.x = 0
        self.cursor.y = min(end, bottom)
        return True

    def _layout(self, lines: list[str]) -> tuple[list[Spans], set[int], Char] | None:
        """The rows lines with SGR and EL sequences and tabs take, the rows where tabs skipped cells,
        and the attributes the lines leave; None where a tab would go back (after a full row)."""
        columns, attrs = self.columns, self.cursor.attrs
        stops = sorted(self.tabstops)
        rows: list[Spans] = []
        tabbed: set[int] = set()
        runs: tuple[Char, ...] = (attrs,)
        erased: tuple[Char, ...] | None = None
        for line in lines:
            sequences: list[str] = []
            if "\x1b" in line:
                parts = _SEQUENCE.split(line)
                sequences = parts[1::2]
                runs, erased = self._runs(attrs, sequences)
                attrs = runs[-1]
                del parts[1::2]
            else:
                parts, erased = [line], None
                if runs != (attrs,):
                    runs = (attrs,)
            tab = "\t" in line
            if not tab and (width := sum(map(len, parts))) <= columns:
                if erased is None or width == columns:
                    rows.append((runs, tuple(parts)))
                else:  # an EL left its attributes past the text
                    rows.append((erased, (*parts, " " * (columns - width))))
                continue
            if tab:
                tabbed.add(len(rows))
            row_runs: list[Char] = []
            texts: list[str] = []
            x = 0
            tail: Char | None = None  # the attributes an EL left on the rest of the row
            for k, (run_attrs, part) in enumerate(zip(runs, parts, strict=True)):
                if k and sequences[k - 1][-1] == "K" and x < columns:
                    tail = run_attrs
                for i, text in enumerate(part.split("\t") if tab else (part,)):
                    if i:  # a tab: to the next stop, or the last column
                        at = bisect_right(stops, x)
                        stop = stops[at] if at < len(stops) else columns - 1
                        if not x <= stop < columns:
                            return None
                        row_runs.append(BLANK if tail is None else tail)
                        texts.append(" " * (stop - x))
                        x = stop
                    while text:
                        if x == columns:  # the next character wraps
                            rows.append(_row(row_runs, texts, x, tail, columns))
                            row_runs, texts, x, tail = [], [], 0, None
                            if tab:
                                tabbed.add(len(rows))
                        piece = text[: columns - x]
                        row_runs.append(run_attrs)
                        texts.append(piece)
                        x += len(piece)
                        text = text[len(piece) :]
            rows.append(_row(row_runs, texts, x, tail, columns))
        return rows, tabbed, attrs

    def _runs(self, attrs: Char, sequences: list[str]) -> tuple[tuple[Char, ...], tuple[Char, ...] | None]:
        """The attributes of the text before and after each sequence ("1;31m" or "K"); if there is
        an EL, the same followed by the attributes of the last (for a row's cells past its text)."""
        key = (attrs, mo.DECSCNM in self.mode, *sequences)
        found = self._line_sgr.get(key)
        if found is None:
            runs, erase = [attrs], None
            for sequence in sequences:
                last = runs[-1]
                if sequence[-1] == "K":
                    runs.append(erase := last)
                else:
                    runs.append(self.attrs_after(last, _params(sequence[:-1])))
            if len(self._line_sgr) > _MEMO_LIMIT:
                self._line_sgr.clear()
            found = self._line_sgr[key] = tuple(runs), None if erase is None else (*runs, erase)
        return found

    # --- scrolling ----------------------------------------------------------------------------

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y != bottom:
            self.cursor_down()
            return
        if self.pending and (top, bottom) != (0, self.lines - 1):
            self.settle()
        buffer, pending = self.buffer, self.pending
        gone: HistoryRow | None = pending.pop(top, None) if pending else None
        gone = buffer.pop(top, gone)
        if pending:
            self.pending = {y - 1: row for y, row in pending.items()}
        if top == 0:
            self._record((gone if gone is not None else StaticDefaultDict[int, Char](self.default_char),), 1)
        if (top, bottom) == (0, self.lines - 1):
            rows = {y - 1: row for y, row in buffer.items()}
            buffer.clear()
            buffer.update(rows)
        else:
            for y in range(top + 1, bottom + 1):
                if (row := buffer.pop(y, None)) is not None:
                    buffer[y - 1] = row
        if top == 0 and bottom == self.lines - 1:
            self._mark_scrolled(1)
            self.dirty.add(bottom)
        else:
            self.dirty.update(range(self.lines))

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        cursor = self.cursor
        if how == 0:
            cells = range(cursor.x, self.columns)
        elif how == 1:
            cells = range(cursor.x + 1)
        elif how == 2:
            cells = range(self.columns)
        else:
            super().erase_in_line(how, private)  # fails as pyte does
            return
        self.dirty.add(cursor.y)
        self.buffer[cursor.y].update(zip(cells, repeat(cursor.attrs)))

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        if how == 0:
            rows = range(self.cursor.y + 1, self.lines)
        elif how == 1:
            rows = range(self.cursor.y)
        elif how in (2, 3):
            rows = range(self.lines)
        else:
            super().erase_in_display(how, *args, **kwargs)  # fails as pyte does
            return
        self.dirty.update(rows)
        for y in rows:  # as pyte: the cells a row holds take the cursor's attributes
            line = self.buffer[y]
            line.update(dict.fromkeys(line, self.cursor.attrs))
        if how in (0, 1):
            self.erase_in_line(how)
        if how == 3:  # xterm: also clear the scrollback
            self.history.clear()

    def select_graphic_rendition(self, *attrs: int) -> None:
        self.cursor.attrs = self.attrs_after(self.cursor.attrs, attrs)

    def attrs_after(self, attrs: Char, params: tuple[int, ...]) -> Char:
        """The attributes an SGR sequence makes of `attrs`, memoized."""
        key = (attrs, params, mo.DECSCNM in self.mode)
        found = self._sgr.get(key)
        if found is None:
            saved, self.cursor.attrs = self.cursor.attrs, attrs
            super().select_graphic_rendition(*params)
            found, self.cursor.attrs = self.cursor.attrs, saved
            if len(self._sgr) > _MEMO_LIMIT:
                self._sgr.clear()
            self._sgr[key] = found
        return found

    # --- modes: the alternate screen ----------------------------------------------------------

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        self.settle()
        if kwargs.get("private"):
            for mode in modes:
                if mode == 1049 or mode == 1048:
                    self.save_cursor()
                if mode in _ALT_SCREEN and not self.alternate:
                    self._main, self.buffer, self.alternate = self.buffer, self._new_buffer(), True
                    self.dirty.update(range(self.lines))
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        self.settle()
        if kwargs.get("private"):
            for mode in modes:
                if mode in _ALT_SCREEN and self._main is not None:
                    self.buffer, self._main, self.alternate = self._main, None, False
                    self.dirty.update(range(self.lines))
                if mode == 1049 or mode == 1048:
                    self.restore_cursor()
        super().reset_mode(*modes, **kwargs)

    def reset(self) -> None:
        self.pending.clear()
        if self._main is not None:  # RIS returns to the main screen
            self.buffer, self._main, self.alternate = self._main, None, False
        super().reset()

    # --- resize -------------------------------------------------------------------------------

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        """Unlike pyte, which drops rows from the top whatever the cursor's row, keep the cursor's
        row on screen: rows above it scroll off into the scrollback and rows below are dropped."""
        lines, columns = lines or self.lines, columns or self.columns
        if (lines, columns) == (self.lines, self.columns):
            return
        self.settle()
        if lines < self.lines:
            self.cursor.y -= self._fit(self.buffer, lines, self.cursor.y, record=not self.alternate)
            if self._main is not None:
                saved = self.savepoints[-1].cursor if self.savepoints else None
                saved_y = saved.y if saved else 0
                drop = self._fit(self._main, lines, saved_y, record=True)
                if saved:
                    saved.y -= drop
        if columns < self.columns:
            for buffer in (self.buffer, self._main or {}):
                for row in buffer.values():
                    for x in [x for x in row if x >= columns]:
                        del row[x]
        if columns > self.columns and self.tabstops == set(range(8, self.columns, 8)):
            self.tabstops = set(range(8, columns, 8))
        self.tabstops = {stop for stop in self.tabstops if stop < columns}
        self.lines, self.columns = lines, columns
        self.cursor.x = min(self.cursor.x, columns - 1)
        self.cursor.y = min(self.cursor.y, lines - 1)
        self.set_margins()
        self.dirty.update(range(lines))

    def _fit(self, buffer: dict[int, Row], lines: int, cursor_y: int, *, record: bool) -> int:
        """Shrink `buffer` to `lines` rows keeping row `cursor_y`; returns the rows dropped on top."""
        drop = max(0, cursor_y - (lines - 1))
        rows = [buffer.pop(y, None) for y in range(self.lines)]
        if drop and record:
            self.history.extend(row if row is not None else "" for row in rows[:drop])
            self.pushed += drop
        buffer.update((y, row) for y, row in enumerate(rows[drop : drop + lines]) if row is not None)
        return drop

    # --- answers to queries -------------------------------------------------------------------

    def write_process_input(self, data: str) -> None:
        self.replies.append(data)


class Emulator:
    """A terminal: bytes in, screen and scrollback out."""

    def __init__(self, rows: int = 24, cols: int = 80, *, scrollback: int = 10_000) -> None:
        self.screen = VtScreen(cols, rows, scrollback)
        self._stream = Stream(self.screen)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._carry = ""  # a CSI sequence cut by the end of a feed
        self._csi: dict[str, Callable[..., None]] = {
            final: getattr(self.screen, name) for final, name in Stream.csi.items()
        }

    # --- state --------------------------------------------------------------------------------

    @property
    def rows(self) -> int:
        return self.screen.lines

    @property
    def cols(self) -> int:
        return self.screen.columns

    @property
    def cursor(self) -> tuple[int, int]:
        """(row, column), the column clamped to the screen (pyte lets it sit past a full row)."""
        return self.screen.cursor.y, min(self.screen.cursor.x, self.cols - 1)

    @property
    def cursor_visible(self) -> bool:
        return mo.DECTCEM in self.screen.mode

    @property
    def app_cursor_keys(self) -> bool:
        return DECCKM in self.screen.mode

    @property
    def bracketed_paste(self) -> bool:
        return BRACKETED_PASTE in self.screen.mode

    @property
    def alternate(self) -> bool:
        return self.screen.alternate

    @property
    def title(self) -> str:
        return self.screen.title

    def screen_lines(self) -> list[str]:
        return [self.row_text(self.screen_top + y) for y in range(self.rows)]

    # Absolute row numbers: history rows first, then the screen's; a row keeps its number as it
    # scrolls off, so a view or a selection stays on its text while output flows.

    @property
    def first_row(self) -> int:
        """The absolute number of the oldest scrollback row."""
        return self.screen.pushed - len(self.screen.history)

    @property
    def screen_top(self) -> int:
        """The absolute number of screen row 0."""
        return self.screen.pushed

    def row(self, number: int) -> HistoryRow:
        """A row by absolute number; blank beyond the scrollback and the screen."""
        screen = self.screen
        if number >= screen.pushed:
            y = number - screen.pushed
            if y >= screen.lines:
                return ""
            return screen.pending[y] if y in screen.pending else screen.buffer[y]
        return screen.history[number - self.first_row] if number >= self.first_row else ""

    def row_text(self, number: int) -> str:
        return cells_text(row_cells(self.row(number), self.cols))

    def settle(self) -> None:
        """Complete pyte's `screen.buffer` (rows a flood drew are kept as spans until needed)."""
        self.screen.settle()

    def take_damage(self) -> tuple[int, set[int]]:
        """(full-screen scrolls, changed screen rows) since the last call."""
        screen = self.screen
        damage = screen.scrolled, {y for y in screen.dirty if y < screen.lines}
        screen.scrolled, screen.dirty = 0, set()
        return damage

    @property
    def damaged(self) -> bool:
        return bool(self.screen.scrolled or self.screen.dirty)

    def take_replies(self) -> bytes:
        """Answers to the queries fed (cursor position, device attributes), for the console."""
        replies = "".join(self.screen.replies).encode()
        self.screen.replies.clear()
        return replies

    def resize(self, rows: int, cols: int) -> None:
        self.screen.resize(max(1, rows), max(1, cols))

    # --- input --------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Emulate UTF-8 `data`; a character split across calls is completed by the next one."""
        self.feed_text(self._decoder.decode(data))

    def feed_text(self, text: str) -> None:
        if self._carry:
            text, self._carry = self._carry + text, ""
        screen, stream = self.screen, self._stream
        text_match, csi_match, block_match = _TEXT.match, _CSI.match, _BLOCK.match
        draw, linefeed = screen.draw, screen.linefeed
        pos, size = 0, len(text)
        slow_until = 0  # where draw_lines() gave up on a run of lines
        while pos < size:
            if not stream._taking_plain_text:  # pyte is inside a sequence it parses itself
                pos = self._feed_pyte(text, pos)
                continue
            match = text_match(text, pos)
            if match is not None:
                pos = match.end()
                draw(match.group())
                continue
            char = text[pos]
            if char == "\n" or char == "\r":
                pos += 1
                if char == "\r":
                    screen.cursor.x = 0
                    if not text.startswith("\n", pos):
                        continue
                    pos += 1
                linefeed()
                if (
                    pos >= slow_until
                    and screen.cursor.x == 0
                    and (block := block_match(text, pos))
                    and screen.plain_lines_ok()
                ):
                    lines = text[pos : block.end() - 2]
                    if screen.draw_lines(lines.split("\r\n"), styled="\x1b" in lines, tabs="\t" in lines):
                        pos = block.end()
                    else:
                        slow_until = block.end()
            elif char == "\x1b" and (match := csi_match(text, pos)) is not None:
                pos = match.end()
                private, params, final = match.groups()
                if final in _ROW_ONLY:
                    screen.settle_row(screen.cursor.y)
                elif final not in _CURSOR_ONLY:
                    screen.settle()
                self._dispatch(final, params, private)
            elif char == "\x1b" and _PARTIAL_CSI.match(text, pos):
                self._carry = text[pos:]  # the rest comes with the next feed
                return
            elif char == "\x08":
                screen.backspace()
                pos += 1
            elif char == "\t":
                screen.tab()
                pos += 1
            else:
                pos = self._feed_pyte(text, pos)

    def _dispatch(self, final: str, params: str, private: str) -> None:
        args = _params(params)
        handler = self._csi.get(final, self.screen.debug)
        try:
            if private:
                handler(*args, private=True)
            else:
                handler(*args)
        except _PYTE_ERRORS:
            pass  # pyte's parser would raise too; a console must survive junk

    def _feed_pyte(self, text: str, pos: int) -> int:
        """Let pyte's parser take characters until it is back to plain text."""
        stream = self._stream
        self.screen.settle()
        while pos < len(text):
            pos += 1
            with contextlib.suppress(*_PYTE_ERRORS):  # pyte resets its parser
                stream.feed(text[pos - 1])
            if stream._taking_plain_text:
                break
        return pos


# --- keys -------------------------------------------------------------------------------------

_CURSOR_KEYS = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
_TILDE_KEYS = {
    "insert": 2, "delete": 3, "pageup": 5, "pagedown": 6,
    "f5": 15, "f6": 17, "f7": 18, "f8": 19, "f9": 20, "f10": 21, "f11": 23, "f12": 24,
}  # fmt: skip
_SS3_KEYS = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_MODIFIER_BITS = {"shift": 1, "alt": 2, "meta": 2, "ctrl": 4}
_PLAIN_KEYS = {
    "enter": "\r", "tab": "\t", "backspace": "\x7f", "escape": "\x1b", "space": " ",
    "ctrl+space": "\x00", "ctrl+at": "\x00", "ctrl+@": "\x00", "shift+tab": "\x1b[Z",
    "ctrl+backslash": "\x1c", "ctrl+right_square_bracket": "\x1d", "ctrl+left_square_bracket": "\x1b",
    "ctrl+circumflex_accent": "\x1e", "ctrl+underscore": "\x1f", "ctrl+minus": "\x1f",
    "ctrl+backspace": "\x08", "ctrl+2": "\x00", "ctrl+3": "\x1b", "ctrl+4": "\x1c", "ctrl+5": "\x1d",
    "ctrl+6": "\x1e", "ctrl+7": "\x1f", "ctrl+8": "\x7f", "ctrl+j": "\n", "ctrl+m": "\r", "ctrl+i": "\t",
    "shift+enter": "\r", "shift+space": " ", "shift+backspace": "\x7f", "shift+escape": "\x1b",
}  # fmt: skip


def encode_key(key: str, character: str | None, *, app_cursor: bool = False) -> bytes | None:
    """The bytes an xterm sends for a key, given as Textual names it ("ctrl+c", "shift+up", "f5",
    "alt+x"), or None for a key with no bytes. `app_cursor`: DECCKM (application cursor keys)."""
    if key in _PLAIN_KEYS:
        return _PLAIN_KEYS[key].encode()
    *mods, base = key.split("+") if key != "+" else ["+"]
    if base.startswith("f") and base[1:].isdigit() and 12 < int(base[1:]) <= 24:
        mods, base = [*mods, "shift"], f"f{int(base[1:]) - 12}"  # xterm's F13-F24 are shift+F1-F12
    bits = sum(_MODIFIER_BITS.get(mod, 0) for mod in set(mods))
    code = f";{bits + 1}" if bits else ""
    if base in _CURSOR_KEYS:
        final = _CURSOR_KEYS[base]
        if bits:
            return f"\x1b[1{code}{final}".encode()
        return f"\x1b{'O' if app_cursor else '['}{final}".encode()
    if base in _TILDE_KEYS:
        return f"\x1b[{_TILDE_KEYS[base]}{code}~".encode()
    if base in _SS3_KEYS:
        return f"\x1b[1{code}{_SS3_KEYS[base]}".encode() if bits else f"\x1bO{_SS3_KEYS[base]}".encode()
    if "alt" in mods or "meta" in mods:  # meta sends ESC before the key
        rest = "+".join(mod for mod in mods if mod not in ("alt", "meta"))
        inner = encode_key(f"{rest}+{base}" if rest else base, character, app_cursor=app_cursor)
        return None if inner is None else b"\x1b" + inner
    if "ctrl" in mods and len(base) == 1 and base.isascii() and base.isalpha():
        return bytes([ord(base.lower()) & 0x1F])
    if character and (character.isprintable() or len(key) == 1):
        return character.encode()
    if len(base) == 1 and not mods:
        return base.encode()
    return None
