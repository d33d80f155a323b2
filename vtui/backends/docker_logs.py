"""A container's log lines carried from the thread that reads docker's stream to the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

LOGS_THREAD = "vtui-docker-logs"
LOGS_JOIN_TIMEOUT = 20.0  # seconds: longer than the API's own timeout, which can hold the thread at start
LOGS_BACKLOG = 10_000  # lines read but not yet taken, before the reading thread waits


class LinePipe:
    """Lines from a reading thread to the event loop, in batches, with backpressure.

    The thread wakes the loop once per batch, not once per line: a burst of a log's tail costs a
    few wake-ups. close() (from the loop) shuts the stream, which ends the thread's blocking read.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._ready = asyncio.Event()
        self._cond = threading.Condition()
        self._lines: list[str] = []
        self._woken = False
        self._ended = False
        self._error: Exception | None = None
        self._closed = False
        self._stream: Any = None

    def _wake(self) -> None:  # under the lock
        if not self._woken:
            self._woken = True
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens
                self._loop.call_soon_threadsafe(self._ready.set)

    def attach(self, stream: Any) -> bool:
        """The thread's stream, for close(); False (and the stream closed) when closed already."""
        with self._cond:
            if not self._closed:
                self._stream = stream
                return True
        stream.close()
        return False

    def put(self, lines: list[str]) -> None:
        """From the thread: waits while the loop has LOGS_BACKLOG lines to take."""
        if not lines:
            return
        with self._cond:
            while len(self._lines) >= LOGS_BACKLOG and not self._closed:
                self._cond.wait()
            if not self._closed:
                self._lines += lines
                self._wake()

    def end(self, error: Exception | None) -> None:
        with self._cond:
            self._ended, self._error = True, error
            self._wake()

    async def get(self) -> list[str] | None:
        """On the loop: the lines read since the last call, or None at the end (raising its error)."""
        while True:
            with self._cond:
                lines, self._lines = self._lines, []
                ended, error = self._ended, self._error
                self._woken = False
                self._ready.clear()
                self._cond.notify_all()
            if lines:
                return lines
            if error is not None:
                raise error
            if ended:
                return None
            await self._ready.wait()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            stream, self._stream = self._stream, None
            self._cond.notify_all()
        if stream is not None:
            with contextlib.suppress(Exception):  # already closed by the daemon's end of stream
                stream.close()

