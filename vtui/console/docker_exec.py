"""A shell in a container: docker exec with a TTY, over the daemon's socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence
from typing import Any

from vtui.console.session import ConsoleError, ConsoleSession

# bash when the image has it, else sh: busybox and distroless-ish images have no bash
DEFAULT_SHELL = ("/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi")


class DockerExecSession(ConsoleSession):
    """Opened with `await DockerExecSession.open(api, call, container_id, …)`."""

    def __init__(self, api: Any, call: Any, exec_id: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, title: str) -> None:
        self._api, self._call, self._exec_id = api, call, exec_id
        self._reader, self._writer = reader, writer
        self.title = title

    @classmethod
    async def open(cls, api: Any, call: Any, container_id: str, title: str,
                   command: Sequence[str] = DEFAULT_SHELL, user: str = "") -> DockerExecSession:
        """`api` is a docker APIClient and `call` runs a blocking call in the backend's threads."""

        def start() -> tuple[str, socket.socket]:
            exec_id = api.exec_create(container_id, list(command), stdin=True, tty=True, user=user,
                                      environment={"TERM": "xterm-256color"})["Id"]
            raw = api.exec_start(exec_id, tty=True, socket=True)
            return exec_id, getattr(raw, "_sock", raw)  # docker-py hands back a SocketIO around the socket

        try:
            exec_id, sock = await call(start)
        except Exception as err:
            raise ConsoleError(f"cannot open a shell in {title!r}: {getattr(err, 'explanation', None) or err}") from err
        sock.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(api, call, exec_id, reader, writer, title)

    async def read(self) -> bytes:
        try:
            return await self._reader.read(1 << 16)
        except ConnectionError:
            return b""

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def resize(self, rows: int, cols: int) -> None:
        await self._call(self._api.exec_resize, self._exec_id, rows, cols)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
