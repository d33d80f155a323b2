"""A console: an async byte stream with write and resize, independent of the UI and of
where it runs (a local socket now; a channel of a host's SSH connection later)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from vtui.errors import ConsoleError


@dataclass(frozen=True)
class ConsoleRequest:
    """Which console of a node to open."""

    attach: bool = False  # a container's own terminal (docker attach) instead of a shell
    command: tuple[str, ...] = ()  # a container shell's command; empty: bash if present, else sh
    user: str = ""  # the user a container shell runs as; empty: the container's
    force: bool = False  # take a VM's serial console over from another client


SHELL = ConsoleRequest()  # the default: a VM's serial console, a container's shell


class ConsoleBusy(ConsoleError):
    """Another client holds the console; opening it again with `force` takes it over."""


class NotRunning(ConsoleError):
    """The node is not running, so it has no console to open; the UI may offer to start it."""


class ConsoleSession(ABC):
    title: str = ""

    @abstractmethod
    async def read(self) -> bytes:
        """The next bytes the console printed; b"" once it has ended."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Keys typed into the console."""

    @abstractmethod
    async def resize(self, rows: int, cols: int) -> None:
        """Tell the other end the terminal's size (a shell sees it in `stty size`); ConsoleError if it cannot."""

    @abstractmethod
    async def close(self) -> None:
        """Leave the console; the node keeps running."""


class ViewOnly(ConsoleSession):
    """A console in read-only mode: its output, but no keys reach the node."""

    def __init__(self, session: ConsoleSession) -> None:
        self._session = session
        self.title = session.title

    async def read(self) -> bytes:
        return await self._session.read()

    async def write(self, data: bytes) -> None:
        raise ConsoleError(f"read-only mode: the console of {self.title!r} shows its output only; keys are not sent")

    async def resize(self, rows: int, cols: int) -> None:
        await self._session.resize(rows, cols)

    async def close(self) -> None:
        await self._session.close()
