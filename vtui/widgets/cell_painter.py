"""pyte's cells drawn as Textual strips: its colour names and attributes become Rich styles, laid
over the widget's own colours, each style made once."""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby
from operator import attrgetter, itemgetter

from pyte.screens import Char
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from vtui.console.emulator import BLANK, HistoryRow, cell_texts, row_cells

_ANSI = {"black": 0, "red": 1, "green": 2, "brown": 3, "blue": 4, "magenta": 5, "cyan": 6, "white": 7}
_ATTRS = itemgetter(1, 2, 3, 4, 5, 6, 7, 8)  # a cell's attributes: everything but its text
_DATA = attrgetter("data")

Attrs = tuple[str, str, bool, bool, bool, bool, bool, bool]


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


def _cell_style(attrs: Attrs) -> Style:
    fg, bg, bold, italics, underscore, strikethrough, reverse, blink = attrs
    return Style(
        color=_color(fg), bgcolor=_color(bg), bold=bold or None, italic=italics or None,
        underline=underscore or None, strike=strikethrough or None, reverse=reverse or None, blink=blink or None,
    )  # fmt: skip


class CellPainter:
    """Rows of cells as strips over the base style that `base` gives (the widget's colours, for
    cells in default colours). clear() when that changes."""

    def __init__(self, base: Callable[[], Style]) -> None:
        self._base = base
        self._styles: dict[Attrs, Style] = {}

    def clear(self) -> None:
        self._styles.clear()

    def row(self, row: HistoryRow, cols: int) -> Strip:
        """An emulator's row (cells, spans of one-cell characters, or plain text) `cols` cells wide."""
        if isinstance(row, dict):
            return self.cells(row_cells(row, cols))
        styles, base = self._styles, self._base()
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

    def cells(self, cells: list[Char]) -> Strip:
        strip = Strip(self._segments(cells))
        if strip.cell_length != len(cells):  # a wide character cut, or half overwritten
            fixed = [cell._replace(data=text) for cell, text in zip(cells, cell_texts(cells), strict=True)]
            strip = Strip(self._segments(fixed)).crop_extend(0, len(cells), None)
        return strip

    def _segments(self, cells: list[Char]) -> list[Segment]:
        styles, base = self._styles, self._base()
        segments = []
        for attrs, run in groupby(cells, _ATTRS):
            style = styles.get(attrs)
            if style is None:
                style = styles[attrs] = base + _cell_style(attrs)
            segments.append(Segment("".join(map(_DATA, run)), style))
        return segments


def restyle(strip: Strip, start: int, end: int, style: Style) -> Strip:
    """`strip` with `style` laid over cells [start, end)."""
    end = min(end, strip.cell_length)
    if start >= end:
        return strip
    before, middle, after = strip.divide([start, end, strip.cell_length])
    return Strip.join([before, Strip(Segment.apply_style(middle, post_style=style)), after])
