"""A screen's periodic refresh that never overlaps or cancels itself (design rule 4: a poller re-arms
only after it finishes). Asked again while it runs, it runs once more when it ends: a slow read delays
the next one and is never cut short by it, as an exclusive worker restarted each second would be."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.dom import DOMNode


class Refresher:
    def __init__(self, owner: DOMNode, read: Callable[[], Awaitable[None]], group: str) -> None:
        self.owner, self.read, self.group = owner, read, group
        self.running = False
        self.again = False

    def __call__(self) -> None:
        if self.running:
            self.again = True
            return
        self.running = True
        self.owner.run_worker(self._run(), group=self.group)

    async def _run(self) -> None:
        try:
            while True:
                self.again = False
                await self.read()
                if not self.again:
                    return
        finally:
            self.running = False
