"""Container counters from the kernel's own files (cgroup v1 and v2, /proc/PID/net/dev).

Parsing works on file texts (`sample_from_texts`), so the same code serves a local
read (`LocalCounters`, here) and one command over a remote host's SSH connection
(`RemoteCounters`, in remote_counters.py). One pass per poll reads a handful of
small files per container; no call to dockerd.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vtui.model.stats import Sample

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


@dataclass(frozen=True, slots=True)
class CounterFiles:
    """The files of one layout that a Sample is made from (the remote script names the same)."""

    v2: bool
    cpu: str
    memory: str
    memory_stat: str
    memory_limit: str
    io: str
    procs: str  # its first pid's /proc/PID/net/dev has the container's network counters

    @classmethod
    def of(cls, layout: Layout) -> CounterFiles:
        v2 = layout.version == 2
        return cls(
            v2=v2,
            cpu=str(layout.cpu / ("cpu.stat" if v2 else "cpuacct.usage")),
            memory=str(layout.memory / ("memory.current" if v2 else "memory.usage_in_bytes")),
            memory_stat=str(layout.memory / "memory.stat"),
            memory_limit=str(layout.memory / ("memory.max" if v2 else "memory.limit_in_bytes")),
            io=str(layout.blkio / ("io.stat" if v2 else "blkio.throttle.io_service_bytes")),
            procs=str(layout.cpu / "cgroup.procs"),
        )


def find_layout(root: Path, container_id: str) -> Layout | None:
    for layout in candidate_layouts(root, container_id):
        marker = layout.cpu / ("cpu.stat" if layout.version == 2 else "cpuacct.usage")
        if marker.exists():
            return layout
    return None


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


def parse_mem_total(text: str) -> int:
    """Bytes of the 'MemTotal:  N kB' line of /proc/meminfo."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no MemTotal in /proc/meminfo")


def host_memory_bytes(root: Path = Path("/")) -> int:
    return parse_mem_total((root / "proc/meminfo").read_text())


def _read(path: str) -> str:
    """One small kernel file, without pathlib's overhead."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 16).decode("ascii", "replace")
    finally:
        os.close(fd)


class FilePool:
    """Kernel counter files kept open and re-read with pread: one syscall per file
    per poll instead of three. Within half the process's descriptor limit; past
    that, files are opened for each read."""

    def __init__(self) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = hard if hard == resource.RLIM_INFINITY else min(hard, 1 << 16)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
                soft = wanted
        self.budget = (1 << 15) if soft == resource.RLIM_INFINITY else soft // 2
        self._fds: dict[str, int] = {}

    def read(self, path: str) -> str:
        fd = self._fds.get(path)
        if fd is None:
            if len(self._fds) >= self.budget:
                return _read(path)
            fd = self._fds[path] = os.open(path, os.O_RDONLY)
        # empty is a legitimate content (v2 io.stat before any I/O); a removed cgroup's file raises ENODEV
        return os.pread(fd, 1 << 16, 0).decode("ascii", "replace")

    def forget(self, paths: Iterable[str]) -> None:
        for path in paths:
            if (fd := self._fds.pop(path, None)) is not None:
                os.close(fd)

    def close(self) -> None:
        self.forget(list(self._fds))


def _field(text: str, name: str) -> int:
    """The value of `name` in a 'name value' file (memory.stat, cpu.stat), 0 if absent."""
    at = text.find(name + " ")
    while at > 0 and text[at - 1] != "\n":  # e.g. "inactive_file" inside "total_inactive_file"
        at = text.find(name + " ", at + 1)
    if at < 0:
        return 0
    end = text.find("\n", at)
    return int(text[at + len(name) + 1:end if end >= 0 else len(text)].strip() or 0)


def sample_from_texts(
    v2: bool, now: float, *, cpu: str, memory: str, memory_stat: str, io: str, limit: int, net_dev: str | None
) -> Sample:
    """One container's Sample from the texts of its CounterFiles (read here, or printed by the remote
    command); memory 'used' as docker reports it (without inactive file cache). `limit` is already
    resolved by memory_limit; `net_dev` is None when no process of the container could be read."""
    if v2:
        cpu_ns = _field(cpu, "usage_usec") * 1000
        inactive = _field(memory_stat, "inactive_file")
        disk = parse_io_stat_v2(io)
    else:
        cpu_ns = int(cpu)
        inactive = _field(memory_stat, "total_inactive_file")
        disk = parse_blkio_v1(io)
    net: tuple[int | None, int | None] = (None, None) if net_dev is None else parse_net_dev(net_dev)
    return Sample(
        at=now,
        cpu_ns=cpu_ns,
        mem_bytes=max(int(memory) - inactive, 0),
        mem_limit_bytes=limit,
        disk_read_bytes=disk[0],
        disk_write_bytes=disk[1],
        net_rx_bytes=net[0],
        net_tx_bytes=net[1],
    )


LIMIT_EVERY = 10  # polls between re-reads of the memory limit, which rarely changes


class ContainerFiles:
    """The files one container's figures come from, with what rarely changes cached."""

    def __init__(self, layout: Layout, root: Path) -> None:
        self.files = CounterFiles.of(layout)
        self.root = str(root)
        self.net: str | None = None
        self.limit: int | None = None
        self.polls = 0

    def paths(self) -> list[str]:
        f = self.files
        return [f.cpu, f.memory, f.memory_stat, f.io, *([self.net] if self.net else [])]

    def sample(self, pool: FilePool, host_total: int, now: float) -> Sample:
        read, f = pool.read, self.files
        cpu, memory, memory_stat, io = read(f.cpu), read(f.memory), read(f.memory_stat), read(f.io)
        if self.limit is None or self.polls % LIMIT_EVERY == 0:
            self.limit = memory_limit(_read(f.memory_limit), host_total)
        self.polls += 1
        return sample_from_texts(f.v2, now, cpu=cpu, memory=memory, memory_stat=memory_stat, io=io,
                                 limit=self.limit, net_dev=self._net_dev(pool))

    def _net_dev(self, pool: FilePool) -> str | None:
        """Any process of the container shares its network namespace; its pid is kept until it exits."""
        for _ in range(2):
            if self.net is None:
                procs = _read(self.files.procs).split()
                if not procs:
                    break
                self.net = f"{self.root}/proc/{procs[0]}/net/dev"
            try:
                text = pool.read(self.net)
            except (FileNotFoundError, ProcessLookupError):
                text = ""
            if text:
                return text
            pool.forget([self.net])  # that process exited (its held /proc file reads empty): find another
            self.net = None
        return None


class CgroupReader:
    """Reads containers' counters from this machine's files, remembering where each one's are."""

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root
        self._files: dict[str, ContainerFiles] = {}
        self._pool = FilePool()
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
            for _ in range(2):  # held files of a restarted container's old cgroup: reopen once
                files = self._files.get(container_id)
                if files is None:
                    layout = find_layout(self.root, container_id)
                    if layout is None:
                        missing.append(container_id)
                        break
                    files = self._files[container_id] = ContainerFiles(layout, self.root)
                try:
                    samples[container_id] = files.sample(self._pool, self._host_total, now)
                    break
                except (PermissionError, ValueError):
                    missing.append(container_id)
                    break
                except OSError:  # its cgroup was removed (stopped, or restarted: then found anew)
                    self._drop(container_id)
            else:
                missing.append(container_id)  # removed again as it was found anew
        for gone in set(self._files) - set(ids):
            self._drop(gone)
        return samples, missing

    def _drop(self, container_id: str) -> None:
        self._pool.forget(self._files.pop(container_id).paths())

    def close(self) -> None:
        self._pool.close()
        self._files.clear()


class CounterReader(Protocol):
    """Counters of a host's containers, read in one pass (DockerBackend.sample awaits it)."""

    async def read(self, container_ids: Sequence[str]) -> tuple[dict[str, Sample], list[str]]:
        """Samples by container id, and the ids whose counter files were not found (gone, or out of reach)."""
        ...

    async def close(self) -> None:
        """Let go of what reading holds; read() may be called again afterwards (a backend reconnects)."""
        ...


class LocalCounters:
    """This machine's containers: a CgroupReader in a worker thread of its own, never on the event loop.

    One thread, so the reader (not thread-safe) is used by one call at a time."""

    def __init__(self, root: Path = Path("/")) -> None:
        self._reader = CgroupReader(root)
        self._worker: ThreadPoolExecutor | None = None

    async def read(self, container_ids: Sequence[str]) -> tuple[dict[str, Sample], list[str]]:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vtui-cgroups")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._reader.read, list(container_ids))

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await asyncio.get_running_loop().run_in_executor(worker, self._reader.close)
            worker.shutdown(wait=False)
