"""The whole terminal handed to a console, in raw mode, until the escape key (ctrl+], as virsh)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import termios
import tty
from collections.abc import Iterator
from typing import Literal

from vtui.console.relay import Relay

ESCAPE = b"\x1d"  # ctrl+]
ESCAPE_NAME = "ctrl+]"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def hand_over(relay: Relay, *, fd_in: int = 0, fd_out: int = 1,
                    preface: bytes = b"") -> Literal["escaped", "ended"]:
    """Keys from `fd_in` go to the console and its output to `fd_out` until ctrl+] is typed
    ("escaped": the console stays open) or the console ends ("ended").

    `preface` is written first (a banner, or the screen as the embedded terminal last showed it).
    The terminal's size is sent to the console now and on every SIGWINCH."""
    loop = asyncio.get_running_loop()
    escaped = asyncio.Event()
    resized = asyncio.Event()

    async def show(chunk: bytes) -> None:
        await loop.run_in_executor(None, _write_all, fd_out, chunk)

    def on_input() -> None:
        try:
            data = os.read(fd_in, 4096)
        except OSError:
            data = b""
        before, found, _ = data.partition(ESCAPE)
        if before:
            relay.type(before)
        if found or not data:  # the escape key, or the terminal went away
            escaped.set()

    async def send_sizes() -> None:
        while True:
            with contextlib.suppress(OSError):
                size = os.get_terminal_size(fd_out)
                await relay.resize(size.lines, size.columns)
            await resized.wait()
            resized.clear()

    old_winch = signal.getsignal(signal.SIGWINCH)
    with raw_mode(fd_in):
        if preface:
            await show(preface)
        relay.add(show)
        loop.add_reader(fd_in, on_input)
        loop.add_signal_handler(signal.SIGWINCH, resized.set)
        sizes = loop.create_task(send_sizes())
        ends = [loop.create_task(escaped.wait()), loop.create_task(relay.ended.wait())]
        try:
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            loop.remove_reader(fd_in)
            if not relay.ended.is_set():  # keys typed just before ctrl+]
                await relay.typed_sent()
        finally:
            for task in [sizes, *ends]:
                task.cancel()
            loop.remove_reader(fd_in)
            loop.remove_signal_handler(signal.SIGWINCH)
            signal.signal(signal.SIGWINCH, old_winch)
            relay.remove(show)
    return "escaped" if escaped.is_set() else "ended"
