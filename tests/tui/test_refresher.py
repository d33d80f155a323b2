"""A screen's refresh never overlaps nor cancels itself: asked again while a slow read runs, it
runs once more after it (the labs and links screens ask each second; a read may take longer)."""

from __future__ import annotations

import asyncio

from textual.app import App

from tests.conftest import wait_for
from vtui.screens.refresher import Refresher


async def test_a_slow_refresh_is_finished_then_run_once_more_never_twice_at_once() -> None:
    app: App[None] = App()
    async with app.run_test() as pilot:
        running, finished = 0, []

        async def read() -> None:
            nonlocal running
            running += 1
            assert running == 1, "two reads at once"
            await asyncio.sleep(0.3)
            running -= 1
            finished.append(asyncio.get_running_loop().time())

        refresh = Refresher(app, read, "test-refresh")
        for _ in range(5):  # five ticks during the first read: one more read, whole
            refresh()
            await asyncio.sleep(0.02)
        await wait_for(pilot, lambda: not refresh.running, timeout=5)
        assert len(finished) == 2
        refresh()
        await wait_for(pilot, lambda: len(finished) == 3 and not refresh.running, timeout=5)
