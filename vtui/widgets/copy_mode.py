"""A terminal's copy mode: a cursor moved with the keys of vi and less over the screen and
scrollback, a selection of characters or lines from an anchor, and the text selected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vtui.console.emulator import Emulator, cells_text, row_cells


@dataclass
class CopyMode:
    row: int  # the copy cursor, an absolute row (see Emulator) and a column
    col: int
    anchor: tuple[int, int] | None = None  # where the selection started
    lines: bool = False  # a line-wise selection

    @property
    def label(self) -> str:
        """How the terminal's indicator says the mode: COPY, COPY (v), COPY (V)."""
        return "COPY" + ("" if self.anchor is None else " (V)" if self.lines else " (v)")

    def key(self, key: str, character: str | None, emulator: Emulator) -> Literal["leave", "copy", "moved"]:
        """A key in copy mode: moves the cursor (kept on the screen and scrollback), starts or ends a
        selection, or says to copy ("copy": y, enter) or to leave ("leave": escape, q)."""
        rows, cols = emulator.rows, emulator.cols
        char = character or ""
        moves = {"up": (-1, 0), "k": (-1, 0), "down": (1, 0), "j": (1, 0), "left": (0, -1), "h": (0, -1),
                 "right": (0, 1), "l": (0, 1), "pageup": (-rows, 0), "ctrl+b": (-rows, 0),
                 "pagedown": (rows, 0), "ctrl+f": (rows, 0)}  # fmt: skip
        first = emulator.screen_top if emulator.alternate else emulator.first_row
        last = emulator.screen_top + rows - 1
        if key in ("escape", "q"):
            return "leave"
        if key in moves:
            self.row += moves[key][0]
            self.col += moves[key][1]
        elif char == "g":
            self.row, self.col = first, 0
        elif char == "G":
            self.row, self.col = last, 0
        elif char == "0" or key == "home":
            self.col = 0
        elif char == "$" or key == "end":
            self.col = max(0, len(emulator.row_text(self.row).rstrip()) - 1)
        elif char in ("v", " ", "V"):
            lines = char == "V"
            started = self.anchor is None or self.lines != lines
            self.anchor, self.lines = ((self.row, self.col) if started else None), lines
        elif char == "y" or key == "enter":
            return "copy"
        self.row = min(max(self.row, first), last)
        self.col = min(max(self.col, 0), cols - 1)
        return "moved"

    def span(self, number: int, cols: int) -> tuple[int, int] | None:
        """The columns [start, end) selected in a row, if any."""
        if self.anchor is None:
            return None
        (first_row, first_col), (last_row, last_col) = sorted([self.anchor, (self.row, self.col)])
        if not first_row <= number <= last_row:
            return None
        if self.lines:
            return 0, cols
        return (first_col if number == first_row else 0), (last_col + 1 if number == last_row else cols)

    def text(self, emulator: Emulator) -> str | None:
        """The text selected, each row's trailing blanks dropped; None when nothing is selected."""
        if self.anchor is None:
            return None
        (first_row, first_col), (last_row, last_col) = sorted([self.anchor, (self.row, self.col)])
        lines = []
        for number in range(first_row, last_row + 1):
            cells = row_cells(emulator.row(number), emulator.cols)
            if not self.lines:
                cells = cells[first_col if number == first_row else 0 : last_col + 1 if number == last_row else None]
            lines.append(cells_text(cells).rstrip())
        return "\n".join(lines)
