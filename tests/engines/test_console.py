"""Console sessions against real engines: type into them and read the answer back."""

from __future__ import annotations

import asyncio
import gc
import uuid

import pytest

from tests.conftest import TEST_IMAGE, TEST_LABELS, Containers, TestContainer, open_fds
from vtui.backends.docker import DockerBackend
from vtui.console.session import ConsoleRequest, ConsoleSession, NotRunning
from vtui.errors import ConsoleError

SOCKET = "unix:///var/run/docker.sock"


async def answer(session: ConsoleSession, typed: bytes, expected: bytes, timeout: float = 10) -> bytes:
    """Type `typed` and read until `expected` comes back; everything read, for the message."""
    await session.write(typed)
    seen = b""
    async with asyncio.timeout(timeout):
        while expected not in seen:
            chunk = await session.read()
            if not chunk:
                pytest.fail(f"the console ended; it printed {seen!r}")
            seen += chunk
    return seen


async def test_container_shell_computes_and_sees_a_resize(containers: Containers) -> None:
    box = containers.run()
    backend = DockerBackend("local", SOCKET)
    await backend.connect()
    try:
        node = next(n for n in await backend.list_nodes() if n.id == box.id)
        session = await backend.open_console(node)
        try:
            await answer(session, b"echo $((6*7))\r", b"42")
            await session.resize(31, 101)
            await answer(session, b"stty size\r", b"31 101")
        finally:
            await session.close()
        stopped = containers.run("exit 0")
        stopped.handle.wait()
        node = next(n for n in await backend.list_nodes() if n.id == stopped.id)
        with pytest.raises(NotRunning, match="a shell needs a running container"):
            await backend.open_console(node)
    finally:
        await backend.close()


def interactive(containers: Containers) -> TestContainer:
    """A container made as `docker run -it IMAGE sh` makes it (StdinOnce)."""
    api = containers.client.api
    made = api.create_container(TEST_IMAGE, ["sh"], tty=True, stdin_open=True,  # detach=False: StdinOnce
                                labels=TEST_LABELS, name=f"vtui-t-{uuid.uuid4().hex[:8]}")
    container = containers.client.containers.get(made["Id"])
    containers.made.append(container)
    container.start()
    return TestContainer(str(container.name), str(container.id), container)


async def test_attach_to_a_containers_terminal_and_detach_leaves_it_running(containers: Containers) -> None:
    box = interactive(containers)
    ticker = containers.run("while true; do echo tick; sleep 0.2; done")  # no TTY, no stdin
    backend = DockerBackend("local", SOCKET)
    await backend.connect()
    try:
        nodes = {n.id: n for n in await backend.list_nodes()}
        session = await backend.open_console(nodes[box.id], ConsoleRequest(attach=True))
        await answer(session, b"echo $((6*7))\r", b"42")
        await session.resize(27, 99)
        await answer(session, b"stty size\r", b"27 99")
        await session.close()
        await session.close()  # twice is harmless
        box.handle.reload()
        assert box.handle.status == "running", "detaching must not end the container's shell"
        again = await backend.open_console(nodes[box.id], ConsoleRequest(attach=True))
        await answer(again, b"echo still here\r", b"still here")
        await again.close()

        output = await backend.open_console(nodes[ticker.id], ConsoleRequest(attach=True))
        seen = await answer(output, b"", b"tick\r\ntick")  # demultiplexed, line ends for a terminal
        assert b"\x00" not in seen, "frame headers must not leak into the output"
        await output.close()
    finally:
        await backend.close()


async def test_read_only_mode_shows_output_but_sends_no_keys(containers: Containers) -> None:
    box = interactive(containers)
    backend = DockerBackend("local", SOCKET, read_only=True)
    await backend.connect()
    try:
        node = next(n for n in await backend.list_nodes() if n.id == box.id)
        with pytest.raises(ConsoleError, match="read-only mode: refused to open a shell"):
            await backend.open_console(node)
        session = await backend.open_console(node, ConsoleRequest(attach=True))
        try:
            with pytest.raises(ConsoleError, match="keys are not sent"):
                await session.write(b"touch /typed\r")
        finally:
            await session.close()
        assert box.handle.exec_run("ls /typed").exit_code != 0, "no key may reach the container"
    finally:
        await backend.close()


async def test_closing_a_container_console_closes_its_connection_at_once(containers: Containers) -> None:
    box = interactive(containers)
    backend = DockerBackend("local", SOCKET)
    await backend.connect()
    gc.disable()  # the descriptor must close with the console, not when the collector runs
    try:
        node = next(n for n in await backend.list_nodes() if n.id == box.id)
        for request in (ConsoleRequest(), ConsoleRequest(attach=True)):
            await (await backend.open_console(node, request)).close()  # warms the client's connection pool
            baseline = open_fds()
            for _ in range(3):
                session = await backend.open_console(node, request)
                await answer(session, b"echo $((6*7))\r", b"42")
                await session.close()
            assert open_fds() == baseline, f"{request}: a console left its connection open"
    finally:
        gc.enable()
        await backend.close()
