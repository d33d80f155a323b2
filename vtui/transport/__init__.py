"""What backends and the hub need from the way a host is reached. No asyncssh here: it takes a
quarter of a second to import, and a vtui with no remote host never needs it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Protocol

from vtui.errors import HostError
from vtui.model import HostState
from vtui.transport.hostkeys import HostKeyProblem

Trust = Callable[[HostKeyProblem], Awaitable[bool]]  # asks the user whether to accept an unknown key






class HostKeyError(HostError):
    """The host's key is unknown and was not accepted, or it has changed (always refused)."""

    def __init__(self, problem: HostKeyProblem) -> None:
        super().__init__(HostState.UNTRUSTED, problem.sentence())
        self.problem = problem


class HostLink(Protocol):
    """The one connection to a host (vtui.transport.ssh.SshLink), as the hub keeps it."""

    name: str
    target: str
    state: HostState
    reason: str
    latency: float | None
    on_change: Callable[[], None]
    trust: Trust | None

    @property
    def connected(self) -> bool: ...
    async def connect(self) -> None: ...
    async def keep_alive(self) -> None: ...
    async def run(self, command: str) -> str: ...
    def stream(self, command: str) -> AsyncGenerator[bytes, None]: ...
    async def wait_connected(self) -> None: ...
    async def wait_retry(self, delay: float) -> None: ...
    def retry_now(self) -> None: ...
    async def close(self) -> None: ...


class Transport(Protocol):
    """How a backend reaches an engine on another host (vtui.transport.ssh.Forward)."""

    @property
    def link(self) -> HostLink: ...

    @property
    def where(self) -> str:
        """The engine's address as the user knows it, e.g. root@host:/var/run/docker.sock."""
        ...

    async def ready(self) -> None:
        """Make the engine reachable now, or raise HostError."""
        ...
