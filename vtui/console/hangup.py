"""Leave when the terminal goes away (an SSH session that dropped).

Textual 8's input thread spins at 100% CPU once stdin reaches EOF (upstream PR
Textualize/textual#6690), and SIGHUP reaches only the session leader, which
may be a parent such as `make` rather than vtui. So vtui exits on SIGHUP and
also checks, once a second, that its terminal still answers.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import termios
from collections.abc import Callable

CHECK_EVERY = 1.0


def terminal_alive(fd: int) -> bool:
    """A hung-up or closed terminal answers tcgetattr with EIO (or is no terminal at all)."""
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError):
        return False
    return True


def watch_terminal(leave: Callable[[], object]) -> asyncio.Task[None]:
    """Call `leave` on SIGHUP or when stdin's terminal stops answering."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, leave)
    fd = sys.__stdin__.fileno() if sys.__stdin__ else 0

    async def poll() -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY)
            if not terminal_alive(fd):
                leave()
                return

    return asyncio.create_task(poll(), name="vtui-terminal-watch")
