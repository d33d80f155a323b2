"""Container consoles over the daemon's socket: a shell (docker exec with a TTY) or the
container's own terminal (docker attach)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from vtui.console.session import ConsoleSession
from vtui.errors import ConsoleError

# bash when the image has it, else sh: busybox and distroless-ish images have no bash
DEFAULT_SHELL = ("/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi")

# Detach keys of our attach sessions: ctrl+], which vtui never sends to a console (it is the escape
# key). Docker's default, ctrl+p ctrl+q, would hold back every ctrl+p a user types in bash or
# emacs; close() sends ctrl+] to detach the way docker's own client does.
DETACH = b"\x1d"
SETTLE = 2.0  # seconds after an exec starts during which a resize is sent twice

Resize = Callable[[int, int], Awaitable[None]]


class DockerStreamSession(ConsoleSession):
    """A console on a hijacked daemon connection; opened by `open_exec` or `open_attach`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, title: str,
                 resize: Resize, *, framed: bool = False, detach: bytes = b"") -> None:
        self._reader, self._writer = reader, writer
        self._resize, self._framed, self._detach = resize, framed, detach
        self.title = title

    async def read(self) -> bytes:
        try:
            return await (self._read_frame() if self._framed else self._reader.read(1 << 16))
        except (ConnectionError, asyncio.IncompleteReadError):
            return b""

    async def _read_frame(self) -> bytes:
        """Without a TTY the daemon multiplexes stdout and stderr: an 8-byte header per frame."""
        header = await self._reader.readexactly(8)
        data = await self._reader.readexactly(int.from_bytes(header[4:], "big"))
        return data.replace(b"\n", b"\r\n")  # no TTY translates line ends for the terminal

    async def write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError) as err:
            raise ConsoleError(f"the console of {self.title!r} is closed; keys are not sent") from err

    async def resize(self, rows: int, cols: int) -> None:
        await self._resize(rows, cols)

    async def close(self) -> None:
        if self._writer.is_closing():
            return
        with contextlib.suppress(ConnectionError, OSError):
            self._writer.write(self._detach)
            self._writer.close()
            await self._writer.wait_closed()


async def _stream(sock: socket.socket) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock.setblocking(False)
    return await asyncio.open_connection(sock=sock)


def _socket_of(raw: Any) -> socket.socket:
    """The hijacked connection as a socket of our own. docker-py hands back a SocketIO whose
    socket its HTTP response still reads through; closing that socket would leave the descriptor
    open until the garbage collector finds the response, so the descriptor is taken from it."""
    inner: socket.socket = getattr(raw, "_sock", raw)
    return socket.socket(inner.family, inner.type, fileno=inner.detach())


def _reason(err: Exception) -> str:
    return str(getattr(err, "explanation", None) or err)


async def open_exec(api: Any, call: Any, container_id: str, title: str,
                    command: Sequence[str] = DEFAULT_SHELL, user: str = "") -> DockerStreamSession:
    """A shell in a running container. `api` is a docker APIClient; `call` runs a blocking call
    in the backend's threads."""

    def start() -> tuple[str, socket.socket]:
        exec_id = api.exec_create(container_id, list(command), stdin=True, tty=True, user=user,
                                  environment={"TERM": "xterm-256color"})["Id"]
        return exec_id, _socket_of(api.exec_start(exec_id, tty=True, socket=True))

    try:
        exec_id, sock = await call(start)
    except Exception as err:
        raise ConsoleError(f"cannot open a shell in {title!r}: {_reason(err)}") from err

    started = time.monotonic()

    async def resize(rows: int, cols: int) -> None:
        try:
            await call(api.exec_resize, exec_id, rows, cols)
            if time.monotonic() - started < SETTLE:  # just after the start a resize can be lost (moby#31223)
                await asyncio.sleep(0.25)
                await call(api.exec_resize, exec_id, rows, cols)
        except Exception as err:
            raise ConsoleError(f"cannot resize the shell in {title!r}: {_reason(err)}") from err

    reader, writer = await _stream(sock)
    return DockerStreamSession(reader, writer, title, resize)


async def open_attach(api: Any, call: Any, container_id: str, title: str) -> DockerStreamSession:
    """The container's own stdin/stdout, as `docker attach` (with our detach key)."""

    def start() -> tuple[dict[str, Any], socket.socket]:
        config = api.inspect_container(container_id)["Config"]
        params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "detachKeys": "ctrl-]"}
        return config, _socket_of(api.attach_socket(container_id, params=params))

    try:
        config, sock = await call(start)
    except Exception as err:
        raise ConsoleError(f"cannot attach to {title!r}: {_reason(err)}") from err
    tty = bool(config.get("Tty"))

    async def resize(rows: int, cols: int) -> None:
        if not tty:  # a container without a terminal has no size
            return
        try:
            await call(lambda: api.resize(container_id, height=rows, width=cols))
        except Exception as err:
            raise ConsoleError(f"cannot resize the terminal of {title!r}: {_reason(err)}") from err

    reader, writer = await _stream(sock)
    return DockerStreamSession(reader, writer, title, resize, framed=not tty,
                               detach=DETACH if config.get("OpenStdin") else b"")
