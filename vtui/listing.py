"""One-shot listing of every backend, for `vtui ls` and scripts (no TUI)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from vtui.backends import Backend, EngineUnavailable
from vtui.format import detail, human_bytes
from vtui.model import Node

CONNECT_TIMEOUT = 15.0


@dataclass(frozen=True)
class Listing:
    nodes: list[Node]
    failures: list[EngineUnavailable]


async def list_all(backends: Sequence[Backend], connect_timeout: float = CONNECT_TIMEOUT) -> Listing:
    """Connect to every backend at once and list what answers; failures are collected, not raised."""

    async def one(backend: Backend) -> list[Node] | EngineUnavailable:
        try:
            async with asyncio.timeout(connect_timeout):
                await backend.connect()
                return await backend.list_nodes()
        except EngineUnavailable as err:
            return err
        except TimeoutError:
            return backend.unavailable(f"no answer from {backend.target} within {connect_timeout:g} s")
        finally:
            await backend.close()

    results = await asyncio.gather(*(one(b) for b in backends))
    nodes = [n for r in results if isinstance(r, list) for n in r]
    nodes.sort(key=lambda n: (n.host, n.kind, n.name.lower()))
    return Listing(nodes, [r for r in results if isinstance(r, EngineUnavailable)])


HEADERS = ("HOST", "KIND", "NAME", "STATE", "DETAIL", "IMAGE", "VCPUS", "MEMORY")


def table(nodes: Sequence[Node]) -> str:
    rows = [HEADERS] + [
        (n.host, n.kind, n.name, n.state, detail(n), n.image, "" if n.vcpus is None else str(n.vcpus),
         human_bytes(n.memory_bytes))
        for n in nodes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
