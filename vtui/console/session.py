"""A console: an async byte stream with write and resize, independent of the UI and of
where it runs (a local socket now; a channel of a host's SSH connection later)."""

from __future__ import annotations

from abc import ABC, abstractmethod


class ConsoleError(Exception):
    """A console that cannot be opened or was lost; the message says why."""


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
        """Tell the other end the terminal's size (a shell sees it in `stty size`)."""

    @abstractmethod
    async def close(self) -> None:
        """Leave the console; the node keeps running."""
