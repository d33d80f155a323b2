"""A VM's serial console: libvirt console streams, reopened whenever the VM's QEMU process is replaced.

Stream I/O runs in libvirt's event thread (vtui.backends.libvirt_events); other blocking
libvirt calls run in the backend's threads. Bytes reach the asyncio loop through an inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, Protocol, TypeVar

import libvirt

from vtui.console.session import ConsoleBusy, ConsoleSession, NotRunning
from vtui.errors import ConsoleError

T = TypeVar("T")

CHUNK = 64 * 1024
HIGH_WATER = 256 * 1024  # bytes waiting for read() before the stream is no longer read
POLL = 0.5  # seconds between looks at a stopped VM (lifecycle events usually come first)
STUCK = 5.0  # seconds a stream may end before QEMU is seen gone (destroy takes ~2 s)
_READ = libvirt.VIR_STREAM_EVENT_READABLE | libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP
_WRITE = libvirt.VIR_STREAM_EVENT_WRITABLE


class NoSerialConsole(ConsoleError):
    """The VM's definition has no serial console."""


Words = Callable[[int, int], str]  # a libvirt (state, reason) as a phrase: 'shut off (destroyed)'


class Call(Protocol):
    """Runs a blocking call in the backend's threads (LibvirtBackend._call)."""

    def __call__(self, fn: Callable[..., T], /, *args: object) -> Awaitable[T]: ...


def _post(loop: asyncio.AbstractEventLoop, fn: Callable[[], object]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed under a session nobody closed
        loop.call_soon_threadsafe(fn)


def _settle(future: asyncio.Future[T], value: T) -> None:
    if not future.done():  # a writer may have been cancelled
        future.set_result(value)


def _settle_all(loop: asyncio.AbstractEventLoop, waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        _post(loop, partial(_settle, waiter, None))


class _Inbox:
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
            _post(self._loop, self._ready.set)
        return full

    def end(self, *, discard: bool = False) -> None:
        """No more data: what waits is still read, unless `discard` (the reader closed the console)."""
        with self._lock:
            self._ended = True
            if discard:
                self._buf.clear()
        _post(self._loop, self._ready.set)

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


class _EndOfFile(Exception):
    pass


class _Pipe:
    """One console stream. Its callback runs in libvirt's event thread; open, queue, resume and
    release in the backend's threads. `ended` resolves to None (end of file) or the error."""

    def __init__(self, loop: asyncio.AbstractEventLoop, inbox: _Inbox) -> None:
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
                    _abort(stream)
                    raise
        _abort(stream)

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
            except _EndOfFile:
                self._eof = True
            except libvirt.libvirtError as err:
                error = err.get_error_message() or str(err)
            self._shut = True
            with contextlib.suppress(libvirt.libvirtError):
                stream.eventRemoveCallback()
            waiters = self._drop_output()
        _settle_all(self._loop, waiters)
        _post(self._loop, partial(_settle, self.ended, error))

    def _receive(self) -> None:
        while True:
            data = self._stream.recv(CHUNK)
            if isinstance(data, int):  # -2: nothing more for now
                return
            if not data:
                raise _EndOfFile
            if self._inbox.put(data):
                self._paused = True  # until read() catches up and calls resume()
                return

    def _flush(self) -> None:
        while self._out:
            sent = self._stream.send(bytes(self._out[:CHUNK]))
            if sent < 0:  # -2: not now; WRITABLE comes again
                return
            del self._out[:sent]
        _settle_all(self._loop, self._drop_output())

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
        _settle_all(self._loop, waiters)
        if stream is None:
            return
        with contextlib.suppress(libvirt.libvirtError):  # already removed when it ended
            stream.eventRemoveCallback()
        if self._eof:
            with contextlib.suppress(libvirt.libvirtError):
                stream.finish()
        else:
            _abort(stream)


class LibvirtSerialSession(ConsoleSession):
    """A VM's serial console that lasts across reboots and restarts of the VM.

    When QEMU goes away (destroy, shutdown) a notice is printed and the console reopens once
    the VM runs again; it ends (a notice, then b"") when another client takes the console over,
    the VM is undefined, or libvirt is lost. Keys typed while the VM is off are dropped.
    Opened with `await LibvirtSerialSession.open(conn, call, uuid, name)`.
    """

    def __init__(self, conn: libvirt.virConnect, call: Call, dom: libvirt.virDomain, title: str, words: Words) -> None:
        self._conn, self._call, self._dom, self._words = conn, call, dom, words
        self.title = title
        self._loop = asyncio.get_running_loop()
        self._inbox = _Inbox(self._loop)
        self._pipe: _Pipe | None = None
        self._dom_id = -1  # the QEMU run the stream belongs to
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(cls, conn: libvirt.virConnect, call: Call, uuid: str, name: str, words: Words,
                   *, force: bool = False) -> LibvirtSerialSession:
        """`words` tells the VM's state in the notices. Raises ConsoleBusy, NotRunning, NoSerialConsole
        or ConsoleError."""

        def lookup() -> libvirt.virDomain:
            try:
                return conn.lookupByUUIDString(uuid)
            except libvirt.libvirtError as err:
                raise _refusal(name, err) from err

        session = cls(conn, call, await call(lookup), name, words)
        try:
            await session._attach(force)
        except BaseException:
            await session.close()  # cancelled while opening: the stream opened later is let go
            raise
        session._task = asyncio.create_task(session._follow(), name=f"console {name}")
        return session

    async def read(self) -> bytes:
        data, paused = await self._inbox.get()
        if paused and self._pipe is not None:
            await self._call(self._pipe.resume)
        return data

    async def write(self, data: bytes) -> None:
        pipe = self._pipe
        if pipe is None or not data:
            return
        sent = self._loop.create_future()
        if await self._call(pipe.queue, data, sent):
            await sent

    async def resize(self, rows: int, cols: int) -> None:
        """Nothing to do: a serial line carries no window size (the guest can run `stty rows R cols C`)."""

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            await self._call(pipe.release)
        self._inbox.end(discard=True)  # closed: a read after close() ends at once

    def _notice(self, text: str) -> None:
        self._inbox.put(f"\r\n[vtui: {text}]\r\n".encode())

    async def _attach(self, force: bool) -> None:
        pipe = _Pipe(self._loop, self._inbox)
        self._pipe = pipe  # set first: close() releases it even while it opens
        try:
            self._dom_id = await self._call(self._open, pipe, force)
        except ConsoleError:
            self._pipe = None
            raise

    def _open(self, pipe: _Pipe, force: bool) -> int:
        """Open the console into `pipe` (in a backend thread); the domain ID it belongs to."""
        found = self._look()
        if found is None:
            raise ConsoleError(f"{self.title!r} no longer exists")
        dom, dom_id, words = found
        if dom_id < 0:
            raise NotRunning(f"{self.title!r} is {words}: it has a console only while it runs")
        try:
            pipe.open(dom, libvirt.VIR_DOMAIN_CONSOLE_FORCE if force else 0)
        except libvirt.libvirtError as err:
            raise _refusal(self.title, err) from err
        return dom_id

    def _probe(self) -> tuple[int, str] | None:
        found = self._look()
        return None if found is None else found[1:]

    def _look(self) -> tuple[libvirt.virDomain, int, str] | None:
        """The domain as it is now: (domain, its ID or -1 when it does not run, its state in words);
        None once undefined. Looked up afresh: a virDomain keeps the ID it was looked up with."""
        try:
            dom = self._conn.lookupByUUIDString(self._dom.UUIDString())
            state, reason = dom.state()
            return dom, int(dom.ID()), self._words(state, reason)
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise ConsoleError(f"lost libvirt: {err.get_error_message() or err}") from err

    async def _follow(self) -> None:
        """Wait for each stream to end and open the next one, until that cannot be done."""
        try:
            while (pipe := self._pipe) is not None:
                error = await pipe.ended
                self._pipe = None
                await self._call(pipe.release)
                if not await self._reopen(error):
                    return
        except ConsoleError as err:
            self._notice(f"the console of {self.title} ended: {err}")
        finally:
            self._inbox.end()

    async def _reopen(self, error: str | None) -> bool:
        """After a stream ended with `error` (None: end of file): attach to the VM's next run, or to
        this run again (a broken stream). False, after a notice, when the session is over."""
        told = False
        started = self._loop.time()
        async with self._lifecycle() as changed:
            while True:
                probe = await self._call(self._probe)
                if probe is None:
                    self._notice(f"{self.title} was undefined; the console is closed")
                    return False
                dom_id, words = probe
                if dom_id != self._dom_id and not told:
                    state = f"is {words}" if dom_id < 0 else "stopped"  # or started again already
                    self._notice(f"{self.title} {state}; the console reopens when it starts")
                    told = True
                # QEMU is reaped seconds after its stream ends: wait for that unless the stream broke
                same_run = dom_id == self._dom_id and (error is not None or self._loop.time() - started > STUCK)
                if dom_id >= 0 and (told or same_run):
                    try:
                        await self._attach(force=False)
                        self._notice(f"{self.title} started; console reopened" if told
                                     else f"the console of {self.title} broke ({error or 'end of file'}); reopened")
                        return True
                    except ConsoleBusy:
                        self._notice(f"another client took over the console of {self.title}; "
                                     "this one is closed")
                        return False
                    except NotRunning:
                        pass  # stopped again meanwhile
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), POLL)

    @contextlib.asynccontextmanager
    async def _lifecycle(self) -> AsyncIterator[asyncio.Event]:
        """An event set on each lifecycle event of the VM (never, on drivers without events)."""
        changed = asyncio.Event()

        def on_event(_conn: object, _dom: object, _event: int, _detail: int, _opaque: object) -> None:
            _post(self._loop, changed.set)

        def register() -> int | None:
            with contextlib.suppress(libvirt.libvirtError):
                return int(self._conn.domainEventRegisterAny(
                    self._dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_event, None))
            return None

        def deregister(handle: int) -> None:
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.domainEventDeregisterAny(handle)

        handle = await self._call(register)
        try:
            yield changed
        finally:
            if handle is not None:
                await self._call(deregister, handle)


def _abort(stream: Any) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        stream.abort()


def _refusal(name: str, err: libvirt.libvirtError) -> ConsoleError:
    """libvirt's refusal to open a console, as the error the UI acts on."""
    code, msg = err.get_error_code(), err.get_error_message() or str(err)
    if code == libvirt.VIR_ERR_OPERATION_FAILED and "Active console session" in msg:
        return ConsoleBusy(f"the serial console of {name!r} is in use by another client (e.g. virsh console)")
    if code == libvirt.VIR_ERR_OPERATION_INVALID and "not running" in msg:
        return NotRunning(f"{name!r} is not running: it has a console only while it runs")
    if code == libvirt.VIR_ERR_NO_DOMAIN:
        return ConsoleError(f"{name!r} no longer exists")
    if "cannot find character device" in msg:
        return NoSerialConsole(f"{name!r} has no serial console (its definition has no <serial> or <console> "
                               "device)")
    return ConsoleError(f"cannot open the console of {name!r}: {msg}")
