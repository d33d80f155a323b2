"""One-shot listing of every backend, for `vtui ls` and scripts (no TUI)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from vtui.backends.base import Backend, host_links
from vtui.cli.terminal import columns
from vtui.errors import EngineError
from vtui.model import Node
from vtui.model.format import detail, human_bytes, human_rate, percent
from vtui.model.stats import NodeStats, rates
from vtui.services.hub import SAMPLED_STATES

CONNECT_TIMEOUT = 15.0


@dataclass(frozen=True)
class Listing:
    nodes: list[Node]
    failures: list[EngineError]
    stats: dict[str, NodeStats] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@asynccontextmanager
async def connected(
    backends: Sequence[Backend], connect_timeout: float = CONNECT_TIMEOUT
) -> AsyncIterator[tuple[dict[Backend, list[Node]], list[EngineError]]]:
    """Connect to every backend at once and list its nodes; yields what answered and what did not.
    Every backend is closed on leaving."""

    async def one(backend: Backend) -> list[Node] | EngineError:
        try:
            async with asyncio.timeout(connect_timeout):
                await backend.connect()
                return await backend.list_nodes()
        except EngineError as err:
            return err
        except TimeoutError:
            return backend.unavailable(f"no answer from {backend.where} within {connect_timeout:g} s")

    try:
        results = await asyncio.gather(*(one(b) for b in backends))
        yield ({b: r for b, r in zip(backends, results, strict=True) if isinstance(r, list)},
               [r for r in results if isinstance(r, EngineError)])
    finally:
        await asyncio.gather(*(b.close() for b in backends))
        await asyncio.gather(*(link.close() for link in host_links(backends).values()))  # after their engines


def described(failures: Sequence[EngineError]) -> list[str]:
    """One sentence per host and reason: a host that cannot be reached is said once, not per engine."""
    engines: dict[tuple[str, str], list[str]] = {}
    for failure in failures:
        engines.setdefault((failure.host, failure.reason), []).append(failure.engine)
    return [f"{' and '.join(names)} on {host}: {reason}" for (host, reason), names in engines.items()]


async def list_all(
    backends: Sequence[Backend], connect_timeout: float = CONNECT_TIMEOUT, stats_over: float | None = None
) -> Listing:
    """Every node of every backend that answers; failures are collected, not raised.

    With `stats_over` (seconds), counters are sampled twice that far apart and turned into rates.
    """
    stats: dict[str, NodeStats] = {}
    notes: list[str] = []

    async def figures(backend: Backend, nodes: list[Node]) -> None:
        running = [n for n in nodes if n.state in SAMPLED_STATES]
        first = await backend.sample(running)
        await asyncio.sleep(stats_over or 0)
        second = await backend.sample(running)
        stats.update({key: rates(first.get(key), sample) for key, sample in second.items()})
        if backend.stats_note:
            notes.append(f"{backend.engine} on {backend.host}: {backend.stats_note}")

    async with connected(backends, connect_timeout) as (listed, failures):
        if stats_over is not None:
            await asyncio.gather(*(figures(b, nodes) for b, nodes in listed.items()))
    nodes = sorted((n for ns in listed.values() for n in ns), key=lambda n: (n.host, n.kind, n.name.lower()))
    return Listing(nodes, failures, stats, notes)


HEADERS = ("HOST", "KIND", "NAME", "STATE", "DETAIL", "IMAGE", "VCPUS", "MEMORY")
STATS_HEADERS = ("CPU%", "MEM", "LIMIT", "DISK-R/s", "DISK-W/s", "NET-RX/s", "NET-TX/s")


def table(nodes: Sequence[Node], stats: dict[str, NodeStats] | None = None) -> str:
    """Aligned columns; with `stats`, the figures too (blank where a node has none)."""

    def row(n: Node) -> tuple[str, ...]:
        cells = (n.host, n.kind, n.name, n.state, detail(n), n.image, "" if n.vcpus is None else str(n.vcpus),
                 human_bytes(n.memory_bytes))
        if stats is None:
            return cells
        s = stats.get(n.key, NodeStats())
        return (*cells, percent(s.cpu_percent), human_bytes(s.mem_bytes), human_bytes(s.mem_limit_bytes),
                        human_rate(s.disk_read_bps), human_rate(s.disk_write_bps), human_rate(s.net_rx_bps),
                        human_rate(s.net_tx_bps))

    headers = HEADERS if stats is None else HEADERS + STATS_HEADERS
    return columns([headers] + [row(n) for n in nodes])


def run(args: argparse.Namespace, backends: Sequence[Backend], interval: float) -> int:
    """`vtui ls`: the nodes as a table, or JSON; 1 when an engine did not answer."""
    listing = asyncio.run(list_all(backends, stats_over=interval if args.stats else None))
    for problem in described(listing.failures) + listing.notes:
        print(f"vtui: {problem}", file=sys.stderr)
    if args.json:
        nodes = [n.to_json() | (listing.stats.get(n.key, NodeStats()).to_json() if args.stats else {})
                 for n in listing.nodes]
        json.dump(nodes, sys.stdout, indent=2)
        print()
    else:
        print(table(listing.nodes, listing.stats if args.stats else None))
    return 1 if listing.failures else 0
