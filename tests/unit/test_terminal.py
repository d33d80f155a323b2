"""The embedded terminal: the emulator against plain pyte, and the widget driven by keys (Pilot)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import ClassVar

import pyte
import pytest
from pyte.screens import Char, Margins, StaticDefaultDict
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen

from vtui.console.emulator import BLANK, Emulator, HistoryRow, encode_key, row_cells
from vtui.widgets.terminal import Terminal

# --- the emulator -----------------------------------------------------------------------------


def cells(emulator: Emulator, y: int) -> list[Char]:
    return row_cells(emulator.row(emulator.screen_top + y), emulator.cols)


def history_text(emulator: Emulator) -> list[str]:
    return [row_text(row, emulator.cols) for row in emulator.screen.history]


def row_text(row: HistoryRow, cols: int) -> str:
    return "".join(cell.data for cell in row_cells(row, cols)).rstrip()


def test_colours_and_attributes() -> None:
    emulator = Emulator(5, 20)
    emulator.feed(b"\x1b[1;3;4;7;31;42mA\x1b[0mB\x1b[38;5;196mC\x1b[48;2;1;2;3mD\x1b[0;95mE\x1b[9mF")
    a, b, c, d, e, f = cells(emulator, 0)[:6]
    assert (a.data, a.fg, a.bg) == ("A", "red", "green")
    assert a.bold and a.italics and a.underscore and a.reverse and not a.strikethrough
    assert b == BLANK._replace(data="B")
    assert (c.fg, c.bg) == ("ff0000", "default")  # 256 colours as pyte gives them: hex
    assert (d.fg, d.bg) == ("ff0000", "010203")  # truecolor
    assert (e.fg, e.bg, e.bold) == ("brightmagenta", "default", False)
    assert f.strikethrough and f.fg == "brightmagenta"


def test_cursor_movement() -> None:
    emulator = Emulator(10, 40)
    emulator.feed(b"\x1b[5;10H")
    assert emulator.cursor == (4, 9)
    emulator.feed(b"\x1b[2A\x1b[3C")
    assert emulator.cursor == (2, 12)
    emulator.feed(b"x\r\n\x1b[10B\x1b[99G")
    assert emulator.cursor == (9, 39)
    emulator.feed(b"\x1b[H\x1b[?25l")
    assert emulator.cursor == (0, 0) and not emulator.cursor_visible
    emulator.feed(b"\x1b[6n")  # where is the cursor?
    assert emulator.take_replies() == b"\x1b[1;1R"


@pytest.mark.parametrize("mode", [1049, 1047, 47])
def test_alternate_screen_restores_the_main_one(mode: int) -> None:
    emulator = Emulator(5, 20)
    emulator.feed(b"$ vim\r\nline two\r\n$ ")
    before = emulator.screen_lines()
    emulator.feed(b"\x1b[?%dh\x1b[2J\x1b[Hfull screen" % mode)
    assert emulator.alternate
    assert emulator.screen_lines()[0].rstrip() == "full screen"
    assert "$ vim" not in "".join(emulator.screen_lines())
    emulator.feed(b"\x1b[?%dl" % mode)
    assert not emulator.alternate
    assert emulator.screen_lines() == before
    if mode == 1049:
        assert emulator.cursor == (2, 2)  # saved on entering, restored on leaving


def test_scrollback_keeps_scrolled_off_rows_in_order_but_not_from_the_alternate_screen() -> None:
    emulator = Emulator(5, 20, scrollback=50)
    emulator.feed(b"".join(b"line %d\r\n" % i for i in range(30)))
    assert history_text(emulator) == [f"line {i}" for i in range(26)]
    assert emulator.screen_lines()[0].rstrip() == "line 26"
    emulator.feed(b"\x1b[?1049h" + b"".join(b"alt %d\r\n" % i for i in range(30)))
    assert len(emulator.screen.history) == 26
    emulator.feed(b"\x1b[?1049l" + b"".join(b"more %d\r\n" % i for i in range(60)))
    assert len(emulator.screen.history) == 50  # the limit
    assert history_text(emulator)[-1] == "more 55"
    emulator.feed(b"\x1b[3J")  # clear the scrollback, as `clear` does
    assert not emulator.screen.history


def test_resize_keeps_the_cursor_row_and_pushes_rows_above_into_the_scrollback() -> None:
    emulator = Emulator(10, 20)
    emulator.feed(b"".join(b"row %d\r\n" % i for i in range(9)) + b"$ ")
    emulator.resize(4, 10)
    assert (emulator.rows, emulator.cols) == (4, 10)
    assert [line.rstrip() for line in emulator.screen_lines()] == ["row 6", "row 7", "row 8", "$"]
    assert emulator.cursor == (3, 2)
    assert history_text(emulator) == [f"row {i}" for i in range(6)]
    emulator.resize(6, 30)
    assert emulator.screen_lines()[3] == "$ " + " " * 28
    emulator.feed(b"x" * 40)  # wraps at the new width
    assert emulator.screen_lines()[4].rstrip() == "x" * 12


def test_characters_and_sequences_split_across_feeds() -> None:
    emulator = Emulator(3, 10)
    euro = "€".encode()
    emulator.feed(b"a" + euro[:1])
    emulator.feed(euro[1:2])
    emulator.feed(euro[2:] + "中b".encode() + b"\x1b")
    emulator.feed(b"[3")
    emulator.feed(b"1mc")
    assert emulator.screen_lines()[0] == "a€中bc    "
    assert emulator.cursor == (0, 6)
    assert cells(emulator, 0)[5].fg == "red" and cells(emulator, 0)[4].fg == "default"


class RecordingScreen(pyte.Screen):
    """Plain pyte, recording the rows that scroll off the top as the emulator's scrollback does."""

    def __init__(self, columns: int, lines: int) -> None:
        self.scrolled_off: list[StaticDefaultDict[int, Char]] = []
        super().__init__(columns, lines)

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y == bottom and top == 0:
            self.scrolled_off.append(self.buffer[top])
        super().index()


# erasing, reverse screen (with and without reverse text after), tab stops, bare line feeds
ODD_ESCAPES = ["\x1b[J", "\x1b[1J", "\x1b[?5h", "\x1b[?5l", "\x1b[?5h\x1b[27m", "\x1b[3g", "\x1b[13G\x1bH\x1b[1G"]
ODD_ESCAPES += ["a\tb\x08\x08c\n", "x" * 9 + "\n"]


# SGR and erase-to-end-of-line (EL) as grep --color prints them, before and after tabs and wraps
GREP_LIKE = [
    "\x1b[35m\x1b[Kf.py\x1b[m\x1b[K:\x1b[1;31m\x1b[Kmatch\x1b[m\x1b[K rest",
    "a\x1b[44m\x1b[K\tb\x1b[0K\x1b[0m",
]
GREP_LIKE += ["COLS\x1b[41m\x1b[Kyy", "\x1b[42m\x1b[KCOLSzzz\x1b[K\tq\x1b[m", "\x1b[7m\x1b[K\x1b[m"]


def mixed_output(seed: int, cols: int, count: int = 2500) -> bytes:
    """Shell-like output: plain, coloured, tabbed and wrapping lines, CR overwrites, cursor moves,
    scroll regions, erasing, wide and combining characters, tab stops."""
    rnd = random.Random(seed)
    words = ["alpha", "délta", "中文", "", "é\u0301", "─┼─", "привет", "→ ✓", "\u0301x"]
    sgr = ["1;31", "32", "38;5;208", "48;2;10;20;30", "0", "4;7", "", "1;3;9"]
    lengths = [0, 3, 40, cols - 1, cols, 3 * cols]
    kinds: list[Callable[[], str]] = [
        lambda: "".join(rnd.choice("abc ghij0123ñ─中") for _ in range(rnd.choice(lengths))),
        lambda: f"\x1b[{rnd.choice(sgr)}m{rnd.choice(words)} tail\x1b[0m\t{rnd.choice(words)}",
        lambda: "progress 10%\rprogress 20%\r\x1b[Kdone",
        lambda: rnd.choice(["\tat x.y(Z.java:1)", "c1\tc2\t\x1b[1mc3\x1b[0m", "x" * cols + "\tq", "a\t" * 30]),
        lambda: rnd.choice(GREP_LIKE).replace("COLS", "x" * cols),
    ]
    escapes: list[Callable[[], str]] = [
        lambda: f"\x1b[{rnd.randint(1, 30)};{rnd.randint(1, 90)}H{rnd.choice(words)}",
        lambda: f"\x1b[{rnd.randint(1, 5)}A\x1b[2K",
        lambda: f"\x1b[{rnd.randint(1, 8)};{rnd.randint(12, 24)}r" if rnd.random() < 0.5 else "\x1b[r",
        lambda: "\x1b]0;title\x07\x1b7\x1b[5;5Hsaved\x1b8\x1bM\x1bD\x1b[3L\x1b[2M\x1b[4P\x1b[3@\x1b[5X",
        lambda: rnd.choice(ODD_ESCAPES),
    ]
    out = []
    for _ in range(count):
        if rnd.random() < 0.85:
            out.append(rnd.choice(kinds)() + "\r\n")
        else:
            out.append(rnd.choice(escapes)())
    return "".join(out).encode()


@pytest.mark.parametrize(
    ("seed", "rows", "cols", "scrollback"), [(1, 24, 80, 500), (2, 10, 40, 30), (3, 45, 160, 5000)]
)
def test_fast_paths_match_plain_pyte(seed: int, rows: int, cols: int, scrollback: int) -> None:
    data = mixed_output(seed, cols)
    reference = RecordingScreen(cols, rows)
    stream = pyte.ByteStream(reference)
    emulator = Emulator(rows, cols, scrollback=scrollback)
    rnd = random.Random(seed)
    pos = 0
    while pos < len(data):
        size = rnd.randint(1, 4000)  # chunks split lines, sequences and UTF-8 characters
        stream.feed(data[pos : pos + size])
        emulator.feed(data[pos : pos + size])
        pos += size
        for y in range(rows):  # as the widget reads rows, some still pending
            assert cells(emulator, y) == row_cells(reference.buffer[y], cols), (pos, y)
    emulator.settle()
    screen = emulator.screen
    assert (screen.cursor.x, screen.cursor.y, screen.cursor.attrs) == (
        reference.cursor.x,
        reference.cursor.y,
        reference.cursor.attrs,
    )
    assert all(row_cells(screen.buffer[y], cols) == row_cells(reference.buffer[y], cols) for y in range(rows))
    expected = reference.scrolled_off[-scrollback:]
    assert len(screen.history) == len(expected)
    assert [row_cells(row, cols) for row in screen.history] == [row_cells(row, cols) for row in expected]


def test_a_flood_takes_the_fast_path() -> None:
    emulator = Emulator(45, 160, scrollback=100)
    emulator.feed(b"".join(b"\x1b[32m%d\x1b[0m\tok\r\n" % i for i in range(5000)))
    assert history_text(emulator)[-1] == "4955    ok"
    assert all(not isinstance(row, dict) for row in emulator.screen.history)  # spans, not cells
    assert emulator.screen.pending  # rows on screen kept as spans until something needs them
    assert emulator.screen_lines()[-2].rstrip() == "4999    ok"


@pytest.mark.parametrize(
    ("key", "character", "app_cursor", "expected"),
    [
        ("enter", None, False, b"\r"),
        ("backspace", None, False, b"\x7f"),
        ("tab", "\t", False, b"\t"),
        ("shift+tab", None, False, b"\x1b[Z"),
        ("escape", "\x1b", False, b"\x1b"),
        ("ctrl+c", None, False, b"\x03"),
        ("ctrl+z", "\x1a", False, b"\x1a"),
        ("ctrl+right_square_bracket", None, False, b"\x1d"),
        ("ctrl+at", None, False, b"\x00"),
        ("up", None, False, b"\x1b[A"),
        ("up", None, True, b"\x1bOA"),
        ("home", None, True, b"\x1bOH"),
        ("end", None, False, b"\x1b[F"),
        ("shift+up", None, True, b"\x1b[1;2A"),
        ("ctrl+left", None, False, b"\x1b[1;5D"),
        ("delete", None, False, b"\x1b[3~"),
        ("pageup", None, False, b"\x1b[5~"),
        ("ctrl+pagedown", None, False, b"\x1b[6;5~"),
        ("f1", None, False, b"\x1bOP"),
        ("f5", None, False, b"\x1b[15~"),
        ("f12", None, False, b"\x1b[24~"),
        ("shift+f3", None, False, b"\x1b[1;2R"),
        ("f13", None, False, b"\x1b[1;2P"),  # xterm's shift+F1, as Textual names it
        ("alt+x", "x", False, b"\x1bx"),
        ("alt+ctrl+c", None, False, b"\x1b\x03"),
        ("é", "é", False, "é".encode()),
        ("space", " ", False, b" "),
        ("dollar_sign", "$", False, b"$"),
    ],
)
def test_keys_as_xterm_sends_them(key: str, character: str | None, app_cursor: bool, expected: bytes) -> None:
    assert encode_key(key, character, app_cursor=app_cursor) == expected


# --- the widget -------------------------------------------------------------------------------


class ConsoleScreen(Screen[None]):
    """A screen that reserves a key, as vtui's console screen does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+right_square_bracket", "leave", "Leave", id="leave", priority=True)
    ]

    def __init__(self) -> None:
        super().__init__()
        self.left = 0

    def compose(self) -> ComposeResult:
        yield Terminal(scrollback=1000)

    def action_leave(self) -> None:
        self.left += 1


class TerminalApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.keys: list[bytes] = []
        self.sizes: list[tuple[int, int]] = []

    def on_mount(self) -> None:
        self.push_screen(ConsoleScreen())

    def on_terminal_keys(self, message: Terminal.Keys) -> None:
        self.keys.append(message.data)

    def on_terminal_resized(self, message: Terminal.Resized) -> None:
        self.sizes.append((message.rows, message.cols))

    @property
    def terminal(self) -> Terminal:
        return self.screen.query_one(Terminal)


def rendered(terminal: Terminal) -> list[str]:
    return [terminal.render_line(y).text for y in range(terminal.size.height)]


async def test_fed_text_is_on_screen_and_rendered() -> None:
    app = TerminalApp()
    async with app.run_test(size=(60, 12)) as pilot:
        terminal = app.terminal
        await terminal.feed(b"\x1b[31mhello\x1b[0m world\r\n$ ")
        await pilot.pause()
        assert terminal.screen_lines()[:2] == ["hello world".ljust(60), "$".ljust(60)]
        assert rendered(terminal)[:2] == ["hello world".ljust(60), "$".ljust(60)]
        red = next(iter(terminal.render_line(0)))
        assert red.text == "hello" and red.style is not None and red.style.color is not None
        assert red.style.color.number == 1  # ANSI red, for the theme to map
        cursor = list(terminal.render_line(1))[1]  # the cell after "$"
        assert cursor.style is not None and cursor.style.reverse  # the focused terminal shows its cursor


async def test_keys_reach_the_console_as_bytes() -> None:
    app = TerminalApp()
    async with app.run_test(size=(60, 12)) as pilot:
        terminal = app.terminal
        assert app.focused is terminal
        await pilot.press("l", "s", "enter", "ctrl+c", "tab", "up", "é", "ctrl+q", "ctrl+p", "f1")
        await terminal.feed(b"\x1b[?1h")  # application cursor keys, as vim and less set them
        await pilot.press("up")
        await pilot.pause()
        assert app.keys == [
            b"l", b"s", b"\r", b"\x03", b"\t", b"\x1b[A", "é".encode(), b"\x11", b"\x10", b"\x1bOP", b"\x1bOA"
        ]  # fmt: skip
        assert app.focused is terminal  # tab did not move the focus
        await pilot.press("ctrl+right_square_bracket")  # the screen's key stays the screen's
        assert isinstance(app.screen, ConsoleScreen) and app.screen.left == 1
        assert app.keys[-1] == b"\x1bOA"


async def test_bracketed_paste() -> None:
    app = TerminalApp()
    async with app.run_test(size=(60, 12)) as pilot:
        terminal = app.terminal
        terminal.post_message(events.Paste("a\nb"))
        await pilot.pause()
        await terminal.feed(b"\x1b[?2004h")
        terminal.post_message(events.Paste("c"))
        await pilot.pause()
        assert app.keys == [b"a\rb", b"\x1b[200~c\x1b[201~"]


async def test_resized_is_posted_with_the_size_in_cells() -> None:
    app = TerminalApp()
    async with app.run_test(size=(70, 20)) as pilot:
        await pilot.pause()
        assert app.sizes == [(20, 70)]
        assert (app.terminal.rows, app.terminal.cols) == (20, 70)
        await pilot.resize_terminal(90, 25)
        await pilot.pause()
        assert app.sizes[-1] == (25, 90)
        assert (app.terminal.rows, app.terminal.cols) == (25, 90)


async def test_scrollback_keys_scroll_and_typing_returns_to_the_live_screen() -> None:
    app = TerminalApp()
    async with app.run_test(size=(40, 10)) as pilot:
        terminal = app.terminal
        await terminal.feed(b"".join(b"line %d\r\n" % i for i in range(100)))
        await pilot.pause()
        assert rendered(terminal)[0].rstrip() == "line 91"
        await pilot.press("shift+pageup")
        assert terminal.scrolled_back == 10
        assert rendered(terminal)[0].startswith("line 81")
        assert rendered(terminal)[0].rstrip().endswith("[+10 lines]")
        await pilot.press("shift+up", "shift+up", "shift+down")
        assert terminal.scrolled_back == 11
        await terminal.feed(b"more\r\n")  # output does not move a scrolled view
        assert rendered(terminal)[1].startswith("line 81")
        await pilot.press("x")
        assert terminal.scrolled_back == 0
        assert rendered(terminal)[-2].rstrip() == "more"
        await pilot.pause()
        assert app.keys == [b"x"]


async def test_copy_mode_copies_the_selection() -> None:
    app = TerminalApp()
    async with app.run_test(size=(40, 10)) as pilot:
        terminal = app.terminal
        await terminal.feed(b"first line\r\nsecond line\r\nthird\r\n$ ")
        terminal.action_copy_mode()
        assert terminal.in_copy_mode
        assert rendered(terminal)[0].rstrip().endswith("COPY")
        await pilot.press("k", "k", "k", "0", "w", "l", "l", "v")  # "w" does nothing
        assert rendered(terminal)[0].rstrip().endswith("COPY (v)")
        await pilot.press("j", "dollar_sign", "y")
        assert terminal.copied_text == "rst line\nsecond line"
        assert app.clipboard == "rst line\nsecond line"
        assert not terminal.in_copy_mode
        terminal.action_copy_mode()
        await pilot.press("k", "V", "j", "enter")
        assert terminal.copied_text == "third\n$"
        assert app.keys == []  # nothing typed in copy mode reached the console


async def test_copy_mode_reaches_into_the_scrollback() -> None:
    app = TerminalApp()
    async with app.run_test(size=(40, 10)) as pilot:
        terminal = app.terminal
        await terminal.feed(b"".join(b"line %d\r\n" % i for i in range(50)))
        terminal.action_copy_mode()
        await pilot.press("g", "V", "j", "y")
        assert terminal.copied_text == "line 0\nline 1"
        await pilot.press("escape")
        assert terminal.scrolled_back == 0
