"""Counters, rates and history: pure code, no I/O.

Backends report cumulative counters (`Sample`); rates are deltas over time.
A counter that went backwards (the node restarted) gives no rate for that
sample, and a node's first sample gives none either.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Sample:
    """Raw counters of one node at one moment (monotonic seconds)."""

    at: float
    cpu_ns: int | None = None  # cumulative CPU time
    mem_bytes: int | None = None  # gauge
    mem_limit_bytes: int | None = None  # gauge
    disk_read_bytes: int | None = None  # cumulative
    disk_write_bytes: int | None = None
    net_rx_bytes: int | None = None
    net_tx_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class NodeStats:
    """What the user sees: CPU as % of one core (like top), bytes, bytes per second."""

    cpu_percent: float | None = None
    mem_bytes: int | None = None
    mem_limit_bytes: int | None = None
    disk_read_bps: float | None = None
    disk_write_bps: float | None = None
    net_rx_bps: float | None = None
    net_tx_bps: float | None = None

    def to_json(self) -> dict[str, float | int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _rate(before: int | None, after: int | None, seconds: float) -> float | None:
    if before is None or after is None or after < before or seconds <= 0:
        return None  # unknown, or the counter was reset
    return (after - before) / seconds


def rates(prev: Sample | None, cur: Sample) -> NodeStats:
    """Stats from two consecutive samples of the same node."""
    if prev is None:
        return NodeStats(mem_bytes=cur.mem_bytes, mem_limit_bytes=cur.mem_limit_bytes)
    seconds = cur.at - prev.at
    cpu = _rate(prev.cpu_ns, cur.cpu_ns, seconds)
    return NodeStats(
        cpu_percent=None if cpu is None else 100.0 * cpu / NS,
        mem_bytes=cur.mem_bytes,
        mem_limit_bytes=cur.mem_limit_bytes,
        disk_read_bps=_rate(prev.disk_read_bytes, cur.disk_read_bytes, seconds),
        disk_write_bps=_rate(prev.disk_write_bytes, cur.disk_write_bytes, seconds),
        net_rx_bps=_rate(prev.net_rx_bytes, cur.net_rx_bytes, seconds),
        net_tx_bps=_rate(prev.net_tx_bytes, cur.net_tx_bytes, seconds),
    )


def total(stats: Iterable[NodeStats]) -> NodeStats:
    """Sum over nodes; a figure no node reports stays None."""

    def add(name: str) -> float | None:
        values = [v for s in stats_list if (v := getattr(s, name)) is not None]
        return sum(values) if values else None

    stats_list = list(stats)
    mem, limit = add("mem_bytes"), add("mem_limit_bytes")
    return NodeStats(
        cpu_percent=add("cpu_percent"),
        mem_bytes=None if mem is None else int(mem),
        mem_limit_bytes=None if limit is None else int(limit),
        disk_read_bps=add("disk_read_bps"),
        disk_write_bps=add("disk_write_bps"),
        net_rx_bps=add("net_rx_bps"),
        net_tx_bps=add("net_tx_bps"),
    )


HISTORY_FIELDS = ("cpu_percent", "mem_bytes", "disk_read_bps", "disk_write_bps", "net_rx_bps", "net_tx_bps")


class History:
    """The last `length` values of each figure, per node, in compact float arrays."""

    def __init__(self, length: int) -> None:
        self.length = length
        self._series: dict[str, dict[str, array[float]]] = {}

    def add(self, key: str, stats: NodeStats) -> None:
        series = self._series.setdefault(key, {name: array("f") for name in HISTORY_FIELDS})
        for name, values in series.items():
            value = getattr(stats, name)
            values.append(float("nan") if value is None else float(value))
            if len(values) > self.length:
                del values[0]

    def series(self, key: str, name: str) -> list[float]:
        """Known values, oldest first (gaps left out)."""
        values = self._series.get(key, {}).get(name, array("f"))
        return [v for v in values if v == v]

    def keep_only(self, keys: Iterable[str]) -> None:
        wanted = set(keys)
        for key in [k for k in self._series if k not in wanted]:
            del self._series[key]


class StatsBook:
    """Turns successive samples into NodeStats and keeps their history."""

    def __init__(self, history_length: int) -> None:
        self._last: dict[str, Sample] = {}
        self.current: dict[str, NodeStats] = {}
        self.history = History(history_length)

    def record(self, samples: Mapping[str, Sample], owned: Iterable[str] = ()) -> bool:
        """Take one poll's samples; `owned` are the keys this poll was responsible for
        (those without a sample now, e.g. stopped nodes, lose their figures).
        Returns whether anything a user sees changed."""
        gone = [key for key in set(owned) - samples.keys() if key in self._last]
        for key in gone:
            del self._last[key]
            self.current.pop(key, None)
        for key, sample in samples.items():
            stats = rates(self._last.get(key), sample)
            self._last[key] = sample
            self.current[key] = stats
            self.history.add(key, stats)
        return bool(samples or gone)

    def forget_all_but(self, keys: Iterable[str]) -> None:
        """Drop everything about nodes that no longer exist (history stays for stopped ones)."""
        wanted = set(keys)
        for key in [k for k in self._last if k not in wanted]:
            del self._last[key]
            self.current.pop(key, None)
        self.history.keep_only(wanted)
