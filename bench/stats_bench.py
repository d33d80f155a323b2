"""Live-stats benchmark: vtui against `docker stats`, with targets, in one run.

    .venv/bin/python bench/stats_bench.py [--containers 100,200] [--window 30] [--quick]

Measures, on this machine's dockerd and libvirt's test driver:
  1. one stats snapshot (docker cgroup read + libvirt bulk call) vs `docker stats --no-stream`;
  2. CPU of the real TUI (in tmux) and of dockerd at a 1 s refresh vs streaming `docker stats`;
  3. keypress-to-repaint latency with ~1,200 rows, with and without stats flowing.
Starts its containers with the label vtui.bench=1 and removes them (and its tmux
server, `docker stats` and temp files) at the end, also on Ctrl-C or failure.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import docker
import docker.errors
import probing
from probing import ProbedApp, log, p95

from vtui.backends.cgroups import LocalCounters
from vtui.backends.docker import DockerBackend
from vtui.backends.libvirt import LibvirtBackend
from vtui.config.settings import Config
from vtui.model import Node, State
from vtui.model.stats import Sample, rates
from vtui.session import Session
from vtui.widgets.node_table import SORTABLE, NodeTable

IMAGE = "vtui-test/busybox:latest"
LABEL = "vtui.bench"
DOCKER_URL = "unix:///var/run/docker.sock"
VTUI_BIN = Path(sys.prefix) / "bin" / "vtui"
TMUX = ["tmux", "-L", "vtui-bench"]  # a private tmux server: ours alone to stop
SESSION = "vtui-bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGET_SNAPSHOT_MS = 100.0
TARGET_CPU_PCT = 5.0
TARGET_ADDED_PCT = 1.0  # "near zero": under 1 % of a core
TARGET_LATENCY_MS = 50.0


@dataclass(frozen=True)
class Plan:
    containers: list[int]
    window: float
    vms: int
    vtui_reps: int
    docker_reps: int
    presses: int
    sorts: int


@dataclass(frozen=True)
class Row:
    figure: str
    vtui: str
    peer: str = ""
    target: str = ""
    ok: bool | None = None


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


# --- test-driver VMs -----------------------------------------------------------

def write_vms_xml(path: Path, count: int) -> None:
    """`count` test-driver domains, running / paused / shut off in turn."""
    domain = ("<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
              "<name>bench-vm-{i:04d}</name><memory unit='MiB'>512</memory><vcpu>1</vcpu>"
              "<os><type>hvm</type></os><test:runstate>{state}</test:runstate></domain>")
    body = "\n".join(domain.format(i=i, state=(1, 3, 5)[i % 3]) for i in range(1, count + 1))
    path.write_text(f"<node>\n{body}\n</node>\n")


# --- containers ----------------------------------------------------------------

def docker_client() -> docker.DockerClient:
    return docker.DockerClient(base_url=DOCKER_URL, timeout=120)


def bench_containers(client: docker.DockerClient) -> list[Any]:
    return client.containers.list(all=True, filters={"label": f"{LABEL}=1"})


def start_containers(client: docker.DockerClient, total: int) -> None:
    """Bring the running bench containers up to `total` (`docker run -d --label … sleep 3600`)."""
    missing = total - len(bench_containers(client))
    if missing <= 0:
        return
    log(f"starting {missing} containers (total {total})...")
    t0 = time.monotonic()

    def run(_: int) -> None:
        client.containers.run(IMAGE, ["sleep", "3600"], detach=True, labels={LABEL: "1"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(run, range(missing)))
    log(f"  started in {time.monotonic() - t0:.1f} s")


def remove_containers(client: docker.DockerClient) -> None:
    found = bench_containers(client)
    if not found:
        return
    log(f"removing {len(found)} bench containers...")

    def remove(container: Any) -> None:
        with suppress(docker.errors.NotFound):
            container.remove(force=True)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(remove, found))


# --- 1. snapshot ------------------------------------------------------------------

async def timed(coro: Awaitable[dict[str, Sample]]) -> tuple[float, dict[str, Sample]]:
    t0 = time.perf_counter()
    result = await coro
    return time.perf_counter() - t0, result


async def snapshot_once(docker_b: DockerBackend, virt: LibvirtBackend, nodes: Sequence[Node],
                        prev: dict[str, Sample]) -> tuple[float, dict[str, Sample]]:
    """One snapshot as the hub takes it: both engines at once, then rates against the last one."""
    t0 = time.perf_counter()
    containers, vms = await asyncio.gather(docker_b.sample(nodes), virt.sample([]))
    samples = containers | vms
    for key, sample in samples.items():
        rates(prev.get(key), sample)
    return time.perf_counter() - t0, samples


async def vtui_snapshots(vms_uri: str, reps: int) -> tuple[list[float], list[float], list[float], int]:
    """Seconds per snapshot, and per engine alone (docker, libvirt); the running containers' count."""
    docker_b = DockerBackend("local", DOCKER_URL, LocalCounters())
    virt = LibvirtBackend("local", vms_uri)
    try:
        await asyncio.gather(docker_b.connect(), virt.connect())
        nodes = [n for n in await docker_b.list_nodes() if n.state is State.RUNNING]
        _, prev = await snapshot_once(docker_b, virt, nodes, {})  # warm-up: finds the cgroup dirs
        totals, dockers, virts = [], [], []
        for _ in range(reps):
            total, prev = await snapshot_once(docker_b, virt, nodes, prev)
            totals.append(total)
            dockers.append((await timed(docker_b.sample(nodes)))[0])
            virts.append((await timed(virt.sample([])))[0])
        if docker_b.stats_note:
            log(f"  warning: {docker_b.stats_note}")
        return totals, dockers, virts, len(nodes)
    finally:
        await asyncio.gather(docker_b.close(), virt.close())


def docker_stats_no_stream(reps: int) -> tuple[list[float], int]:
    times, lines = [], 0
    for _ in range(reps):
        t0 = time.perf_counter()
        out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.ID}}"],
                             capture_output=True, text=True, timeout=600, check=True).stdout
        times.append(time.perf_counter() - t0)
        lines = len(out.split())
    return times, lines


def bench_snapshot(n: int, vms_uri: str, plan: Plan) -> list[Row]:
    log(f"snapshot with {n} containers: vtui x{plan.vtui_reps}, docker stats --no-stream x{plan.docker_reps}...")
    totals, dockers, virts, running = asyncio.run(vtui_snapshots(vms_uri, plan.vtui_reps))
    peer, peer_count = docker_stats_no_stream(plan.docker_reps)
    med = statistics.median(totals)
    return [
        Row(f"snapshot, {n} containers + {plan.vms} VMs",
            f"{ms(med)} (max {ms(max(totals))})",
            f"docker stats --no-stream {ms(statistics.median(peer))} (max {ms(max(peer))})",
            f"< {TARGET_SNAPSHOT_MS:.0f} ms", med * 1000 < TARGET_SNAPSHOT_MS),
        Row("  each alone: docker (cgroup files) / libvirt (bulk)",
            f"{ms(statistics.median(dockers))} / {ms(statistics.median(virts))}",
            f"vtui sampled {running} running containers, docker stats {peer_count}"),
    ]


# --- 2. CPU ---------------------------------------------------------------------------

def proc_ticks(pid: int) -> int | None:
    """utime + stime of a whole process (all its threads), in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[11]) + int(fields[12])


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def dockerd_pid() -> int:
    with suppress(FileNotFoundError, ValueError):
        pid = int(Path("/run/vtui-testbed/dockerd.pid").read_text())
        if comm(pid) == "dockerd":
            return pid
    out = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def engine_pids() -> list[int]:
    """dockerd, its containerd and every containerd shim: where `docker stats` work lands."""
    pids = [dockerd_pid()]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and comm(int(entry.name)) in ("containerd", "containerd-shim"):
            pids.append(int(entry.name))
    return pids


def cpu_window(groups: dict[str, list[int]], seconds: float) -> dict[str, float]:
    """CPU of each group of processes over `seconds`, as % of one core (processes that vanish are left out)."""
    start = {name: {p: proc_ticks(p) for p in pids} for name, pids in groups.items()}
    t0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    result = {}
    for name, before in start.items():
        ticks = 0
        for pid, was in before.items():
            now = proc_ticks(pid)
            if was is not None and now is not None:
                ticks += now - was
        result[name] = 100.0 * ticks / CLK_TCK / wall
    return result


def tmux(*args: str) -> str:
    return subprocess.run([*TMUX, *args], capture_output=True, text=True, timeout=30, check=True).stdout


def descendants(pid: int) -> Iterator[int]:
    yield pid
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with suppress(FileNotFoundError):
            for child in task.read_text().split():
                yield from descendants(int(child))


def vtui_pid(pane_pid: int) -> int | None:
    """The vtui Python process in the pane (the pane's shell may have exec'd it or forked)."""
    found = [p for p in descendants(pane_pid) if str(VTUI_BIN) in cmdline(p) and comm(p) not in ("sh", "bash")]
    return found[-1] if found else None


def start_vtui(vms_uri: str, config: Path, rows: int, timeout: float = 120) -> int:
    """The real TUI in a detached tmux pane; its PID once it shows at least `rows` rows."""
    cmd = f"{VTUI_BIN} --config {config} --libvirt {vms_uri} --docker {DOCKER_URL} --interval 1"
    tmux("new-session", "-d", "-s", SESSION, "-x", "160", "-y", "45", cmd)
    pane_pid = int(tmux("display-message", "-p", "-t", SESSION, "#{pane_pid}"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc_ticks(pane_pid) is None:
            raise RuntimeError("vtui exited at start-up; see ~/.local/state/vtui/vtui.log")
        shown = re.search(r"nodes \((\d+)\)", tmux("capture-pane", "-p", "-t", SESSION))
        if shown and int(shown.group(1)) >= rows and (pid := vtui_pid(pane_pid)):
            return pid
        time.sleep(0.5)
    raise TimeoutError(f"vtui did not show {rows} rows within {timeout:.0f} s")


def stop_vtui(pid: int | None) -> None:
    """q, then SIGTERM to its PID if it has not quit within 5 s; then our tmux server."""
    with suppress(subprocess.SubprocessError):
        tmux("send-keys", "-t", SESSION, "q")
    deadline = time.monotonic() + 5
    while pid is not None and proc_ticks(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.25)
    if pid is not None and proc_ticks(pid) is not None:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    with suppress(subprocess.SubprocessError):
        tmux("kill-server")  # our private server only (-L vtui-bench)


def bench_cpu(n: int, vms_uri: str, config: Path, plan: Plan, settle: float = 5.0) -> list[Row]:
    window = plan.window
    log(f"CPU: dockerd baseline ({window:.0f} s)...")
    base1 = cpu_window({"dockerd": [dockerd_pid()], "engine": engine_pids()}, window)

    log("CPU: vtui in tmux...")
    pid = None
    try:
        pid = start_vtui(vms_uri, config, n + plan.vms)
        time.sleep(settle)  # start-up work done, stats flowing
        log(f"  vtui (pid {pid}) shows its rows; measuring {window:.0f} s...")
        with_vtui = cpu_window({"vtui": [pid], "dockerd": [dockerd_pid()], "engine": engine_pids()}, window)
        if proc_ticks(pid) is None:
            raise RuntimeError("vtui exited during the CPU window")
    finally:
        stop_vtui(pid)

    log("CPU: docker stats (streaming)...")
    with docker_stats_stream() as peer_pid:
        time.sleep(settle)
        with_peer = cpu_window({"docker": [peer_pid], "dockerd": [dockerd_pid()], "engine": engine_pids()}, window)

    log(f"CPU: dockerd baseline again ({window:.0f} s)...")
    base2 = cpu_window({"dockerd": [dockerd_pid()], "engine": engine_pids()}, window)
    base = {k: (base1[k] + base2[k]) / 2 for k in base1}

    def added(m: dict[str, float], k: str) -> float:
        return m[k] - base[k]

    what = f"{n} c + {plan.vms} VMs, 1 s refresh, {window:.0f} s"
    return [
        Row(f"CPU of the tool ({what})", f"{with_vtui['vtui']:.1f} % of a core",
            f"docker stats CLI {with_peer['docker']:.1f} %", f"< {TARGET_CPU_PCT:.0f} %",
            with_vtui["vtui"] < TARGET_CPU_PCT),
        Row("dockerd: added CPU (with - baseline)", f"{added(with_vtui, 'dockerd'):+.1f} %",
            f"docker stats {added(with_peer, 'dockerd'):+.1f} %", f"~0 (< {TARGET_ADDED_PCT:.0f} %)",
            added(with_vtui, "dockerd") < TARGET_ADDED_PCT),
        Row("  dockerd baseline (before / after)", f"{base1['dockerd']:.1f} % / {base2['dockerd']:.1f} %"),
        Row("dockerd+containerd+shims: added CPU", f"{added(with_vtui, 'engine'):+.1f} %",
            f"docker stats {added(with_peer, 'engine'):+.1f} %", f"~0 (< {TARGET_ADDED_PCT:.0f} %)",
            added(with_vtui, "engine") < TARGET_ADDED_PCT),
        Row("  dockerd+containerd+shims baseline", f"{base1['engine']:.1f} % / {base2['engine']:.1f} %"),
    ]


@contextmanager
def docker_stats_stream() -> Iterator[int]:
    """Streaming `docker stats` (what lazydocker-like tools keep open), stopped by its PID."""
    proc = subprocess.Popen(["docker", "stats"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- 3. keypress -> repaint --------------------------------------------------------------

def row_visible(table: NodeTable, row: int) -> bool:
    top = round(table.scroll_y)
    return top <= row < top + table.scrollable_content_region.height - 1  # one line of header


async def press(app: ProbedApp, key: str, shows_effect: Callable[[], bool], timeout: float = 10) -> float:
    latency = await probing.press(app, key, shows_effect, timeout)
    if latency == math.inf:
        table = app.inventory_screen.table
        log(f"  {key!r}: no repaint showing its effect within {timeout:.0f} s (cursor row {table.cursor_row}, "
            f"scroll {table.scroll_y}, sort {table.sort_column})")
    return latency


# Effects are checked on the selected node, not the row number: rows that come and
# go above the cursor (containers of other users) move its row, not its node.
def cursor_shown_on(table: NodeTable, key: str) -> Callable[[], bool]:
    def check() -> bool:
        node = table.selected
        return node is not None and node.key == key and row_visible(table, table.cursor_row)
    return check


def sorted_by(table: NodeTable, column: str) -> Callable[[], bool]:
    return lambda: table.sort_column == column and row_visible(table, table.cursor_row)


def row_below(table: NodeTable) -> str:
    return table.ordered_nodes()[min(table.cursor_row + 1, table.row_count - 1)].key


async def key_run(app: ProbedApp, plan: Plan, gap: Callable[[], float]) -> tuple[list[float], list[float]]:
    """`plan.presses` times j, then `plan.sorts` times s; latencies in seconds."""
    table = app.inventory_screen.table
    downs, sorts = [], []
    for _ in range(plan.presses):
        downs.append(await press(app, "j", cursor_shown_on(table, row_below(table))))
        await asyncio.sleep(gap())
    for _ in range(plan.sorts):
        column = SORTABLE[(SORTABLE.index(table.sort_column) + 1) % len(SORTABLE)]
        sorts.append(await press(app, "s", sorted_by(table, column)))
        await asyncio.sleep(gap())
    return downs, sorts


async def latency_runs(vms_uri: str, rows: int, plan: Plan) -> tuple[int, dict[str, tuple[list[float], list[float]]]]:
    app = ProbedApp(Session(Config(), [LibvirtBackend("local", vms_uri),
                                       DockerBackend("local", DOCKER_URL, LocalCounters())], interval=1.0))
    rng = random.Random(1)
    async with app.run_test(size=(160, 45)):
        table = app.inventory_screen.table
        deadline = time.monotonic() + 120
        while table.row_count < rows:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the table has {table.row_count} rows, not {rows}, after 120 s")
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # stats have arrived at least twice
        log(f"  {table.row_count} rows; pressing keys with stats flowing (1 s)...")
        flowing = await key_run(app, plan, lambda: rng.uniform(0.05, 0.25))  # spread over several updates
        app.hub.interval = 3600.0  # the samplers sleep an hour after their next poll
        await asyncio.sleep(2.5)
        log("  pressing keys with stats stopped...")
        idle = await key_run(app, plan, lambda: 0.05)
        return table.row_count, {"idle": idle, "stats flowing": flowing}


def bench_latency(n: int, vms_uri: str, plan: Plan) -> list[Row]:
    log(f"keypress latency, in-process app ({n} containers + {plan.vms} VMs)...")
    count, runs = asyncio.run(latency_runs(vms_uri, n + plan.vms, plan))
    out = []
    for name, (downs, sorts) in runs.items():
        both = downs + sorts
        out += [
            Row(f"key->repaint, {count} rows, {name}",
                f"median {ms(statistics.median(both))}, p95 {ms(p95(both))}, max {ms(max(both))}",
                "", f"p95 < {TARGET_LATENCY_MS:.0f} ms", p95(both) * 1000 < TARGET_LATENCY_MS),
            Row(f"  j x{len(downs)} / s x{len(sorts)}",
                f"{ms(statistics.median(downs))} (max {ms(max(downs))}) / "
                f"{ms(statistics.median(sorts))} (max {ms(max(sorts))})"),
        ]
    return out


# --- report and main -----------------------------------------------------------------------

def machine_line(plan: Plan) -> str:
    load = Path("/proc/loadavg").read_text().split()[:3]
    version = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                             capture_output=True, text=True, check=False).stdout.strip()
    cgroup = "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"
    return (f"{os.cpu_count()} cores, cgroup {cgroup}, dockerd {version}, {plan.vms} test-driver VMs, "
            f"load average {' '.join(load)}")


def others_running(client: docker.DockerClient) -> int:
    return len(client.containers.list()) - len([c for c in bench_containers(client) if c.status == "running"])


def print_report(rows: Iterable[Row], header: str) -> None:
    rows = list(rows)
    widths = [max(len(getattr(r, f)) for r in rows) for f in ("figure", "vtui", "peer", "target")]
    print(f"\nvtui stats benchmark: {header}")
    print("  ".join(h.ljust(w) for h, w in zip(("figure", "vtui", "peer", "target"), widths, strict=True)))
    for r in rows:
        verdict = {True: "ok", False: "MISSED", None: ""}[r.ok]
        cols = (r.figure, r.vtui, r.peer, r.target)
        print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + "  " + verdict)


def parse_args(argv: Sequence[str] | None) -> Plan:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--containers", default="100,200", help="container counts, comma-separated (default 100,200)")
    ap.add_argument("--window", type=float, default=30.0, help="CPU window in seconds (default 30)")
    ap.add_argument("--vms", type=int, default=1000, help="test-driver VMs (default 1000)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 10 containers, 5 s windows, few repetitions")
    args = ap.parse_args(argv)
    if args.quick:
        return Plan([10], 5.0, args.vms, vtui_reps=3, docker_reps=1, presses=10, sorts=2)
    counts = sorted({int(c) for c in args.containers.split(",")})
    return Plan(counts, args.window, args.vms, vtui_reps=5, docker_reps=3, presses=50, sorts=4)


def raise_interrupt(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    started = time.monotonic()
    client = docker_client()
    client.images.get(IMAGE)  # fails early when the test bed is not up
    rows: list[Row] = []
    header = machine_line(plan)
    others = others_running(client)
    with tempfile.TemporaryDirectory(prefix="vtui-bench.") as tmp:
        vms_xml = Path(tmp) / "vms.xml"
        write_vms_xml(vms_xml, plan.vms)
        vms_uri = f"test://{vms_xml}"
        try:
            remove_containers(client)  # leftovers of an interrupted run
            for n in plan.containers:
                start_containers(client, n)
                rows += bench_snapshot(n, vms_uri, plan)
            n = plan.containers[-1]
            rows += bench_cpu(n, vms_uri, Path(tmp) / "no-config.toml", plan)
            rows += bench_latency(n + others_running(client), vms_uri, plan)
            header += f"; other containers running: {others} at start, {others_running(client)} at end"
        finally:
            remove_containers(client)
            client.close()
    header += f"; load average at end {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
    print_report(rows, header)
    print(f"\n(took {time.monotonic() - started:.0f} s)")
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; what the benchmark started has been removed")
        sys.exit(130)
