"""Console sessions against real engines: type into them and read the answer back."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Containers
from vtui.backends.docker import DockerBackend
from vtui.console.session import ConsoleError, ConsoleSession

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
        session = await backend.open_shell(node)
        try:
            await answer(session, b"echo $((6*7))\r", b"42")
            await session.resize(31, 101)
            await answer(session, b"stty size\r", b"31 101")
        finally:
            await session.close()
        stopped = containers.run("exit 0")
        stopped.handle.wait()
        node = next(n for n in await backend.list_nodes() if n.id == stopped.id)
        with pytest.raises(ConsoleError, match="a shell needs a running container"):
            await backend.open_shell(node)
    finally:
        await backend.close()
