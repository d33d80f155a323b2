"""A VM's serial console: libvirt console streams, reopened whenever the VM's QEMU process is replaced.

Stream I/O runs in libvirt's event thread (vtui.backends.libvirt_events); other blocking
libvirt calls run in the backend's threads. Bytes reach the asyncio loop through an inbox
(vtui.console.libvirt_stream: the stream in asyncio's terms).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

import libvirt

from vtui.console.libvirt_stream import Inbox, Pipe, post
from vtui.console.session import ConsoleBusy, ConsoleSession, NotRunning
from vtui.errors import ConsoleError

T = TypeVar("T")

POLL = 0.5  # seconds between looks at a stopped VM (lifecycle events usually come first)
STUCK = 5.0  # seconds a stream may end before QEMU is seen gone (destroy takes ~2 s)


class NoSerialConsole(ConsoleError):
    """The VM's definition has no serial console."""


Words = Callable[[int, int], str]  # a libvirt (state, reason) as a phrase: 'shut off (destroyed)'


class Call(Protocol):
    """Runs a blocking call in the backend's threads (LibvirtBackend._call)."""

    def __call__(self, fn: Callable[..., T], /, *args: object) -> Awaitable[T]: ...


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
        self._inbox = Inbox(self._loop)
        self._pipe: Pipe | None = None
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
        pipe = Pipe(self._loop, self._inbox)
        self._pipe = pipe  # set first: close() releases it even while it opens
        try:
            self._dom_id = await self._call(self._open, pipe, force)
        except ConsoleError:
            self._pipe = None
            raise

    def _open(self, pipe: Pipe, force: bool) -> int:
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
            post(self._loop, changed.set)

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
