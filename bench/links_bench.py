"""Link-wiring benchmark: vtui's link executors against the `ip` commands a sysadmin would script, in one run.

    .venv/bin/python bench/links_bench.py [--links 100] [--window 3] [--quick]

Measures, side by side:
  1. local: N container-to-container veth links wired, then torn down, by vtui's netlink executor
     (LocalExecutor.wire_many / unwire_many: vtui.net.local in one worker thread) vs a shell loop of
     `ip link add … type veth peer name …; ip link set … netns PID; nsenter … ip link set … up`
     (one process per command) and its `ip link del` teardown;
  2. remote over SSH: the same N links in containers on a lab host's own dockerd (tests/support/sshlab.py,
     h1), wired by ShellExecutor.wire_many over one SshLink (one script, one exec) and torn down by
     unwire_many; vs vtui's one exec per link (ShellExecutor.wire), the same shell loop through one
     `ssh h1 'sh -s'`, and one `ssh` per command (10 links, extrapolated to N);
  3. TCP throughput through a vtui link vs a hand-made veth pair between the same two containers: a
     Python sender and receiver run from this machine inside the containers' network namespaces
     (`nsenter --net=/proc/PID/ns/net`), 1 MiB writes for the window.
Prints one table with each figure and its target; the exit status is 1 when a target is missed.
Its containers (`vtui-test/busybox`, `sleep 3600`, label vtui.bench=1, no network but their own
loopback) are tracked by id and removed at the end, with the lab and the veths it made in this
machine's namespace, also on Ctrl-C, SIGTERM or failure. Addresses (10.250.x) are set only inside
those containers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import docker
from probing import LAB_WAIT, lab_free, log

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: tests.support.sshlab
from tests.support.sshlab import STATE_FILE, LabError, SshLab
from vtui.errors import LinkError
from vtui.net import bridge as bridges
from vtui.net import local, vxlan
from vtui.net.bridge import Bridge
from vtui.net.executor import LocalExecutor, ShellExecutor
from vtui.net.plan import HERE, End, Veth
from vtui.net.vxlan import VxlanEnd
from vtui.transport.ssh import SshLink, runtime_dir

IMAGE = "vtui-test/busybox:latest"
LABEL = "vtui.bench"
PREFIX = "vbl"  # the peers' temporary names in a host's own namespace: vbl<n>a, vbl<n>b
PORT = 5201
PER_SSH_LINKS = 10  # links done with one `ssh` per command, then extrapolated
WIRE_MS = 5.0  # per link, local
LOCAL_RATE = 1.0 / 100  # seconds per link: 100 links in < 1 s
REMOTE_RATE = 2.0 / 100  # 100 links in < 2 s
THROUGHPUT_RATIO = 0.8
OTHER_RATIO = 0.6  # bridge and VXLAN paths against the hand-made veth


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says what was missing."""


@dataclass(frozen=True)
class Plan:
    links: int
    window: float  # seconds of each throughput run
    rounds: int  # throughput runs each side, alternating


@dataclass(frozen=True)
class Row:
    figure: str
    vtui: str
    peer: str = ""
    target: str = ""
    ok: bool | None = None  # None: no target


@dataclass
class Made:
    """What this run made, to remove at the end: containers by engine, veth names in this machine's namespace."""

    containers: dict[str, list[str]] = field(default_factory=dict)  # docker URL -> ids
    host_veths: list[str] = field(default_factory=list)


# --- figures ------------------------------------------------------------------------------------

def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def per_link(seconds: float, n: int) -> str:
    return f"{seconds * 1000 / n:.2f} ms/link"


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


async def atimed(coro: Awaitable[object]) -> float:
    t0 = time.perf_counter()
    await coro
    return time.perf_counter() - t0


# --- containers and plans -------------------------------------------------------------------------

def start_containers(client: docker.DockerClient, url: str, count: int, made: Made) -> list[int]:
    """`count` idle containers with only a loopback; their first processes' PIDs."""
    pids = []
    for _ in range(count):
        container = client.containers.run(IMAGE, ["sleep", "3600"], detach=True, labels={LABEL: "1"},
                                          network_mode="none")
        made.containers.setdefault(url, []).append(str(container.id))
        container.reload()
        pids.append(int(container.attrs["State"]["Pid"]))
    return pids


def remove_containers(client: docker.DockerClient, ids: Sequence[str]) -> None:
    for cid in ids:
        with suppress(docker.errors.NotFound):
            client.containers.get(cid).remove(force=True)


def plan_links(pids: Sequence[int], n: int, base: int) -> list[Veth]:
    """n links between the containers in pairs (0-1, 2-3), ethK on both ends, ids from `base`."""
    pairs = [(pids[i], pids[i + 1]) for i in range(0, len(pids) - 1, 2)]
    veths = []
    for i in range(n):
        a, b = pairs[i % len(pairs)]
        name = f"eth{i // len(pairs) + 1}"
        veths.append(Veth(f"{base + i:08x}", End(a, name, f"bench container {a}"),
                          End(b, name, f"bench container {b}")))
    return veths


def shell_wire(veths: Sequence[Veth]) -> list[str]:
    """The sysadmin's wiring, one command a line: add the pair here, move each end, name it and bring it up."""
    lines = []
    for i, v in enumerate(veths):
        x, y = f"{PREFIX}{i}a", f"{PREFIX}{i}b"
        lines += [f"ip link add {x} type veth peer name {y}", f"ip link set {x} netns {v.a.pid}",
                  f"ip link set {y} netns {v.b.pid}",
                  f"nsenter --net=/proc/{v.a.pid}/ns/net ip link set {x} name {v.a.ifname} up",
                  f"nsenter --net=/proc/{v.b.pid}/ns/net ip link set {y} name {v.b.ifname} up"]
    return lines


def shell_unwire(veths: Sequence[Veth]) -> list[str]:
    return [f"nsenter --net=/proc/{v.a.pid}/ns/net ip link del {v.a.ifname}" for v in veths]


def host_names(veths: Sequence[Veth]) -> list[str]:
    return [f"{PREFIX}{i}{side}" for i in range(len(veths)) for side in "ab"]


def count_links(pids: Sequence[int]) -> int:
    """Interfaces other than lo in the containers' namespaces (netlink from here: one PID namespace)."""
    return sum(len(local.interfaces(pid, f"bench container {pid}") - {"lo"}) for pid in pids)


def check(results: Sequence[bool | LinkError], what: str) -> None:
    errors = [r for r in results if isinstance(r, LinkError)]
    if errors or not all(results):
        raise BenchError(f"{what}: {len(errors)} failed ({errors[:1]}), {results.count(False)} did nothing")


def expect(pids: Sequence[int], links: int, what: str) -> None:
    found = count_links(pids)
    if found != 2 * links:
        raise BenchError(f"{what}: {found} link ends in the containers, expected {2 * links}")


def run_script(script: str, argv: Sequence[str] = ("sh", "-s")) -> None:
    done = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise BenchError(f"{' '.join(argv[:3])}: exit {done.returncode}: {done.stderr.strip()[-300:]}")


# --- 1. local -------------------------------------------------------------------------------------

def bench_local(client: docker.DockerClient, plan: Plan, made: Made) -> tuple[list[Row], list[int]]:
    pids = start_containers(client, "local", 4, made)
    veths = plan_links(pids, plan.links, 0xBE000000)
    n = plan.links
    taken = set(local.interfaces(HERE, "this machine")) & set(host_names(veths))
    if taken:
        raise BenchError(f"interfaces {sorted(taken)[:3]} exist here already: the peer's names would clash")
    executor = LocalExecutor()
    results: list[bool | LinkError] = []

    async def many(change: Callable[[Sequence[Veth]], Awaitable[list[bool | LinkError]]]) -> float:
        t0 = time.perf_counter()
        results[:] = await change(veths)
        return time.perf_counter() - t0

    log(f"local: {n} links with vtui (netlink)...")
    wire = asyncio.run(many(executor.wire_many))
    check(results, "vtui wire_many")
    expect(pids, n, "vtui, local")
    unwire = asyncio.run(many(executor.unwire_many))
    check(results, "vtui unwire_many")
    expect(pids, 0, "vtui, local, torn down")

    log(f"local: {n} links with a shell loop of ip commands...")
    made.host_veths += host_names(veths)
    shell_on = timed(lambda: run_script("set -e\n" + "\n".join(shell_wire(veths)) + "\n"))
    expect(pids, n, "shell loop, local")
    shell_off = timed(lambda: run_script("set -e\n" + "\n".join(shell_unwire(veths)) + "\n"))
    expect(pids, 0, "shell loop, local, torn down")
    limit = n * LOCAL_RATE
    rows = [
        Row(f"local: wire {n} links, per link", per_link(wire, n), per_link(shell_on, n), f"<= {WIRE_MS:g} ms/link",
            wire * 1000 / n <= WIRE_MS),
        Row(f"local: tear down {n} links, per link", per_link(unwire, n), per_link(shell_off, n),
            f"<= {WIRE_MS:g} ms/link", unwire * 1000 / n <= WIRE_MS),
        Row(f"local: wire {n} links, total", ms(wire), f"{ms(shell_on)} ({5 * n} processes)", f"< {ms(limit)}",
            wire < limit),
        Row(f"local: tear down {n} links, total", ms(unwire), f"{ms(shell_off)} ({n} processes)", f"< {ms(limit)}",
            unwire < limit),
    ]
    return rows, pids


# --- 2. remote over SSH ---------------------------------------------------------------------------

async def bench_remote(lab: SshLab, pids: Sequence[int], plan: Plan) -> list[Row]:
    n = plan.links
    veths = plan_links(pids, n, 0xBF000000)
    link = SshLink("h1", "h1", runtime_dir())
    try:
        t0 = time.perf_counter()
        await link.connect()
        connect = time.perf_counter() - t0
        empty = statistics.median([await atimed(link.run("true")) for _ in range(5)])
        calls = 0

        async def counted(command: str) -> str:  # link.run, counting the execs
            nonlocal calls
            calls += 1
            return await link.run(command)

        executor = ShellExecutor(counted, link.stream, "h1")
        results: list[bool | LinkError] = []

        async def many(change: Callable[[Sequence[Veth]], Awaitable[list[bool | LinkError]]]) -> None:
            results[:] = await change(veths)

        log(f"remote: {n} links with vtui (one script over one SSH connection)...")
        wire = await atimed(many(executor.wire_many))
        wire_calls, calls = calls, 0
        check(results, "vtui wire_many over SSH")
        await asyncio.to_thread(expect, pids, n, "vtui, remote")
        unwire = await atimed(many(executor.unwire_many))
        unwire_calls, calls = calls, 0
        check(results, "vtui unwire_many over SSH")
        await asyncio.to_thread(expect, pids, 0, "vtui, remote, torn down")

        log(f"remote: {n} links with vtui, one exec per link...")
        t0 = time.perf_counter()
        each = [await executor.wire(v) for v in veths]
        one_on = time.perf_counter() - t0
        check(each, "vtui wire per link over SSH")
        await asyncio.to_thread(expect, pids, n, "vtui per link, remote")
        t0 = time.perf_counter()
        each = [await executor.unwire(v) for v in veths]
        one_off = time.perf_counter() - t0
        check(each, "vtui unwire per link over SSH")
        await asyncio.to_thread(expect, pids, 0, "vtui per link, remote, torn down")
    finally:
        await link.close()

    log(f"remote: {n} links with the shell loop through one `ssh h1 'sh -s'`...")
    ssh_true = await asyncio.to_thread(timed, lambda: run_script("", lab.ssh_argv("h1", "true")))
    shell_on = await asyncio.to_thread(timed, lambda: run_script("set -e\n" + "\n".join(shell_wire(veths)) + "\n",
                                                         lab.ssh_argv("h1", "sh -s")))
    await asyncio.to_thread(expect, pids, n, "shell loop over ssh")
    shell_off = await asyncio.to_thread(timed, lambda: run_script("set -e\n" + "\n".join(shell_unwire(veths)) + "\n",
                                                          lab.ssh_argv("h1", "sh -s")))
    await asyncio.to_thread(expect, pids, 0, "shell loop over ssh, torn down")

    few = veths[:PER_SSH_LINKS]
    log(f"remote: {len(few)} links with one ssh per command...")

    def per_command(lines: Sequence[str]) -> None:
        for line in lines:
            run_script("", lab.ssh_argv("h1", line))

    per_on = await asyncio.to_thread(timed, lambda: per_command(shell_wire(few)))
    await asyncio.to_thread(expect, pids, len(few), "ssh per command")
    per_off = await asyncio.to_thread(timed, lambda: per_command(shell_unwire(few)))
    await asyncio.to_thread(expect, pids, 0, "ssh per command, torn down")
    scale = n / len(few)
    limit = n * REMOTE_RATE
    return [
        Row("remote h1: SSH connect (asyncssh) / an empty command on it", f"{ms(connect)} / {ms(empty)}",
            f"`ssh h1 true`, fresh connection: {ms(ssh_true)}"),
        Row(f"remote h1: wire {n} links, total", f"{ms(wire)} ({wire_calls} exec, {per_link(wire, n)})",
            f"ssh h1 'sh -s' loop: {ms(shell_on)} ({5 * n} processes)", f"< {ms(limit)}", wire < limit),
        Row(f"remote h1: tear down {n} links, total", f"{ms(unwire)} ({unwire_calls} exec, {per_link(unwire, n)})",
            f"ssh h1 'sh -s' loop: {ms(shell_off)}", f"< {ms(limit)}", unwire < limit),
        Row(f"remote h1: wire {n} links, vtui one exec per link", f"{ms(one_on)} ({n} execs)",
            f"one ssh per command: {ms(per_on * scale)} (extrapolated from {len(few)} links, {5 * len(few)} ssh)"),
        Row(f"remote h1: tear down {n} links, vtui one exec per link", f"{ms(one_off)} ({n} execs)",
            f"one ssh per command: {ms(per_off * scale)} (extrapolated from {len(few)} links)"),
    ]


# --- 3. throughput --------------------------------------------------------------------------------

RECEIVER = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); buf = bytearray(1 << 20); n = 0; t0 = None
while k := c.recv_into(buf):
    t0 = t0 or time.perf_counter(); n += k
print(n, time.perf_counter() - (t0 or 0), flush=True)
"""
SENDER = """
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2]))); data = b"x" * (1 << 20)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    c.sendall(data)
c.close()
"""


def tcp_gbits(pid_tx: int, pid_rx: int, address: str, seconds: float) -> float:
    """Gbit/s of one TCP stream from one namespace to the other (the receiver's count, first byte to EOF)."""
    def inside(pid: int, code: str, *args: str) -> list[str]:
        return ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", code, *args]

    rx = subprocess.Popen(inside(pid_rx, RECEIVER, address, str(PORT)), stdout=subprocess.PIPE, text=True)
    try:
        assert rx.stdout is not None
        if rx.stdout.readline().strip() != "ready":
            raise BenchError("the TCP receiver did not start")
        subprocess.run(inside(pid_tx, SENDER, address, str(PORT), str(seconds)), check=True, timeout=seconds + 30)
        count, elapsed = rx.stdout.readline().split()
        rx.wait(timeout=30)
        return int(count) * 8 / float(elapsed) / 1e9
    finally:
        if rx.poll() is None:
            rx.kill()
            rx.wait()


def bench_throughput(pids: Sequence[int], plan: Plan, made: Made) -> list[Row]:
    a, b = pids[0], pids[1]
    vtui_link = Veth("bd000001", End(a, "tp1", f"bench container {a}", ("10.250.1.1/30",)),
                     End(b, "tp1", f"bench container {b}", ("10.250.1.2/30",)))
    local.wire_veth(vtui_link)
    x, y = f"{PREFIX}tpa", f"{PREFIX}tpb"
    if {x, y} & local.interfaces(HERE, "this machine"):
        raise BenchError(f"{x} or {y} exists here already")
    made.host_veths += [x, y]
    run_script(f"""set -e
ip link add {x} type veth peer name {y}
ip link set {x} netns {a}
ip link set {y} netns {b}
nsenter --net=/proc/{a}/ns/net sh -c 'ip addr add 10.250.2.1/30 dev {x} && ip link set {x} name tp2 up'
nsenter --net=/proc/{b}/ns/net sh -c 'ip addr add 10.250.2.2/30 dev {y} && ip link set {y} name tp2 up'
""")
    log(f"throughput: {plan.rounds} x {plan.window:g} s each way, alternating...")
    ours, hand = [], []
    for _ in range(plan.rounds):
        ours.append(tcp_gbits(a, b, "10.250.1.2", plan.window))
        hand.append(tcp_gbits(a, b, "10.250.2.2", plan.window))
    for pid in (a, b):  # the hand-made pair as vtui sets its ends: TX checksum offload off
        run_script(f"nsenter --net=/proc/{pid}/ns/net ethtool -K tp2 tx off >/dev/null")
    hand_off = [tcp_gbits(a, b, "10.250.2.2", plan.window) for _ in range(plan.rounds)]
    paths = other_paths(a, b, plan)
    mine, theirs = statistics.median(ours), statistics.median(hand)
    offload = subprocess.run(["nsenter", f"--net=/proc/{a}/ns/net", "ethtool", "-k", "tp1"], capture_output=True,
                             text=True).stdout
    tx = next((line.split(":")[1].strip() for line in offload.splitlines() if line.startswith("tx-checksumming")),
              "?")
    runs = f"runs {', '.join(f'{g:.2f}' for g in ours)}"
    return [Row("TCP through the link, one stream, 1 MiB writes", f"{mine:.2f} Gbit/s ({runs}; tx csum {tx})",
                f"hand-made veth: {theirs:.2f} Gbit/s (runs {', '.join(f'{g:.2f}' for g in hand)})",
                f">= {THROUGHPUT_RATIO}x", mine >= THROUGHPUT_RATIO * theirs),
            Row("  vtui / hand-made", f"{mine / theirs:.2f}" if theirs else "-"),
            Row("  the hand-made veth with tx checksum offload off (as a VM link's container end)", "",
                f"{statistics.median(hand_off):.2f} Gbit/s (runs {', '.join(f'{g:.2f}' for g in hand_off)})"),
            *(Row(f"TCP through a vtui {name}", f"{statistics.median(got):.2f} Gbit/s "
                  f"(runs {', '.join(f'{g:.2f}' for g in got)}; {statistics.median(got) / theirs:.2f}x)",
                  "the hand-made veth above", f">= {OTHER_RATIO}x", statistics.median(got) >= OTHER_RATIO * theirs)
              for name, got in paths.items())]


def other_paths(a: int, b: int, plan: Plan) -> dict[str, list[float]]:
    """Gbit/s through a segment (a bridge in its own namespace) and through a VXLAN tunnel between two
    underlays (namespaces this run makes, joined by a veth: two hosts' networks), between a and b."""
    found: dict[str, list[float]] = {}
    bridge = Bridge("bd000003")
    ports = [Veth(f"bd000003.{n}", End(pid, "tp3", f"bench container {pid}", (f"10.250.3.{n + 1}/30",)),
                  bridge.port(n)) for n, pid in enumerate((a, b))]
    underlays = [f"vtui-bench-ul{n}-{os.getpid()}" for n in (1, 2)]
    tunnel = [VxlanEnd("bd000004", side, End(pid, "tp4", f"bench container {pid}", (f"10.250.4.{n + 1}/30",)),
                       f"10.250.5.{n + 1}", f"10.250.5.{2 - n}", 1450, underlay=f"/run/netns/{ul}")
              for n, (side, pid, ul) in enumerate((("a", a, underlays[0]), ("b", b, underlays[1])))]
    try:
        bridges.wire_bridge(bridge)
        for port in ports:
            bridges.wire_port(port, bridge)
        found["segment (bridge)"] = [tcp_gbits(a, b, "10.250.3.2", plan.window) for _ in range(plan.rounds)]
        run_script(f"""set -e
ip netns add {underlays[0]}; ip netns add {underlays[1]}
ip link add ul0 netns {underlays[0]} type veth peer name ul0 netns {underlays[1]}
ip -n {underlays[0]} addr add 10.250.5.1/30 dev ul0; ip -n {underlays[0]} link set ul0 up
ip -n {underlays[1]} addr add 10.250.5.2/30 dev ul0; ip -n {underlays[1]} link set ul0 up
""")
        for end in tunnel:
            vxlan.wire_vxlan(end)
        found["VXLAN tunnel (MTU 1450)"] = [tcp_gbits(a, b, "10.250.4.2", plan.window) for _ in range(plan.rounds)]
    finally:
        for end in tunnel:
            vxlan.unwire_vxlan(end)
        bridges.unwire_bridge(bridge)  # its namespace: the bridge and its ports go with it
        for name in underlays:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return found


# --- the run --------------------------------------------------------------------------------------

def remove_host_veths(names: Sequence[str]) -> None:
    """The peers' pairs still in this machine's namespace (a run stopped half-way); only names this run made."""
    present = local.interfaces(HERE, "this machine")
    for name in names:
        if name in present:
            subprocess.run(["ip", "link", "del", "dev", name], capture_output=True)


def print_report(rows: Sequence[Row], header: str) -> None:
    cells = [(r.figure, r.vtui, r.peer, r.target, "" if r.ok is None else ("ok" if r.ok else "MISSED")) for r in rows]
    names = ("figure", "vtui", "peer (same run)", "target", "")
    widths = [max(len(c[i]) for c in [names, *cells]) for i in range(5)]
    print(f"\nvtui links benchmark: {header}")
    for c in [names, *cells]:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())


def parse_args(argv: Sequence[str] | None) -> Plan:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--links", type=int, help="links each way (default 100; --quick 20)")
    ap.add_argument("--window", type=float, help="seconds of each throughput run (default 3; --quick 1)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 20 links, 1 s throughput runs")
    args = ap.parse_args(argv)
    links = args.links or (20 if args.quick else 100)
    if not PER_SSH_LINKS <= links <= 1000:
        ap.error(f"--links between {PER_SSH_LINKS} and 1000")
    return Plan(links, args.window or (1.0 if args.quick else 3.0), 1 if args.quick else 3)


def raise_interrupt(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


async def remote_part(lab: SshLab, pids: Sequence[int], plan: Plan) -> list[Row]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await bench_remote(lab, pids, plan)


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse_args(argv)
    if os.geteuid() != 0:
        raise BenchError("links and the SSH lab need root")
    if not lab_free(STATE_FILE):
        raise BenchError(f"an SSH lab is still up ({STATE_FILE}) after {LAB_WAIT / 60:.0f} min: a test session may be "
                         "using it. If it is a leftover: .venv/bin/python -m tests.support.sshlab down")
    signal.signal(signal.SIGTERM, raise_interrupt)
    started = time.monotonic()
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock", timeout=120)
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        raise BenchError(f"{IMAGE} is missing: scripts/testbed.sh up") from None
    made = Made()
    lab = SshLab(2, docker_hosts=("h1",))
    remote: docker.DockerClient | None = None
    lab_file: tuple[int, int] | None = None
    home = os.environ.get("HOME")
    header = f"{plan.links} links; {os.cpu_count()} cores; load average {loadavg()} at start"
    rows: list[Row] = []
    try:
        local_rows, pids = bench_local(client, plan, made)
        rows += local_rows
        rows += bench_throughput(pids, plan, made)
        log("building the SSH lab (h1 with its own dockerd)...")
        if not lab_free(STATE_FILE):
            raise BenchError(f"an SSH lab came up meanwhile ({STATE_FILE}) and is still up after {LAB_WAIT / 60:.0f} "
                             "min: a test session may be using it")
        t0 = time.monotonic()
        lab.up()  # on failure it takes down what it made
        lab_file = lab_stamp()
        log(f"  up in {time.monotonic() - t0:.1f} s")
        socket_path = lab.host("h1").docker_socket
        assert socket_path
        remote = docker.DockerClient(base_url=f"unix://{socket_path}", timeout=120)
        h1_pids = start_containers(remote, "h1", 4, made)
        os.environ["HOME"] = str(lab.home)  # asyncssh reads ~/.ssh/config through HOME
        try:
            rows += asyncio.run(remote_part(lab, h1_pids, plan))
        except asyncio.CancelledError:  # SIGTERM while measuring
            raise KeyboardInterrupt from None
        header += f", {loadavg()} at end"
    finally:
        if home is not None:
            os.environ["HOME"] = home
        try:
            if remote is not None:
                remove_containers(remote, made.containers.get("h1", []))
                remote.close()
            if lab_file is not None and lab_stamp() in (lab_file, None):  # never a lab another session made
                log("taking the lab down...")
                lab.down()
        finally:
            log("removing what the run made...")
            remove_containers(client, made.containers.get("local", []))
            client.close()
            remove_host_veths(made.host_veths)
    print_report(rows, header)
    print(f"\n(took {time.monotonic() - started:.0f} s)")
    return 0 if all(r.ok is not False for r in rows) else 1


def lab_stamp() -> tuple[int, int] | None:
    """The lab's state file as (inode, mtime): which lab is up, if any."""
    with suppress(FileNotFoundError):
        found = STATE_FILE.stat()
        return found.st_ino, found.st_mtime_ns
    return None


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, LabError, LinkError) as err:
        log(f"error: {err}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted; what the benchmark started has been removed")
        sys.exit(130)
