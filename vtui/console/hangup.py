"""Leave when the terminal goes away (an SSH session that dropped).

Textual 8's input thread spins at 100% CPU once stdin reaches EOF (upstream PR
Textualize/textual#6690), and SIGHUP reaches only the session leader, which
may be a parent such as `make` rather than vtui. So vtui exits on SIGHUP and
also checks, once a second, that its terminal still answers. Leaving is bounded:
Textual's goodbye to a dead terminal can block for good (its writer thread died on the
pty's EIO while the main thread waits for room in its queue), so the process ends
EXIT_GRACE seconds after the terminal went, whatever is still running.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import termios
import threading
from collections.abc import Callable

CHECK_EVERY = 1.0
EXIT_GRACE = 5.0  # seconds for a clean exit once the terminal has gone
HUNG_UP = 129  # the exit status, as a shell's for SIGHUP

log = logging.getLogger(__name__)


def terminal_alive(fd: int) -> bool:
    """A hung-up or closed terminal answers tcgetattr with EIO (or is no terminal at all)."""
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError):
        return False
    return True


def _end_anyway() -> None:
    log.warning("the terminal went away and the exit did not finish within %s s: ending now", EXIT_GRACE)
    logging.shutdown()
    os._exit(HUNG_UP)


def watch_terminal(leave: Callable[[], object]) -> asyncio.Task[None]:
    """Call `leave` on SIGHUP or when stdin's terminal stops answering; the process ends EXIT_GRACE
    seconds later if leaving has not ended it."""
    loop = asyncio.get_running_loop()
    left = False

    def gone() -> None:
        nonlocal left
        if not left:
            left = True
            timer = threading.Timer(EXIT_GRACE, _end_anyway)
            timer.daemon = True  # a clean exit does not wait for it
            timer.start()
        leave()

    loop.add_signal_handler(signal.SIGHUP, gone)
    fd = sys.__stdin__.fileno() if sys.__stdin__ else 0

    async def poll() -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY)
            if not terminal_alive(fd):
                gone()
                return

    return asyncio.create_task(poll(), name="vtui-terminal-watch")
