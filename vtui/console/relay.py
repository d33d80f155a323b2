"""One reader and one typist per console session: its output goes to whoever shows or keeps it
(the embedded terminal, the real terminal during a full-screen hand-over, a log file); keys
typed anywhere reach it in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

from vtui.console.session import ConsoleSession
from vtui.errors import ConsoleError

Sink = Callable[[bytes], Awaitable[None] | None]


class Relay:
    def __init__(self, session: ConsoleSession) -> None:
        self.session = session
        self.ended = asyncio.Event()
        self.log_path: Path | None = None
        self._sinks: list[Sink] = []
        self._log: BinaryIO | None = None
        self._typed: asyncio.Queue[bytes] = asyncio.Queue()

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

    def type(self, keys: bytes) -> None:
        """Keys for the console; they are sent in the order typed, by `run()`."""
        self._typed.put_nowait(keys)

    async def typed_sent(self) -> None:
        """Once every key typed so far has been sent (or refused)."""
        await self._typed.join()

    async def resize(self, rows: int, cols: int) -> None:
        with contextlib.suppress(ConsoleError):  # a size is a hint; the console goes on without it
            await self.session.resize(rows, cols)

    async def run(self) -> None:
        """Read until the console ends, sending typed keys meanwhile; a sink that returns an
        awaitable slows the reading to its pace."""
        typist = asyncio.create_task(self._send_typed())
        try:
            while chunk := await self.session.read():
                await self._show(chunk)
        finally:
            typist.cancel()
            self.stop_log()
            self.ended.set()

    async def _show(self, chunk: bytes) -> None:
        if self._log is not None:
            self._log.write(chunk)
            self._log.flush()
        for sink in tuple(self._sinks):
            pending = sink(chunk)
            if pending is not None:
                await pending

    async def _send_typed(self) -> None:
        told = False
        while True:
            keys = await self._typed.get()
            try:
                await self.session.write(keys)
            except ConsoleError as refused:  # read-only mode, or the console is gone: said once, in it
                if not told:
                    told = True
                    await self._show(f"\r\n[vtui: {refused}]\r\n".encode())
            finally:
                self._typed.task_done()
