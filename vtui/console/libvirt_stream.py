"""A libvirt console stream in asyncio's terms: its callback runs in libvirt's event thread
(vtui.backends.libvirt_events), open, queue, resume and release in the backend's threads; the
bytes it reads reach the event loop through an Inbox, with back-pressure at HIGH_WATER."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import libvirt

T = TypeVar("T")

CHUNK = 64 * 1024
HIGH_WATER = 256 * 1024  # bytes waiting for read() before the stream is no longer read
_READ = libvirt.VIR_STREAM_EVENT_READABLE | libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP
_WRITE = libvirt.VIR_STREAM_EVENT_WRITABLE


def post(loop: asyncio.AbstractEventLoop, fn: Callable[[], object]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed under a session nobody closed
        loop.call_soon_threadsafe(fn)


def _settle(future: asyncio.Future[T], value: T) -> None:
    if not future.done():  # a writer may have been cancelled
        future.set_result(value)


def settle_all(loop: asyncio.AbstractEventLoop, waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        post(loop, partial(_settle, waiter, None))


class Inbox:
    """What the console printed, waiting for read(); filled from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._full = False  # reached HIGH_WATER since the last take: the stream was paused
        self._ended = False
        self._ready = asyncio.Event()

    def put(self, data: bytes) -> bool:
        """Add bytes; True when the reader has fallen behind (stop reading the stream)."""
        with self._lock:
            wake = not self._buf
            self._buf += data
            self._full = self._full or len(self._buf) >= HIGH_WATER
            full = self._full
        if wake:
            post(self._loop, self._ready.set)
        return full

    def end(self, *, discard: bool = False) -> None:
        """No more data: what waits is still read, unless `discard` (the reader closed the console)."""
        with self._lock:
            self._ended = True
            if discard:
                self._buf.clear()
        post(self._loop, self._ready.set)

    async def get(self) -> tuple[bytes, bool]:
        """Everything waiting (b"" once ended), and whether the stream was paused for it."""
        while True:
            with self._lock:
                if self._buf or self._ended:
                    data, full = bytes(self._buf), self._full
                    self._buf.clear()
                    self._full = False
                    return data, full
            self._ready.clear()
            await self._ready.wait()


class EndOfFile(Exception):
    pass


class Pipe:
    """One console stream. Its callback runs in libvirt's event thread; open, queue, resume and
    release in the backend's threads. `ended` resolves to None (end of file) or the error."""

    def __init__(self, loop: asyncio.AbstractEventLoop, inbox: Inbox) -> None:
        self._loop, self._inbox = loop, inbox
        self._lock = threading.Lock()
        self._stream: Any = None
        self._shut = False
        self._paused = False
        self._eof = False
        self._out = bytearray()
        self._waiters: list[asyncio.Future[None]] = []  # writers waiting for _out to be sent
        self.ended: asyncio.Future[str | None] = loop.create_future()

    def open(self, dom: libvirt.virDomain, flags: int) -> None:
        stream = dom.connect().newStream(libvirt.VIR_STREAM_NONBLOCK)
        dom.openConsole(None, stream, flags)
        with self._lock:
            if not self._shut:  # else released while opening
                try:
                    stream.eventAddCallback(_READ, self._on_event, None)
                    self._stream = stream
                    return
                except libvirt.libvirtError:
                    abort(stream)
                    raise
        abort(stream)

    def _events(self) -> int:
        return (0 if self._paused else _READ) | (_WRITE if self._out else 0)

    def _on_event(self, stream: Any, events: int, _opaque: object) -> None:
        error: str | None = None
        with self._lock:
            if self._shut:
                return
            try:
                if events & _WRITE:
                    self._flush()
                if events & _READ and not self._paused:
                    self._receive()
                stream.eventUpdateCallback(self._events())
                return
            except EndOfFile:
                self._eof = True
            except libvirt.libvirtError as err:
                error = err.get_error_message() or str(err)
            self._shut = True
            with contextlib.suppress(libvirt.libvirtError):
                stream.eventRemoveCallback()
            waiters = self._drop_output()
        settle_all(self._loop, waiters)
        post(self._loop, partial(_settle, self.ended, error))

    def _receive(self) -> None:
        while True:
            data = self._stream.recv(CHUNK)
            if isinstance(data, int):  # -2: nothing more for now
                return
            if not data:
                raise EndOfFile
            if self._inbox.put(data):
                self._paused = True  # until read() catches up and calls resume()
                return

    def _flush(self) -> None:
        while self._out:
            sent = self._stream.send(bytes(self._out[:CHUNK]))
            if sent < 0:  # -2: not now; WRITABLE comes again
                return
            del self._out[:sent]
        settle_all(self._loop, self._drop_output())

    def _drop_output(self) -> list[asyncio.Future[None]]:
        self._out.clear()
        waiters, self._waiters = self._waiters, []
        return waiters

    def queue(self, data: bytes, waiter: asyncio.Future[None]) -> bool:
        """Queue bytes for the event thread to send; False when there is no stream to take them."""
        with self._lock:
            if self._shut or self._stream is None:
                return False
            self._out += data
            try:
                self._stream.eventUpdateCallback(self._events())
            except libvirt.libvirtError:  # broken: the event thread ends it
                del self._out[-len(data):]
                return False
            self._waiters.append(waiter)
            return True

    def resume(self) -> None:
        with self._lock:
            if self._paused and not self._shut and self._stream is not None:
                self._paused = False
                self._stream.eventUpdateCallback(self._events())

    def release(self) -> None:
        """Stop the stream (the VM keeps running); safe to call again."""
        with self._lock:
            self._shut = True
            stream, self._stream = self._stream, None
            waiters = self._drop_output()
        settle_all(self._loop, waiters)
        if stream is None:
            return
        with contextlib.suppress(libvirt.libvirtError):  # already removed when it ended
            stream.eventRemoveCallback()
        if self._eof:
            with contextlib.suppress(libvirt.libvirtError):
                stream.finish()
        else:
            abort(stream)


def abort(stream: Any) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        stream.abort()
