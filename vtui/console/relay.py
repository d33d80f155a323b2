"""One reader per console session, handing its output to whoever shows or keeps it: the
embedded terminal, the real terminal during a full-screen hand-over, a log file."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

from vtui.console.session import ConsoleSession

Sink = Callable[[bytes], Awaitable[None] | None]


class Relay:
    def __init__(self, session: ConsoleSession) -> None:
        self.session = session
        self.ended = asyncio.Event()
        self.log_path: Path | None = None
        self._sinks: list[Sink] = []
        self._log: BinaryIO | None = None

    def add(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def remove(self, sink: Sink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def log_to(self, path: Path) -> None:
        """Append everything the console prints from now on to `path` (raw, as `script` does)."""
        self.stop_log()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._log, self.log_path = path.open("ab"), path

    def stop_log(self) -> None:
        log, self._log, self.log_path = self._log, None, None
        if log is not None:
            log.close()

    async def run(self) -> None:
        """Read until the console ends; a sink that returns an awaitable slows the reading to its pace."""
        try:
            while chunk := await self.session.read():
                if self._log is not None:
                    self._log.write(chunk)
                    self._log.flush()
                for sink in tuple(self._sinks):
                    pending = sink(chunk)
                    if pending is not None:
                        await pending
        finally:
            self.stop_log()
            self.ended.set()
