"""Captures in the links service: the packets one end of a link sees, as a pcap stream (the CLI's
`link capture`) or into a file in the background (the TUI's `c`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from vtui.errors import LinkError, VtuiError
from vtui.links.service import LinkService
from vtui.net.book import LinkRecord
from vtui.net.kinds import kind_named


class Captures(LinkService):
    captures: dict[str, tuple[asyncio.Task[None], Path]]  # by link id: the TUI's pcap files

    def _init_captures(self) -> None:
        self.captures = {}

    async def capture(self, record: LinkRecord, side: str, count: int | None = None) -> AsyncIterator[bytes]:
        """The packets one end sees, as a pcap stream (a reading: allowed in read-only mode)."""
        end = await kind_named(record.kind).end(self, record, side)
        async for chunk in self.executor(record.end(side).host).capture(end, count):
            yield chunk

    def start_capture(self, record: LinkRecord, side: str, path: Path, told: Callable[[str], None]) -> None:
        """Capture one end into a pcap file in the background, until stop_capture (the TUI's `c`);
        `told` gets a sentence when it ends."""
        if record.id in self.captures:
            raise LinkError(f"link {record.id} is being captured already, to {self.captures[record.id][1]}")

        async def run() -> None:
            try:
                with path.open("wb") as out:
                    async for chunk in self.capture(record, side):
                        out.write(chunk)
                        out.flush()
                told(f"capture of link {record.id} ended: {path}")
            except asyncio.CancelledError:
                told(f"capture of link {record.id} stopped: {path} ({_size(path)})")
                raise
            except (VtuiError, OSError) as err:
                told(f"capture of link {record.id}: {err}")
            finally:
                self.captures.pop(record.id, None)

        self.captures[record.id] = (asyncio.create_task(run(), name=f"capture-{record.id}"), path)

    def stop_capture(self, link_id: str) -> bool:
        running = self.captures.get(link_id)
        if running is not None:
            running[0].cancel()
        return running is not None


def _size(path: Path) -> str:
    try:
        return f"{path.stat().st_size} bytes"
    except OSError:
        return "not written"
