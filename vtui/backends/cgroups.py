"""Container counters from the kernel's own files (cgroup v1 and v2, /proc/PID/net/dev).

Parsing works on file texts, so the same code serves a local read and (later)
one command over a remote host's SSH connection. One pass per poll reads a
handful of small files per container; no call to dockerd.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vtui.stats import Sample

UNLIMITED = 1 << 62  # v1 reports "no limit" as a huge number near 2**63


@dataclass(frozen=True, slots=True)
class Layout:
    """Where one container's counter files live."""

    version: int  # 1 or 2
    cpu: Path  # v1: cpuacct dir; v2: the unified dir
    memory: Path
    blkio: Path


def candidate_layouts(root: Path, container_id: str) -> list[Layout]:
    """Both drivers (cgroupfs: docker/<id>, systemd: docker-<id>.scope) on v1 and v2."""
    fs = root / "sys/fs/cgroup"
    names = (f"docker/{container_id}", f"system.slice/docker-{container_id}.scope")
    layouts = [Layout(2, fs / n, fs / n, fs / n) for n in names]
    for cpu_dir in ("cpuacct", "cpu,cpuacct"):
        layouts += [Layout(1, fs / cpu_dir / n, fs / "memory" / n, fs / "blkio" / n) for n in names]
    return layouts


def find_layout(root: Path, container_id: str) -> Layout | None:
    for layout in candidate_layouts(root, container_id):
        marker = layout.cpu / ("cpu.stat" if layout.version == 2 else "cpuacct.usage")
        if marker.exists():
            return layout
    return None


def _keyed(text: str) -> dict[str, int]:
    """'name value' lines (memory.stat, cpu.stat) into a dict."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def parse_blkio_v1(text: str) -> tuple[int, int]:
    """blkio.throttle.io_service_bytes: '<maj:min> Read|Write N' lines, summed."""
    read = write = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("Read", "Write"):
            if parts[1] == "Read":
                read += int(parts[2])
            else:
                write += int(parts[2])
    return read, write


def parse_io_stat_v2(text: str) -> tuple[int, int]:
    """io.stat: '<maj:min> rbytes=N wbytes=N …' lines, summed."""
    read = write = 0
    for line in text.splitlines():
        for field in line.split()[1:]:
            name, _, value = field.partition("=")
            if name == "rbytes":
                read += int(value)
            elif name == "wbytes":
                write += int(value)
    return read, write


def parse_net_dev(text: str) -> tuple[int, int]:
    """/proc/PID/net/dev: rx and tx bytes summed over every interface but lo."""
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, _, counters = line.partition(":")
        values = counters.split()
        if name.strip() != "lo" and len(values) >= 9:
            rx += int(values[0])
            tx += int(values[8])
    return rx, tx


def memory_limit(raw: str, host_total: int) -> int:
    """'max' (v2) or a near-2**63 value (v1) mean no limit: the host's memory is the limit."""
    raw = raw.strip()
    if raw == "max" or int(raw) >= UNLIMITED:
        return host_total
    return min(int(raw), host_total)


def host_memory_bytes(root: Path = Path("/")) -> int:
    for line in (root / "proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no MemTotal in /proc/meminfo")


def sample_container(layout: Layout, root: Path, host_total: int, now: float) -> Sample:
    """One container's counters; memory 'used' as docker reports it (without inactive file cache)."""

    def read(path: Path) -> str:
        return path.read_text()

    if layout.version == 2:
        cpu_ns = _keyed(read(layout.cpu / "cpu.stat"))["usage_usec"] * 1000
        usage = int(read(layout.memory / "memory.current"))
        inactive = _keyed(read(layout.memory / "memory.stat")).get("inactive_file", 0)
        limit = memory_limit(read(layout.memory / "memory.max"), host_total)
        disk = parse_io_stat_v2(read(layout.blkio / "io.stat"))
    else:
        cpu_ns = int(read(layout.cpu / "cpuacct.usage"))
        usage = int(read(layout.memory / "memory.usage_in_bytes"))
        inactive = _keyed(read(layout.memory / "memory.stat")).get("total_inactive_file", 0)
        limit = memory_limit(read(layout.memory / "memory.limit_in_bytes"), host_total)
        disk = parse_blkio_v1(read(layout.blkio / "blkio.throttle.io_service_bytes"))
    net: tuple[int | None, int | None] = (None, None)
    procs = read(layout.cpu / "cgroup.procs").split()
    if procs:  # any process of the container shares its network namespace
        with contextlib.suppress(FileNotFoundError):  # the process just exited
            net = parse_net_dev(read(root / "proc" / procs[0] / "net/dev"))
    return Sample(
        at=now,
        cpu_ns=cpu_ns,
        mem_bytes=max(usage - inactive, 0),
        mem_limit_bytes=limit,
        disk_read_bytes=disk[0],
        disk_write_bytes=disk[1],
        net_rx_bytes=net[0],
        net_tx_bytes=net[1],
    )


class CgroupReader:
    """Reads containers' counters from this machine's files, remembering each one's layout."""

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root
        self._layouts: dict[str, Layout] = {}
        self._host_total: int | None = None

    def read(self, container_ids: Iterable[str]) -> tuple[dict[str, Sample], list[str]]:
        """Samples for the containers whose files were found, and the ids whose were not."""
        if self._host_total is None:
            self._host_total = host_memory_bytes(self.root)
        now = time.monotonic()
        samples: dict[str, Sample] = {}
        missing: list[str] = []
        ids = list(container_ids)
        for container_id in ids:
            layout = self._layouts.get(container_id) or find_layout(self.root, container_id)
            if layout is None:
                missing.append(container_id)
                continue
            try:
                samples[container_id] = sample_container(layout, self.root, self._host_total, now)
                self._layouts[container_id] = layout
            except (FileNotFoundError, ProcessLookupError):
                self._layouts.pop(container_id, None)  # stopped between listing and reading
            except (PermissionError, ValueError, KeyError):
                missing.append(container_id)
        for gone in set(self._layouts) - set(ids):
            del self._layouts[gone]
        return samples, missing
