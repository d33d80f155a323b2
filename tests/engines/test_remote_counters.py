"""Remote container counters: the one-command script, run here by sh (dash) and busybox sh, checked
against the local reader on the real dockerd's containers and on cgroup trees of other layouts."""

from __future__ import annotations

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import Containers
from vtui.backends.cgroups import CgroupReader, LocalCounters, host_memory_bytes
from vtui.backends.docker import DockerBackend
from vtui.backends.remote_counters import SCRIPT, CounterCommandError, RemoteCounters, Runner
from vtui.model.stats import Sample

SOCKET = "unix:///var/run/docker.sock"
CUMULATIVE = ("cpu_ns", "disk_read_bytes", "disk_write_bytes", "net_rx_bytes", "net_tx_bytes")


async def _run(*argv: str, env: dict[str, str] | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise OSError(f"{argv[0]} exited with {proc.returncode}: {err.decode(errors='replace')}")
    return out.decode()


async def sh_runner(command: str) -> str:
    """As sshd runs a command: the login shell (here /bin/sh, dash) parses the line."""
    return await _run("/bin/sh", "-c", command)


def busybox_runner(bin_dir: Path) -> Runner:
    """A host with busybox only: sh and head are busybox applets, and nothing else is on PATH."""
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is part of the test bed"
    for applet in ("sh", "head"):
        (bin_dir / applet).symlink_to(busybox)

    async def run(command: str) -> str:
        return await _run(busybox, "sh", "-c", command, env={"PATH": str(bin_dir)})

    return run


class Counting:
    """A runner that counts the commands it runs."""

    def __init__(self, run: Runner) -> None:
        self.run, self.commands = run, 0

    async def __call__(self, command: str) -> str:
        self.commands += 1
        return await self.run(command)


@pytest.fixture(params=["sh", "busybox"])
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
    if request.param == "sh":
        return sh_runner
    bin_dir = tmp_path / "busybox-bin"
    bin_dir.mkdir()
    return busybox_runner(bin_dir)


async def local_read(ids: list[str]) -> dict[str, Sample]:
    reader = LocalCounters()
    try:
        samples, missing = await reader.read(ids)
    finally:
        await reader.close()
    assert missing == []
    return samples


async def test_agrees_with_the_local_reader(containers: Containers, runner: Runner) -> None:
    idle = containers.run()
    busy = containers.run("yes > /dev/null")
    limited = containers.run(mem_limit="64m")
    writer = containers.run("dd if=/dev/urandom of=/tmp/f bs=64k count=16 && sync && sleep 3600")
    ids = [idle.id, busy.id, limited.id, writer.id]
    await asyncio.sleep(0.5)
    remote = RemoteCounters(runner)
    before = await local_read(ids)  # the remote read happens between these two local ones
    samples, missing = await remote.read(ids)
    after = await local_read(ids)
    assert missing == [] and set(samples) == set(ids)
    for cid in ids:
        lo, got, hi = before[cid], samples[cid], after[cid]
        assert lo.at <= got.at <= hi.at
        for name in CUMULATIVE:  # counters only grow: the remote figure lies between the two local ones
            assert getattr(lo, name) <= getattr(got, name) <= getattr(hi, name), name
        low, high = sorted((lo.mem_bytes or 0, hi.mem_bytes or 0))  # memory may move either way meanwhile
        assert low * 0.95 - (256 << 10) <= (got.mem_bytes or 0) <= high * 1.05 + (256 << 10), (lo, got, hi)
        assert got.mem_limit_bytes == lo.mem_limit_bytes == hi.mem_limit_bytes
        assert got.net_rx_bytes is not None and got.disk_write_bytes is not None
    assert samples[limited.id].mem_limit_bytes == 64 << 20
    assert samples[idle.id].mem_limit_bytes == host_memory_bytes()
    # No equality even for the idle one: its net_rx moved between reads in a CI run (the bridge's multicast,
    # IPv6 neighbour discovery of the containers started beside it). Lying between two local reads pins it.


async def test_busy_container_cpu_grows_between_reads(containers: Containers, runner: Runner) -> None:
    busy = containers.run("yes > /dev/null")
    remote = RemoteCounters(runner)
    first, _ = await remote.read([busy.id])
    await asyncio.sleep(0.5)
    second, _ = await remote.read([busy.id])
    seconds = second[busy.id].at - first[busy.id].at
    grown = (second[busy.id].cpu_ns or 0) - (first[busy.id].cpu_ns or 0)
    assert grown / seconds > 0.3e9  # about one core's worth, less on a loaded machine


async def test_stopped_and_removed_containers_are_missing(containers: Containers) -> None:
    running, stopped, removed = containers.run(), containers.run(), containers.run()
    stopped.handle.stop(timeout=0)
    removed.remove()
    never = "0123456789ab" * 5  # an id no container has
    samples, missing = await RemoteCounters(sh_runner).read([running.id, stopped.id, removed.id, never])
    assert set(samples) == {running.id}
    assert missing == [stopped.id, removed.id, never]


@pytest.mark.parametrize("bad", [
    "0123456789ab; reboot", "$(touch /tmp/vtui-pwned)", "0123456789ab`id`", "0123456789ab'", "0123456789ab\n",
    "../../etc", "0123456789AB", "0123456789a", "0" * 65, "",
])
async def test_ids_that_are_not_container_ids_are_refused_before_running_anything(bad: str) -> None:
    counting = Counting(sh_runner)
    with pytest.raises(ValueError, match="not a container id"):
        await RemoteCounters(counting).read(["0123456789ab" * 5, bad])
    assert counting.commands == 0


async def test_twenty_containers_in_one_command(containers: Containers) -> None:
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: containers.run(), range(20)))
    counting = Counting(sh_runner)
    samples, missing = await RemoteCounters(counting).read([c.id for c in made])
    assert counting.commands == 1
    assert missing == [] and set(samples) == {c.id for c in made}
    assert all(s.net_rx_bytes is not None for s in samples.values())
    assert await RemoteCounters(counting).read([]) == ({}, [])
    assert counting.commands == 1  # nothing to read: nothing run


async def test_docker_backend_samples_through_remote_counters(containers: Containers) -> None:
    busy = containers.run("yes > /dev/null")
    counting = Counting(sh_runner)
    backend = DockerBackend("local", SOCKET, RemoteCounters(counting))
    await backend.connect()
    try:
        node = next(n for n in await backend.list_nodes() if n.id == busy.id)
        sample = (await backend.sample([node]))[node.key]
    finally:
        await backend.close()
    assert counting.commands == 1 and backend.stats_note == ""  # no fallback to the API
    assert sample.cpu_ns and sample.mem_limit_bytes == host_memory_bytes()


# --- layouts this machine does not have (it runs cgroup v1 with docker's cgroupfs driver) -----

V1_BLKIO = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\n8:16 Read 100\nTotal 12388\n"
V2_IO = "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=100 wbytes=0\n"
NET_DEV = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"  # noqa: E501
    "    lo:    500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0\n"  # noqa: E501
    "  eth0:   2000      20    0    0    0     0          0         0      750       7    0    0    0     0       0          0\n"  # noqa: E501
)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_tree(root: Path, cid: str, layout: str, pid: str | None) -> None:
    """One container's files as the kernel lays them out; `pid` None: its cgroup has no process,
    "0": a process that has exited (no /proc entry)."""
    write(root / "proc/meminfo", "MemTotal:       16384000 kB\nMemFree:         1000 kB\n")
    name = f"system.slice/docker-{cid}.scope" if "systemd" in layout else f"docker/{cid}"
    fs = root / "sys/fs/cgroup"
    procs = "" if pid is None else f"{pid}\n4243\n"
    if layout.startswith("v2"):
        d = fs / name
        write(d / "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
        write(d / "memory.current", "10485760\n")
        write(d / "memory.stat", "anon 8388608\nfile 2097152\ninactive_file 1048576\n")
        write(d / "memory.max", "max\n")
        write(d / "io.stat", "")  # no I/O yet: empty
        write(d / "cgroup.procs", procs)
        if "io" in layout:
            write(d / "io.stat", V2_IO)
    else:
        cpu = fs / ("cpu,cpuacct" if "cpu,cpuacct" in layout else "cpuacct") / name
        write(cpu / "cpuacct.usage", "2500000000\n")
        write(cpu / "cgroup.procs", procs)
        write(fs / "memory" / name / "memory.usage_in_bytes", "10485760\n")
        write(fs / "memory" / name / "memory.stat", "inactive_file 5\ntotal_inactive_file 1048576\n")
        write(fs / "memory" / name / "memory.limit_in_bytes", "536870912\n")
        write(fs / "blkio" / name / "blkio.throttle.io_service_bytes", V1_BLKIO)
    if pid and pid != "0":
        write(root / f"proc/{pid}/net/dev", NET_DEV)


@pytest.mark.parametrize(("layout", "pid"), [
    ("v2 cgroupfs io", "4242"),
    ("v2 systemd", "4242"),
    ("v2 cgroupfs", None),
    ("v1 cpuacct systemd", "4242"),
    ("v1 cpu,cpuacct cgroupfs", "4242"),
    ("v1 cpu,cpuacct systemd", "0"),
])
async def test_script_reads_every_layout_as_the_local_reader_does(
    tmp_path: Path, runner: Runner, layout: str, pid: str | None
) -> None:
    cid, absent = "c0ffee" * 10 + "abcd", "deadbeef" * 8
    root = tmp_path / "host"
    make_tree(root, cid, layout, pid)
    local, local_missing = CgroupReader(root).read([cid, absent])
    remote, remote_missing = await RemoteCounters(runner, root=str(root)).read([cid, absent])
    assert local_missing == remote_missing == [absent]
    got, want = remote[cid], local[cid]
    assert (got.cpu_ns, got.mem_bytes, got.mem_limit_bytes) == (want.cpu_ns, want.mem_bytes, want.mem_limit_bytes)
    assert (got.disk_read_bytes, got.disk_write_bytes, got.net_rx_bytes, got.net_tx_bytes) == (
        want.disk_read_bytes, want.disk_write_bytes, want.net_rx_bytes, want.net_tx_bytes)
    assert got.cpu_ns == 2_500_000_000 and got.mem_bytes == 10485760 - 1048576
    assert (got.net_rx_bytes, got.net_tx_bytes) == ((2000, 750) if pid == "4242" else (None, None))


# --- the command itself ---------------------------------------------------------------------

def test_script_is_one_literal_once_quoted() -> None:
    """Single-quoted as it is, the script reaches sh intact whatever the login shell (sh, bash, zsh, fish)."""
    assert not set("'\\!") & set(SCRIPT)


async def test_output_cut_short_is_an_error_not_missing_containers(tmp_path: Path) -> None:
    async def cut(command: str) -> str:
        return (await sh_runner(command))[:-10]

    root = tmp_path / "host"
    cid = "ab" * 32
    make_tree(root, cid, "v2 cgroupfs", "4242")
    assert (await RemoteCounters(sh_runner, root=str(root)).read([cid]))[1] == []
    with pytest.raises(CounterCommandError, match="cut short"):
        await RemoteCounters(cut, root=str(root)).read([cid])


async def test_transport_failure_propagates() -> None:
    async def broken(command: str) -> str:
        raise ConnectionResetError("connection lost")

    with pytest.raises(ConnectionResetError):
        await RemoteCounters(broken).read(["ab" * 32])


async def test_rc_file_chatter_before_the_output_is_ignored(tmp_path: Path) -> None:
    """A login shell whose rc file prints something (bash sources ~/.bashrc for sshd's commands)."""
    async def chatty(command: str) -> str:
        return "Welcome!\nvtui-nonsense\n" + await sh_runner(command)

    root = tmp_path / "host"
    cid = "ab" * 32
    make_tree(root, cid, "v1 cpuacct cgroupfs", "4242")
    samples, missing = await RemoteCounters(chatty, root=str(root)).read([cid])
    assert missing == [] and samples[cid].cpu_ns == 2_500_000_000

