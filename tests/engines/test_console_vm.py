"""A VM's serial console against real copies of the test VM (never the test VM itself: others use it)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Callable, Iterator

import libvirt
import pytest

from tests.conftest import SYSTEM_URI, define_copy, discard, vm_template
from tests.engines.test_console import answer
from vtui.backends.libvirt import LibvirtBackend
from vtui.backends.libvirt_events import ensure_event_loop
from vtui.console.libvirt_serial import NoSerialConsole
from vtui.console.session import SHELL, ConsoleBusy, ConsoleRequest, ConsoleSession, NotRunning
from vtui.model import Node

PROMPT = b"/ # "
FORCE = ConsoleRequest(force=True)
Copy = Callable[..., libvirt.virDomain]


@pytest.fixture
def vm_copy(bed_vm: str) -> Iterator[Copy]:
    """Defines copies of the test VM named vtui-console-…; destroys and undefines them afterwards."""
    ensure_event_loop()
    conn = libvirt.open(SYSTEM_URI)
    made: list[libvirt.virDomain] = []

    def copy(role: str, *, start: bool = True, serial: bool = True) -> libvirt.virDomain:
        xml = vm_template()
        if not serial:
            xml = re.sub(r"<serial .*?</serial>\s*<console .*?</console>", "", xml, flags=re.S)
        dom = define_copy(conn, xml, f"vtui-console-{role}-{uuid.uuid4().hex[:6]}")
        made.append(dom)
        if start:
            dom.create()
        return dom

    yield copy
    discard(made)
    conn.close()


async def node_of(backend: LibvirtBackend, dom: libvirt.virDomain) -> Node:
    return next(n for n in await backend.list_nodes() if n.name == dom.name())


async def read_until(session: ConsoleSession, expected: bytes, timeout: float = 15) -> bytes:
    seen = b""
    async with asyncio.timeout(timeout):
        while expected not in seen:
            if not (chunk := await session.read()):
                pytest.fail(f"the console ended; it printed {seen[-500:]!r}")
            seen += chunk
    return seen


async def read_to_end(session: ConsoleSession, timeout: float = 10) -> bytes:
    seen = b""
    async with asyncio.timeout(timeout):
        while chunk := await session.read():
            seen += chunk
    return seen


async def prompt(session: ConsoleSession, timeout: float = 30) -> None:
    """Press enter until the guest's shell prompt shows (it boots in ~4 s)."""
    async with asyncio.timeout(timeout):
        while True:
            await session.write(b"\r")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(read_until(session, PROMPT), 1)
                return


async def test_console_computes_survives_a_reboot_and_close_leaves_the_vm_running(
    vm_copy: Copy, libvirt_backend: LibvirtBackend
) -> None:
    dom = vm_copy("reboot")
    session = await libvirt_backend.open_console(await node_of(libvirt_backend, dom))
    try:
        assert session.title == dom.name()
        await prompt(session)
        await answer(session, b"echo $((6*7))\r", b"42")
        await session.resize(40, 120)  # nothing to do on a serial line, and no harm
        first = dom.ID()
        await session.write(b"reboot -f\r")  # the guest reboots inside the same QEMU process
        await read_until(session, b"Linux version")
        await prompt(session)
        await answer(session, b"echo $((6*7))\r", b"42")
        await asyncio.to_thread(dom.reset, 0)
        await read_until(session, b"Linux version", timeout=30)
        await prompt(session)
        assert dom.ID() == first
    finally:
        await session.close()
        await session.close()
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert await session.read() == b""


async def test_a_held_console_is_busy_until_taken_over(vm_copy: Copy, libvirt_backend: LibvirtBackend) -> None:
    dom = vm_copy("busy")
    node = await node_of(libvirt_backend, dom)
    first = await libvirt_backend.open_console(node)
    try:
        with pytest.raises(ConsoleBusy, match=f"the serial console of '{dom.name()}' is in use by another client"):
            await libvirt_backend.open_console(node)
        second = await libvirt_backend.open_console(node, FORCE)
        try:
            assert b"another client took over the console" in await read_to_end(first)
            await prompt(second)
            await answer(second, b"echo $((6*7))\r", b"42")
        finally:
            await second.close()
    finally:
        await first.close()


async def test_the_console_follows_the_vm_through_destroy_and_start_until_undefined(
    vm_copy: Copy, libvirt_backend: LibvirtBackend
) -> None:
    dom = vm_copy("restart")
    node = await node_of(libvirt_backend, dom)
    session = await libvirt_backend.open_console(node)
    try:
        await prompt(session)
        await asyncio.to_thread(dom.destroy)
        await read_until(session, f"{dom.name()} is shut off (destroyed); the console reopens".encode())
        await asyncio.to_thread(dom.create)
        await read_until(session, f"{dom.name()} started; console reopened".encode())
        await prompt(session)
        await answer(session, b"echo $((6*7))\r", b"42")
        await asyncio.to_thread(dom.destroy)
        await read_until(session, b"the console reopens when it starts")
        async with asyncio.timeout(5):  # closing while it waits for the VM returns, not when the VM starts
            await session.close()
    finally:
        await session.close()
    await asyncio.to_thread(dom.create)
    session = await libvirt_backend.open_console(node)
    try:
        await asyncio.to_thread(dom.destroy)
        await asyncio.to_thread(dom.undefine)
        assert f"{dom.name()} was undefined; the console is closed".encode() in await read_to_end(session)
    finally:
        await session.close()


async def test_a_vm_that_does_not_run_or_has_no_serial_port_has_no_console(
    vm_copy: Copy, libvirt_backend: LibvirtBackend
) -> None:
    off = vm_copy("off", start=False)
    with pytest.raises(NotRunning, match=f"'{off.name()}' is shut off"):
        await libvirt_backend.open_console(await node_of(libvirt_backend, off), SHELL)
    bare = vm_copy("bare", serial=False)
    with pytest.raises(NoSerialConsole, match="has no serial console"):
        await libvirt_backend.open_console(await node_of(libvirt_backend, bare))
