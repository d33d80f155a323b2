"""What the benchmarks share: log lines, figures, and the app probe that times keypress-to-repaint."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from textual import events
from textual._compositor import CompositorUpdate
from textual.screen import Screen

import vtui.app
from vtui.app import VtuiApp


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


LAB_WAIT = 900.0  # seconds a bench that needs the SSH lab waits for another one (a test session's) to go down


def lab_free(state_file: Path, wait: float = LAB_WAIT) -> bool:
    """True once no SSH lab is up (its state file gone), waiting up to `wait` seconds: the lab is one
    per machine, and a test session beside the bench may hold it for minutes."""
    deadline = time.monotonic() + wait
    next_note = 0.0
    while state_file.exists():
        now = time.monotonic()
        if now >= deadline:
            return False
        if now >= next_note:
            log(f"an SSH lab is up ({state_file}), a test session's perhaps: waiting up to "
                f"{(deadline - now) / 60:.0f} min for it to go down (if it is a leftover: "
                ".venv/bin/python -m tests.support.sshlab down)")
            next_note = now + 60
        time.sleep(2)
    return True


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


class ProbedApp(VtuiApp):
    """VtuiApp that reports each screen update to `on_paint`.

    Textual paints in Screen._compositor_refresh: Compositor.render_update()
    re-renders the dirty widgets' lines into a CompositorUpdate and hands it to
    App._display(), which (with a terminal) serialises it to escape codes and
    writes them. Headless, _display drops it; this override serialises it too
    (render_segments, as the terminal path does), then reports. Only the write
    to a real terminal is left out.
    """

    CSS_PATH = str(Path(vtui.app.__file__).with_name("vtui.tcss"))  # relative paths resolve beside the subclass
    on_paint: Callable[[], None] | None = None

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        super()._display(screen, renderable)
        if renderable is None or self._batch_count:
            return
        if isinstance(renderable, CompositorUpdate):
            renderable.render_segments(self.console)
        if self.on_paint is not None:
            self.on_paint()


async def press(app: ProbedApp, key: str, shows_effect: Callable[[], bool], timeout: float = 10) -> float:
    """Seconds from sending `key` (as the terminal driver does) to the first screen
    update that shows its effect; a repaint for anything else does not count.
    A key whose effect is not on screen within `timeout` counts as infinitely slow."""
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def on_paint() -> None:
        if not done.done() and shows_effect():
            done.set_result(time.perf_counter())

    assert app._driver is not None
    app.on_paint = on_paint
    t0 = time.perf_counter()
    app._driver.send_message(events.Key(key, key if len(key) == 1 else None))
    try:
        return await asyncio.wait_for(done, timeout) - t0
    except TimeoutError:
        return math.inf
    finally:
        app.on_paint = None
