"""A ~/.ssh/config ProxyCommand run with its stderr kept, not written over the TUI.

asyncssh runs a ProxyCommand with vtui's own stderr, where Textual draws; the command's
complaints (`nc: connect to … failed: No route to host`) would scribble on the screen, and
they are the best explanation of a failed connection. This tunnel keeps them for the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Callable, Sequence
from typing import Any

STDERR_KEEP = 2048  # bytes of the command's last complaints


class ProxyCommandTunnel:
    """Passed to asyncssh as `tunnel=`: asyncssh calls create_connection(factory, host, port)."""

    def __init__(self, command: Sequence[str]) -> None:
        self.command = list(command)
        self._pipe: _Pipe | None = None

    def __str__(self) -> str:
        return shlex.join(self.command)

    @property
    def complaint(self) -> str:
        """The last line the command wrote to stderr; empty if none."""
        lines = self._pipe.stderr.decode("utf-8", "replace").strip().splitlines() if self._pipe else []
        return lines[-1] if lines else ""

    async def create_connection(
        self, session_factory: Callable[[], Any], _host: str, _port: int
    ) -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()
        _, pipe = await loop.subprocess_exec(
            lambda: _Pipe(session_factory()), *self.command,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        self._pipe = pipe
        return pipe, pipe.session

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()

    async def wait_closed(self) -> None:
        if self._pipe is not None:
            await self._pipe.exited.wait()


class _Pipe(asyncio.SubprocessProtocol):
    """The command's stdin and stdout as the SSH connection's transport."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.stderr = b""
        self.exited = asyncio.Event()
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._transport = transport
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        self._stdin = stdin
        self.session.connection_made(self)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            self.session.data_received(data)
        else:
            self.stderr = (self.stderr + data)[-STDERR_KEEP:]

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.session.connection_lost(exc)

    def process_exited(self) -> None:
        if self._closed and self._transport is not None:
            self._transport.close()  # its pipes; the process is reaped already
        self.exited.set()

    # the transport interface the SSH connection uses
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default) if self._transport else default

    def write(self, data: bytes) -> None:
        if not self._closed and self._stdin is not None and not self._stdin.is_closing():
            self._stdin.write(data)

    def is_closing(self) -> bool:
        return self._closed or self._transport is None or self._transport.is_closing()

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        """Kill the command (it may linger on a half-open TCP connection); its pipes close once it has
        exited. Closing the transport at once would reap it from here too (Popen.poll), racing
        asyncio's child watcher, which then logs the pid as an unknown child."""
        if self._closed or self._transport is None:
            return
        self._closed = True
        if self._transport.get_returncode() is None:
            with contextlib.suppress(ProcessLookupError):
                self._transport.kill()
        else:
            self._transport.close()
