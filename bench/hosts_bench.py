"""Many-hosts benchmark: vtui polling 20 SSH hosts at 1 s, against OpenSSH scripts, in one run.

    .venv/bin/python bench/hosts_bench.py [--hosts 20] [--containers 10] [--window 30] [--quick]

The hosts are the SSH lab (tests/support/sshlab.py): one real sshd per network namespace, reached through
a ProxyCommand relay; each lab host shares this machine's filesystem, so its docker and libvirt are
the test bed's daemons and every host shows the same containers and VMs. Measures:
  1. start to a full inventory (every host up, every host's containers and VMs listed):
     vtui's Hub vs 20 `ssh hN 'docker ps -a; virsh list --all'` in parallel;
  2. per-host poll latency of vtui's samplers (docker counters, libvirt bulk stats) and the SSH
     round trip, over a steady window at 1 s;
  3. CPU over that window: vtui's process vs two OpenSSH pollers (ControlMaster) of the same hosts at
     the same 1 s clock: A `docker stats --no-stream` + `virsh domstats`, B vtui's own counter
     script; plus what each costs on the hosts' side (sshd sessions) and in dockerd/libvirtd;
  4. one host going away (sshd stopped, then frozen): the other hosts' poll latency before and during.
Starts its containers with the label vtui.bench=1; removes them, the lab and the OpenSSH masters at
the end, also on Ctrl-C, SIGTERM or failure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import docker
import libvirt
from probing import LAB_WAIT, lab_free, log, p95
from stats_bench import IMAGE, docker_client, remove_containers, start_containers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: tests.support.sshlab
from tests.support.sshlab import STATE_FILE, LabError, SshLab
from vtui.backends.base import Backend
from vtui.backends.registry import remote_backends
from vtui.backends.remote_counters import counter_command
from vtui.config.hosts import HostSpec, engines
from vtui.model import HostState, Inventory, Kind, Node
from vtui.model.stats import Sample
from vtui.services.hub import Hub

INTERVAL = 1.0
LIBVIRT_URI = "qemu:///system"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SSH_TIMEOUT = 30.0  # seconds for one OpenSSH command (connection included)
FULL_TIMEOUT = 120.0  # seconds for a full inventory
BACK_TIMEOUT = 60.0  # seconds for a host that comes back to be shown in full again
STOP_TIMEOUT = 10.0  # seconds for hub.stop() before the samplers are cancelled again


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says what was missing."""


@dataclass(frozen=True)
class Plan:
    hosts: int
    containers: int
    window: float  # the steady window (CPU, poll latency), for vtui and each peer
    dead_window: float  # each dead-host phase
    base_window: float  # engines without any tool
    reps: int  # full inventories, each side
    settle: float  # after the start, before a window


@dataclass(frozen=True)
class Row:
    figure: str
    vtui: str
    peer: str = ""
    ratio: str = ""


@dataclass(frozen=True)
class Expected:
    """What a full inventory holds per host (the test bed's daemons, seen by every lab host)."""

    containers: int
    vms: int
    running_ids: tuple[str, ...]
    running_vms: int


@dataclass(frozen=True)
class Poll:
    host: str
    what: str  # "docker", "libvirt", or a peer's name
    start: float  # perf_counter
    seconds: float
    ok: bool


# --- figures ------------------------------------------------------------------------------------

def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def dist(values: Sequence[float]) -> str:
    if not values:
        return "no values"
    return f"median {ms(statistics.median(values))}, p95 {ms(p95(values))}, max {ms(max(values))}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "-"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def own_memory() -> tuple[float, float, int]:
    """This process's RSS and peak RSS (MB), and its thread count."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024, int(fields["Threads"])


# --- processes: CPU from /proc ----------------------------------------------------------------------

@dataclass(frozen=True)
class Proc:
    ppid: int
    comm: str
    ticks: int  # utime + stime
    reaped: int  # cutime + cstime: its children that have ended and been waited for


def proc_table() -> dict[int, Proc]:
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        head, _, rest = text.rpartition(")")
        fields = rest.split()
        table[int(entry.name)] = Proc(int(fields[1]), head.partition("(")[2],
                                      int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]))
    return table


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def tree(table: dict[int, Proc], roots: Iterable[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, proc in table.items():
        children.setdefault(proc.ppid, []).append(pid)
    found, todo = [], [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def sshd_pid(lab: SshLab, name: str) -> int | None:
    try:
        return int(lab.host(name).sshd_pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Reading:
    """Cumulative CPU counters at one moment; differences of two make a window's figures."""

    at: float
    own: float  # seconds: this process, every thread (vtui's hub, its libvirt and docker threads)
    children: float  # seconds: this process's children that have ended (OpenSSH clients)
    sshd: int  # ticks: the lab's sshd trees (listener, connections, sessions and their commands)
    engines: int  # ticks: dockerd, containerd, its shims, libvirtd
    relays: int  # ticks: the lab's ProxyCommand relays (busybox nc)
    masters: int  # ticks: OpenSSH ControlMaster processes (daemons, not children once detached)
    busy: int  # ticks: the whole machine, all cores, not idle
    ticks: int  # ticks: the whole machine, all cores


def reading(lab: SshLab, control_dir: str) -> Reading:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    table = proc_table()
    listeners = [p for h in lab.hosts if (p := sshd_pid(lab, h.name)) is not None]
    engines = relays = masters = 0
    for pid, proc in table.items():
        if proc.comm in ("dockerd", "containerd", "containerd-shim", "libvirtd"):
            engines += proc.ticks
        elif proc.comm == "busybox" and " nc 10.77.0." in cmdline(pid):
            relays += proc.ticks + proc.reaped
        elif proc.comm == "ssh" and proc.ppid != os.getpid() and control_dir in cmdline(pid):
            masters += proc.ticks + proc.reaped
    sshd = sum(table[p].ticks + table[p].reaped for p in tree(table, listeners))
    cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return Reading(time.perf_counter(), own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime,
                   sshd, engines, relays, masters, sum(cpu) - cpu[3] - cpu[4], sum(cpu))


@dataclass(frozen=True)
class Cpu:
    """CPU over a window, in % of one core."""

    wall: float
    client: float  # the tool itself
    sshd: float  # the hosts' side: sshd connections, sessions, their commands
    engines: float  # dockerd + containerd + shims + libvirtd (baseline not yet subtracted)
    relays: float  # the lab's relays: not part of a real deployment
    machine: float  # the whole machine's busy time, in % of all its cores

    @staticmethod
    def between(a: Reading, b: Reading, *, client: str) -> Cpu:
        wall = b.at - a.at

        def pct_ticks(ticks: int) -> float:
            return 100.0 * ticks / CLK_TCK / wall

        tool = (100.0 * (b.own - a.own) / wall if client == "own"
                else 100.0 * (b.children - a.children) / wall + pct_ticks(b.masters - a.masters))
        return Cpu(wall, tool, pct_ticks(b.sshd - a.sshd), pct_ticks(b.engines - a.engines),
                   pct_ticks(b.relays - a.relays), 100.0 * (b.busy - a.busy) / max(1, b.ticks - a.ticks))


# --- the test bed ---------------------------------------------------------------------------------

TEST_LABEL = "vtui.test"  # on every container a test run makes (tests/conftest.py)
RUN_MARK = "metadata/{https://vtui.dev/xmlns/test-run}run"  # in every domain a test run (or console_bench) defines


def expected_inventory(client: docker.DockerClient) -> Expected:
    """The test bed's nodes that a full inventory must hold, as a lower bound: those of test runs (their
    label, their domain mark) are left out, since a test session beside the bench makes and removes them
    while it runs; every other one is counted, the bench's own containers among them."""
    containers = [c for c in client.containers.list(all=True) if TEST_LABEL not in (c.labels or {})]
    conn = libvirt.open(LIBVIRT_URI)
    try:
        domains = []
        for dom in conn.listAllDomains():
            with suppress(libvirt.libvirtError):  # a test run's domain may go meanwhile
                if ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).find(RUN_MARK) is None:
                    domains.append(bool(dom.isActive()))
    finally:
        conn.close()
    running = tuple(str(c.id) for c in containers if c.status == "running")
    return Expected(len(containers), len(domains), running, sum(domains))


CHANGED = ("(if the test bed's containers or VMs other than test runs' changed during the run, another "
           "session is using it)")


def gaps(inv: Inventory, hosts: Sequence[str], expected: Expected) -> list[str]:
    """What the snapshot lacks for a full inventory, per host; empty when full. At least the test bed's
    nodes, as counted before the measurement: others that appear meanwhile do not make a list short."""
    states = {h.name: h.state for h in inv.hosts}
    counts = Counter((n.host, n.kind) for n in inv.nodes)
    missing = []
    for name in hosts:
        if states.get(name) is not HostState.UP:
            missing.append(f"{name} {states.get(name)}")
        elif counts[name, Kind.CONTAINER] < expected.containers or counts[name, Kind.VM] < expected.vms:
            missing.append(f"{name} {counts[name, Kind.CONTAINER]} containers, {counts[name, Kind.VM]} VMs")
    return missing


# --- vtui ---------------------------------------------------------------------------------------

class Watch:
    """Follows a hub's snapshots: wakes waiters on a condition, records each host's SSH round trips."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.waiters: list[tuple[Callable[[Inventory], bool], asyncio.Future[float]]] = []
        self.rtts: list[float] | None = None  # recording while a list
        self._last: dict[str, float | None] = {}
        hub.subscribe(self.on_inventory)

    def on_inventory(self, inv: Inventory) -> None:
        now = time.perf_counter()
        for check, done in self.waiters:
            if not done.done() and check(inv):
                done.set_result(now)
        if self.rtts is not None:
            for host in inv.hosts:
                if host.latency is not None and self._last.get(host.name) != host.latency:
                    self.rtts.append(host.latency)
                self._last[host.name] = host.latency

    async def until(self, check: Callable[[Inventory], bool], timeout: float, what: str,
                    describe: Callable[[Inventory], str] = lambda _: "") -> float:
        """perf_counter() of the first snapshot for which `check` holds."""
        if check(self.hub.inventory):
            return time.perf_counter()
        waiter = (check, asyncio.get_running_loop().create_future())
        self.waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter[1], timeout)
        except TimeoutError:
            raise BenchError(f"{what}: not within {timeout:.0f} s; {describe(self.hub.inventory)}") from None
        finally:
            self.waiters.remove(waiter)


class PollLog:
    """Times every sample() of the backends it wraps (the bound method replaced on the instance)."""

    def __init__(self) -> None:
        self.polls: list[Poll] = []

    def wrap(self, backend: Backend) -> None:
        inner = backend.sample

        async def sample(nodes: Sequence[Node]) -> dict[str, Sample]:
            start, ok = time.perf_counter(), False
            try:
                result = await inner(nodes)
                ok = True
                return result
            finally:
                self.polls.append(Poll(backend.host, backend.engine, start, time.perf_counter() - start, ok))

        backend.sample = sample  # type: ignore[method-assign]

    def between(self, t0: float, t1: float, *, what: str, hosts: Iterable[str]) -> list[Poll]:
        names = set(hosts)
        return [p for p in self.polls if t0 <= p.start < t1 and p.what == what and p.host in names]


def make_hub(hosts: Sequence[str]) -> Hub:
    return Hub(remote_backends([HostSpec(h, h, engines()) for h in hosts]), interval=INTERVAL)  # both engines


@dataclass
class Stops:
    """hub.stop() calls, and those that hung on a sampler that went on after being cancelled."""

    count: int = 0
    hung: list[int] = field(default_factory=list)  # samplers cancelled again, per stop that hung


async def stop_hub(hub: Hub, stops: Stops) -> None:
    """hub.stop(), bounded. On Python 3.11 a cancel can be lost in asyncio.wait_for (which asyncssh's
    `run(timeout=)` uses) when the command ends in the same loop iteration; the hub's sampler then
    goes on polling and stop() waits for it forever. Such samplers are cancelled again, and counted."""
    stops.count += 1
    stopping = asyncio.ensure_future(hub.stop())
    done, _ = await asyncio.wait([stopping], timeout=STOP_TIMEOUT)
    if not done:
        stuck = [t for t in asyncio.all_tasks()
                 if not t.done() and getattr(t.get_coro(), "__qualname__", "") == "Hub._sample"]
        where = "; ".join(f"{t.get_name()} at {t.get_stack(limit=1)[-1].f_lineno if t.get_stack() else '?'}"
                          for t in stuck)
        log(f"warning: hub.stop() still waiting after {STOP_TIMEOUT:.0f} s on {len(stuck)} sampler(s) that went on "
            f"after their cancel ({where}); cancelling them again")
        stops.hung.append(len(stuck))
        for task in stuck:
            task.cancel()
        done, _ = await asyncio.wait([stopping], timeout=STOP_TIMEOUT)
        if not done:
            stopping.cancel()
            raise BenchError(f"hub.stop() does not return, even after cancelling the samplers again ({where})")
    stopping.result()


async def vtui_inventory(hosts: Sequence[str], expected: Expected, stops: Stops) -> tuple[float, float]:
    """Seconds from building the hub to every host connected, and to the first full snapshot."""
    t0 = time.perf_counter()
    hub = make_hub(hosts)
    if len(hub.links) != len(hosts):  # else "every host connected" holds of no host at all
        raise BenchError(f"the hub follows {len(hub.links)} of the {len(hosts)} hosts")
    watch = Watch(hub)
    hub.start()
    try:
        connected = await watch.until(lambda inv: all(h.state is HostState.UP for h in inv.hosts), FULL_TIMEOUT,
                                      "vtui: every host connected", lambda inv: "; ".join(gaps(inv, hosts, expected)))
        full = await watch.until(lambda inv: not gaps(inv, hosts, expected), FULL_TIMEOUT, "vtui: full inventory",
                                 lambda inv: "; ".join(gaps(inv, hosts, expected)) + f" {CHANGED}")
        return connected - t0, full - t0
    finally:
        await stop_hub(hub, stops)


# --- OpenSSH, the peer ------------------------------------------------------------------------------

def ssh_argv(lab: SshLab, host: str, command: str, *options: str) -> list[str]:
    return [shutil.which("ssh") or "ssh", "-F", str(lab.ssh_config), "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10", *options, host, command]


async def run(argv: Sequence[str], timeout: float = SSH_TIMEOUT) -> tuple[int, str, str]:
    """Exit status (-1: killed after `timeout`), stdout and stderr of one command."""
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "", f"no answer within {timeout:.0f} s"
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


INVENTORY = f"docker ps -a --format json; echo ---; virsh -c {LIBVIRT_URI} list --all --name"


def inventory_counts(out: str) -> tuple[int, int]:
    containers, _, vms = out.partition("---\n")
    return (sum(line.startswith("{") for line in containers.splitlines()),
            sum(bool(line.strip()) for line in vms.splitlines()))


async def peer_inventory(lab: SshLab, hosts: Sequence[str], expected: Expected) -> float:
    """Seconds for every host's `ssh` (a fresh connection each) to return its full lists."""

    async def one(host: str) -> None:
        status, out, err = await run(ssh_argv(lab, host, INVENTORY))
        if status != 0:
            raise BenchError(f"peer inventory: ssh {host} failed ({status}): {err.strip()}")
        containers, vms = inventory_counts(out)
        if containers < expected.containers or vms < expected.vms:
            raise BenchError(f"peer inventory: {host} listed {containers} containers and {vms} VMs, not "
                             f"{expected.containers} and {expected.vms} {CHANGED}")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(h) for h in hosts))
    return time.perf_counter() - t0


@dataclass(frozen=True)
class Peer:
    name: str
    label: str  # for the table
    command: str
    check: Callable[[str], bool]  # stdout of a complete poll


def peers(expected: Expected) -> list[Peer]:
    running = len(expected.running_ids)

    def stats_ok(out: str) -> bool:
        containers, marker, _ = out.partition("---\n")
        try:
            lines = [json.loads(line) for line in containers.splitlines() if line.startswith("{")]
        except ValueError:
            return False
        return bool(marker) and len(lines) >= running

    def counters_ok(out: str) -> bool:
        lines = out.splitlines()
        found = sum(line.startswith("vtui-ctr ") for line in lines)
        return bool(lines) and lines[-1] == "vtui-end" and found == running

    return [
        Peer("A", "A docker stats + virsh",
             f"docker stats --no-stream --format '{{{{json .}}}}'; echo ---; virsh -c {LIBVIRT_URI} domstats "
             "--list-active", stats_ok),
        Peer("B", "B vtui's counter script", counter_command(expected.running_ids), counters_ok),
    ]


@dataclass
class PeerRun:
    polls: list[Poll] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def peer_loop(lab: SshLab, host: str, peer: Peer, control: list[str], out: PeerRun, stop: asyncio.Event) -> None:
    """Poll one host at the hub's 1 s clock: the next poll only after this one has returned."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = time.perf_counter()
        status, stdout, stderr = await run(ssh_argv(lab, host, peer.command, *control))
        ok = status == 0 and peer.check(stdout)
        out.polls.append(Poll(host, peer.name, start, time.perf_counter() - start, ok))
        if not ok and len(out.failures) < 5:
            out.failures.append(f"{host}: exit {status}: {(stderr.strip() or stdout[-200:]).splitlines()[-1:]}")
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), INTERVAL - loop.time() % INTERVAL)


def control_options(control_dir: str) -> list[str]:
    return ["-o", "ControlMaster=auto", "-o", f"ControlPath={control_dir}/%h", "-o", "ControlPersist=60"]


async def session_cost(lab: SshLab, host: str, control_dir: str, count: int = 20) -> tuple[float, float]:
    """An empty command (`true`) through an open connection: sshd-side CPU seconds and wall seconds, each.
    Every command vtui or a peer runs pays this: sshd's session, then the user's login shell (and its rc
    files) running the command."""
    control = control_options(control_dir)
    status, _, err = await run(ssh_argv(lab, host, "true", *control))
    if status != 0:
        raise BenchError(f"ssh {host} true failed ({status}): {err.strip()}")
    root = [p for p in [sshd_pid(lab, host)] if p is not None]

    def ticks() -> int:
        table = proc_table()
        return sum(table[p].ticks + table[p].reaped for p in tree(table, root))

    a, t0 = ticks(), time.perf_counter()
    for _ in range(count):
        await run(ssh_argv(lab, host, "true", *control))
    return (ticks() - a) / CLK_TCK / count, (time.perf_counter() - t0) / count


async def peer_polling(lab: SshLab, hosts: Sequence[str], peer: Peer, control_dir: str,
                       plan: Plan) -> tuple[Cpu, PeerRun, float]:
    """The peer polling every host for the window (after its masters are up and it has settled)."""
    control = control_options(control_dir)
    log(f"peer {peer.label}: one poll per host (starts the ControlMaster connections)...")
    first = await asyncio.gather(*(run(ssh_argv(lab, h, peer.command, *control)) for h in hosts))
    for host, (status, stdout, stderr) in zip(hosts, first, strict=True):
        if status != 0 or not peer.check(stdout):
            raise BenchError(f"peer {peer.label} on {host}: exit {status}: {stderr.strip() or stdout[-300:]}")
    out, stop = PeerRun(), asyncio.Event()
    tasks = [asyncio.create_task(peer_loop(lab, h, peer, control, out, stop)) for h in hosts]
    try:
        await asyncio.sleep(plan.settle)
        log(f"peer {peer.label}: polling {len(hosts)} hosts at 1 s, measuring {plan.window:.0f} s...")
        a = reading(lab, control_dir)
        await asyncio.sleep(plan.window)
        b = reading(lab, control_dir)
    finally:
        stop.set()
        _, pending = await asyncio.wait(tasks, timeout=SSH_TIMEOUT + 5)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    out.polls = [p for p in out.polls if a.at <= p.start < b.at]
    return Cpu.between(a, b, client="children"), out, b.at - a.at


def stop_masters(control_dir: str) -> None:
    """The OpenSSH ControlMaster processes of this run (by PID: their command line names our ControlPath)."""
    pids = [pid for pid, proc in proc_table().items() if proc.comm == "ssh" and control_dir in cmdline(pid)]
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


# --- a host that goes away ------------------------------------------------------------------------

def freeze_sshd(lab: SshLab, name: str) -> list[int]:
    """SIGSTOP the host's sshd and everything below it (its connections hang; TCP stays up)."""
    root = sshd_pid(lab, name)
    if root is None:
        raise BenchError(f"no sshd running for {name}")
    frozen: list[int] = []
    todo = [root]
    while todo:  # top down until nothing new appears
        for pid in todo:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        frozen += todo
        todo = [p for p in tree(proc_table(), [root]) if p not in frozen]
    return frozen


def thaw(pids: Iterable[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


async def dead_host(hub: Hub, watch: Watch, polls: PollLog, hosts: Sequence[str], expected: Expected,
                    before: tuple[float, float], plan: Plan, how: str,
                    breaks: Callable[[], object], mends: Callable[[], object]) -> list[Row]:
    victim, others = hosts[-1], hosts[:-1]
    log(f"dead host: {victim} {how}; the others' polls for {plan.dead_window:.0f} s...")
    t0 = time.perf_counter()
    await asyncio.to_thread(breaks)
    try:
        shown = await watch.until(lambda inv: any(h.name == victim and h.state is not HostState.UP
                                                  for h in inv.hosts), plan.dead_window + 30,
                                  f"{victim} {how} shown as not up")
        await asyncio.sleep(max(0.0, t0 + plan.dead_window - time.perf_counter()))
        t1 = time.perf_counter()
    finally:
        await asyncio.to_thread(mends)
    mended = time.perf_counter()
    try:
        back = await watch.until(lambda inv: not gaps(inv, hosts, expected), BACK_TIMEOUT, f"{victim} back")
        back_text = f"{ms(back - mended)}"
    except BenchError:
        back_text = f"NOT within {BACK_TIMEOUT:.0f} s ({'; '.join(gaps(hub.inventory, hosts, expected))})"
    rows = []
    for engine in ("docker", "libvirt"):
        was = [p.seconds for p in polls.between(*before, what=engine, hosts=others)]
        now = polls.between(t0, t1, what=engine, hosts=others)
        rate = len(now) / len(others) / (t1 - t0)
        rows.append(Row(f"  {len(others)} others' {engine} polls: before -> {victim} {how}",
                        f"median {ms(statistics.median(was))} -> {ms(statistics.median([p.seconds for p in now]))}, "
                        f"p95 {ms(p95(was))} -> {ms(p95([p.seconds for p in now]))}; "
                        f"{rate:.2f} polls/s/host, {sum(not p.ok for p in now)} failed"))
    rows.append(Row(f"  {victim} {how}: shown not up after / full again after mending",
                    f"{ms(shown - t0)} / {back_text}"))
    return rows


# --- the run ------------------------------------------------------------------------------------

async def measure(plan: Plan, lab: SshLab, client: docker.DockerClient, control_dir: str) -> tuple[list[Row], str]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    hosts = [h.name for h in lab.hosts]
    expected = expected_inventory(client)
    what = (f"each host: {expected.containers} containers ({len(expected.running_ids)} running), "
            f"{expected.vms} VMs ({expected.running_vms} running)")
    log(what)
    rows: list[Row] = []
    rss0, _, _ = own_memory()  # the bench process before any hub (asyncssh not yet imported)

    log(f"engines without any tool ({plan.base_window:.0f} s)...")
    a = reading(lab, control_dir)
    await asyncio.sleep(plan.base_window)
    base1 = Cpu.between(a, reading(lab, control_dir), client="own")

    # 1. full inventory, alternating sides
    stops = Stops()
    vtui_conn, vtui_full, peer_full = [], [], []
    for rep in range(plan.reps):
        log(f"full inventory {rep + 1}/{plan.reps}: vtui, then {len(hosts)} x ssh...")
        expected = expected_inventory(client)
        connected, full = await vtui_inventory(hosts, expected, stops)
        vtui_conn.append(connected)
        vtui_full.append(full)
        peer_full.append(await peer_inventory(lab, hosts, expected))

    def each(values: Sequence[float]) -> str:
        return f"{ms(statistics.median(values))}" + (f" (runs {', '.join(ms(v) for v in values)})"
                                                     if len(values) > 1 else "")

    n = len(hosts)
    rows += [
        Row(f"start -> full inventory, {n} hosts", each(vtui_full), f"{n} x ssh in parallel: {each(peer_full)}",
            ratio(statistics.median(vtui_full), statistics.median(peer_full))),
        Row("  start -> every host connected", each(vtui_conn)),
    ]

    log("an empty SSH command, 20 times through one connection...")
    session_cpu, session_wall = await session_cost(lab, hosts[0], control_dir)
    await asyncio.to_thread(stop_masters, control_dir)
    rows.append(Row(f"an empty command (`true`) on {hosts[0]}, connection open: host-side CPU / wall",
                    f"{ms(session_cpu)} / {ms(session_wall)}", "the same for every command either side runs"))

    # 2-4. vtui at 1 s: steady window, then a host going away
    expected = expected_inventory(client)
    gc.collect()  # the stopped hubs' thread pools, so that their idle threads end
    await asyncio.sleep(1)
    _, _, threads0 = own_memory()
    polls = PollLog()
    hub = make_hub(hosts)
    for backend in hub.backends:
        polls.wrap(backend)
    watch = Watch(hub)
    frozen: list[int] = []
    hub.start()
    try:
        await watch.until(lambda inv: not gaps(inv, hosts, expected), FULL_TIMEOUT, "vtui: full inventory",
                          lambda inv: "; ".join(gaps(inv, hosts, expected)))
        await asyncio.sleep(plan.settle)
        log(f"vtui: polling {n} hosts at 1 s, measuring {plan.window:.0f} s...")
        watch.rtts = []
        a = reading(lab, control_dir)
        await asyncio.sleep(plan.window)
        b = reading(lab, control_dir)
        rtts, watch.rtts = watch.rtts, None
        vtui_cpu = Cpu.between(a, b, client="own")
        rss, hwm, threads = own_memory()
        steady = (a.at, b.at)
        docker_polls = polls.between(*steady, what="docker", hosts=hosts)
        libvirt_polls = polls.between(*steady, what="libvirt", hosts=hosts)
        vtui_rate = len(docker_polls) / n / vtui_cpu.wall

        def stopped() -> None:
            lab.stop_sshd(hosts[-1])

        def started() -> None:
            lab.start_sshd(hosts[-1])

        def freeze() -> None:
            frozen.extend(freeze_sshd(lab, hosts[-1]))

        def unfreeze() -> None:
            thaw(frozen)
            frozen.clear()

        dead = await dead_host(hub, watch, polls, hosts, expected, steady, plan, "sshd stopped", stopped, started)
        dead += await dead_host(hub, watch, polls, hosts, expected, steady, plan, "frozen (SIGSTOP)", freeze,
                                unfreeze)
    finally:
        thaw(frozen)
        await stop_hub(hub, stops)
    deadline = time.monotonic() + 10
    while any(p.comm == "busybox" and p.ppid == os.getpid() for p in proc_table().values()):  # vtui's relays
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)

    rows += [
        Row(f"poll latency, docker counters (one ssh command), {n} hosts", dist([p.seconds for p in docker_polls]),
            "", ""),
        Row("poll latency, libvirt bulk stats (forwarded socket)", dist([p.seconds for p in libvirt_polls])),
        Row("  failed polls in the window (docker / libvirt)",
            f"{sum(not p.ok for p in docker_polls)} / {sum(not p.ok for p in libvirt_polls)}"),
        Row("SSH round trip (keepalive, every 2 s per host)", dist(rtts)),
        Row(f"RSS / threads of the process ({n} hosts, {n * 2} backends)",
            f"{rss:.0f} MB (+{rss - rss0:.0f} over the bench before its first hub; peak {hwm:.0f}) / "
            f"{threads} (+{threads - threads0} with this hub)"),
        Row("hub.stop() hung on samplers that outlived their cancel",
            f"{len(stops.hung)} of {stops.count} stops" + (f" ({sum(stops.hung)} samplers cancelled again)"
                                                           if stops.hung else "")),
    ]

    # 3. the peers, polling the same hosts at the same clock
    peer_runs = []
    try:
        for peer in peers(expected_inventory(client)):
            peer_runs.append((peer, *await peer_polling(lab, hosts, peer, control_dir, plan)))
    finally:
        await asyncio.to_thread(stop_masters, control_dir)

    log(f"engines without any tool, again ({plan.base_window:.0f} s)...")
    await asyncio.sleep(2)  # the masters' sessions end
    a = reading(lab, control_dir)
    await asyncio.sleep(plan.base_window)
    base2 = Cpu.between(a, reading(lab, control_dir), client="own")
    base_engines = (base1.engines + base2.engines) / 2

    def total(cpu: Cpu) -> float:
        return cpu.client + cpu.sshd + cpu.engines - base_engines

    vtui_poll_cpu = vtui_cpu.client / 100 * vtui_cpu.wall / max(1, len(docker_polls))
    figures: list[tuple[str, str, Callable[[Cpu, float, float], tuple[str, str]]]] = [
        (f"polls per host per second (1 s clock, {plan.window:.0f} s window)", f"{vtui_rate:.2f}",
         lambda cpu, rate, per_poll: (f"{rate:.2f}", "")),
        ("CPU, the tool (% of one core)", f"{vtui_cpu.client:.1f} % ({vtui_cpu.client / n:.2f} % per host)",
         lambda cpu, rate, per_poll: (f"{cpu.client:.1f} %", ratio(vtui_cpu.client, cpu.client))),
        ("CPU of the tool per host poll", ms(vtui_poll_cpu),
         lambda cpu, rate, per_poll: (ms(per_poll), ratio(vtui_poll_cpu, per_poll))),
        (f"CPU, hosts' side: {n} sshd trees", f"{vtui_cpu.sshd:.1f} %",
         lambda cpu, rate, per_poll: (f"{cpu.sshd:.1f} %", ratio(vtui_cpu.sshd, cpu.sshd))),
        ("CPU, engines added: dockerd+containerd+libvirtd", f"{vtui_cpu.engines - base_engines:+.1f} %",
         lambda cpu, rate, per_poll: (f"{cpu.engines - base_engines:+.1f} %", "")),
        ("CPU, total: tool + sshd + engines added", f"{total(vtui_cpu):.1f} %",
         lambda cpu, rate, per_poll: (f"{total(cpu):.1f} %", ratio(total(vtui_cpu), total(cpu)))),
        ("CPU, lab relays (busybox nc; not in a real setup)", f"{vtui_cpu.relays:.1f} %",
         lambda cpu, rate, per_poll: (f"{cpu.relays:.1f} %", "")),
        (f"machine busy, all {os.cpu_count()} cores (the hosts share them)", f"{vtui_cpu.machine:.0f} %",
         lambda cpu, rate, per_poll: (f"{cpu.machine:.0f} %", "")),
    ]
    for figure, mine, theirs in figures:
        for i, (peer, cpu, out, wall) in enumerate(peer_runs):
            text, r = theirs(cpu, len(out.polls) / n / wall, cpu.client / 100 * wall / max(1, len(out.polls)))
            rows.append(Row(figure if i == 0 else "", mine if i == 0 else "", f"{peer.label}: {text}", r))
    for peer, _, out, _ in peer_runs:
        failed = sum(not p.ok for p in out.polls)
        rows.append(Row(f"poll latency, peer {peer.name} (ssh through its master)", "",
                        dist([p.seconds for p in out.polls]) + f"; {failed} failed"
                        + (f" ({out.failures[0]})" if out.failures else "")))
    rows.append(Row("engines' baseline without any tool (before / after)",
                    f"{base1.engines:.1f} % / {base2.engines:.1f} %"))
    return rows + dead, what


def print_report(rows: Sequence[Row], header: str) -> None:
    names = ("figure", "vtui", "peer (OpenSSH, same run)", "vtui/peer")
    widths = [max(len(names[i]), *(len(getattr(r, f)) for r in rows))
              for i, f in enumerate(("figure", "vtui", "peer", "ratio"))]
    print(f"\nvtui hosts benchmark: {header}")
    print("  ".join(h.ljust(w) for h, w in zip(names, widths, strict=True)).rstrip())
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip((r.figure, r.vtui, r.peer, r.ratio), widths, strict=True)).rstrip())


def parse_args(argv: Sequence[str] | None) -> Plan:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=20, help="lab hosts (default 20, at most 25)")
    ap.add_argument("--containers", type=int, default=10, help="idle containers on the test bed (default 10)")
    ap.add_argument("--window", type=float, help="steady window in seconds (default 30; --quick 8)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 8 s windows, one full inventory each side")
    args = ap.parse_args(argv)
    if args.quick:
        return Plan(args.hosts, args.containers, args.window or 8.0, dead_window=5.0, base_window=4.0, reps=1,
                    settle=2.0)
    return Plan(args.hosts, args.containers, args.window or 30.0, dead_window=15.0, base_window=15.0, reps=3,
                settle=5.0)


def raise_interrupt(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM outside the event loop cleans up like Ctrl-C


def lab_stamp() -> tuple[int, int] | None:
    """The lab's state file as (inode, mtime): which lab is up, if any (links_bench's)."""
    with suppress(FileNotFoundError):
        found = STATE_FILE.stat()
        return found.st_ino, found.st_mtime_ns
    return None


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse_args(argv)
    if os.geteuid() != 0:
        raise BenchError("the SSH lab needs root")
    if not lab_free(STATE_FILE):
        raise BenchError(f"an SSH lab is still up ({STATE_FILE}) after {LAB_WAIT / 60:.0f} min: a test session may be "
                         "using it. If it is a leftover: .venv/bin/python -m tests.support.sshlab down")
    signal.signal(signal.SIGTERM, raise_interrupt)
    started = time.monotonic()
    client = docker_client()
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        raise BenchError(f"{IMAGE} is missing: scripts/testbed.sh up") from None
    header = (f"{plan.hosts} hosts (lab sshd per netns, ProxyCommand relay), 1 s polls; {os.cpu_count()} cores; "
              f"load average {loadavg()} at start")
    lab = SshLab(plan.hosts, docker_hosts=())
    control_dir = tempfile.mkdtemp(prefix="vtui-hb.", dir="/tmp")  # short: a unix socket path per host
    home = os.environ.get("HOME")
    ours: tuple[int, int] | None = None  # the lab's state file once this run has made it
    try:
        remove_containers(client)  # leftovers of an interrupted run
        start_containers(client, plan.containers)
        log(f"building the SSH lab ({plan.hosts} hosts)...")
        if not lab_free(STATE_FILE):
            raise BenchError(f"an SSH lab came up meanwhile ({STATE_FILE}) and is still up after {LAB_WAIT / 60:.0f} "
                             "min: a test session may be using it")
        t0 = time.monotonic()
        lab.up()  # on failure it takes down what it made
        ours = lab_stamp()
        log(f"  up in {time.monotonic() - t0:.1f} s")
        os.environ["HOME"] = str(lab.home)  # asyncssh reads ~/.ssh/config through HOME
        try:
            rows, what = asyncio.run(measure(plan, lab, client, control_dir))
        except asyncio.CancelledError:  # SIGTERM while measuring
            raise KeyboardInterrupt from None
        header += f", {loadavg()} at end; {what}"
    finally:
        if home is not None:
            os.environ["HOME"] = home
        stop_masters(control_dir)
        try:
            if ours is not None and lab_stamp() in (ours, None):  # never a lab another session made
                log("taking the lab down...")
                lab.down()
        finally:
            remove_containers(client)
            client.close()
            shutil.rmtree(control_dir, ignore_errors=True)
    print_report(rows, header)
    print(f"\n(took {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, LabError) as err:
        log(f"error: {err}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted; what the benchmark started has been removed")
        sys.exit(130)
