"""Console benchmark: vtui's consoles against docker's and virsh's own clients, in one run.

    .venv/bin/python bench/console_bench.py [--quick] [--no-vm]

Measures, on this machine's dockerd and libvirtd:
  1. echo round trip: a command typed into a console until its answer comes back, through
     vtui's console sessions vs `docker exec -it` and `virsh console` on a pseudo-terminal;
  2. a 10 MB flood of output: through vtui's session alone, through the embedded terminal
     widget inside the real app (until its screen shows the end), and through tmux (a real
     terminal emulator) running `docker exec -it`;
  3. keypress-to-repaint in the console screen while the flood is being drawn, and idle.
Starts one container (label vtui.bench=1) and, unless --no-vm, a copy of the test VM
(vtui-bench-console); removes both, and its tmux server, at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pty
import re
import signal
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import libvirt
from probing import ProbedApp, log, p95, press
from textual import events

from vtui.backends.docker import DockerBackend
from vtui.backends.libvirt import LibvirtBackend
from vtui.backends.libvirt_events import ensure_event_loop
from vtui.config.settings import Config
from vtui.console.session import ConsoleSession
from vtui.messages import ConsoleWanted
from vtui.model import Node
from vtui.session import Session
from vtui.widgets.terminal import Terminal

IMAGE = "vtui-test/busybox:latest"
LABEL = "vtui.bench"
DOCKER_URL = "unix:///var/run/docker.sock"
SYSTEM_URI = "qemu:///system"
VM_TEMPLATE = Path("/var/lib/vtui-testbed/vm.xml")  # the test bed's VM, defined by each run under its own name
BENCH_VM = f"vtui-bench-console-{os.getpid()}"
TMUX = ["tmux", "-L", "vtui-console-bench"]  # a private tmux server: ours alone to stop
COLS, ROWS = 160, 45
END = "flood-end-42"
TARGET_LATENCY_MS = 50.0
ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def flood_command(size: int) -> str:
    """`size` bytes of 60-byte text lines, then the end marker (computed, so the typed command
    itself never shows the marker)."""
    return (f"yes 'vtui console flood line 0123456789 abcdefghijklmnopqrstuvwxyz' | head -c {size}; "
            f"echo; echo flood-end-$((40+2))")


@dataclass(frozen=True)
class Row:
    figure: str
    vtui: str
    peer: str = ""
    note: str = ""
    ok: bool | None = None


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def spread(values: Sequence[float]) -> str:
    return f"median {ms(statistics.median(values))}, p95 {ms(p95(values))}, max {ms(max(values))}"


class Rows(list[Row]):
    """Figures, each also logged as soon as it is measured (a later failure loses none)."""

    def append(self, row: Row) -> None:
        super().append(row)
        log("  " + " | ".join(part for part in (f"{row.figure}: {row.vtui}", row.peer, row.note) if part))


# --- 1. echo round trip ----------------------------------------------------------------

async def session_round_trips(session: ConsoleSession, count: int, prompt: bytes) -> list[float]:
    """Seconds from typing `echo $((N+1))` to reading N+1 on a line of its own."""
    await settle(session, prompt)
    times = []
    for i in range(count):
        value = 1000 + i
        want = re.compile(rb"\r\n%d\r\n" % (value + 1))
        t0 = time.perf_counter()
        await session.write(b"echo $((%d+1))\r" % value)
        seen = b""
        async with asyncio.timeout(20):
            while not want.search(seen):
                seen += await session.read()
        times.append(time.perf_counter() - t0)
        await settle(session, prompt)
    return times


async def settle(session: ConsoleSession, prompt: bytes) -> None:
    """Read until the shell's prompt shows and nothing more comes for 50 ms."""
    seen = b""
    async with asyncio.timeout(30):
        while True:
            try:
                async with asyncio.timeout(0.05):
                    seen += await session.read()
            except TimeoutError:
                if ESCAPES.sub(b"", seen).rstrip().endswith(prompt):  # busybox asks for the cursor (ESC[6n)
                    return
                await session.write(b"\r")
                seen = b""


class PtyClient:
    """A console client (docker exec -it, virsh console) on a pseudo-terminal we read."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvp(argv[0], list(argv))
        os.set_blocking(self.fd, False)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    async def read(self) -> bytes:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.fd, readable)
        try:
            await ready
        finally:
            loop.remove_reader(self.fd)
        try:
            return os.read(self.fd, 65536)
        except OSError:
            return b""

    def close(self) -> None:
        """ctrl+] (virsh console's escape), then SIGTERM, then SIGKILL after 2 s."""
        with contextlib.suppress(OSError):
            os.write(self.fd, b"\x1d")
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(self.pid, os.WNOHANG)[0] == 0:
                        time.sleep(0.05)
                        continue
                os.close(self.fd)
                return
        os.close(self.fd)


class PtySession(ConsoleSession):
    """PtyClient as a ConsoleSession, so both sides are measured by the same code."""

    def __init__(self, client: PtyClient) -> None:
        self.client = client

    async def read(self) -> bytes:
        return await self.client.read()

    async def write(self, data: bytes) -> None:
        self.client.write(data)

    async def resize(self, rows: int, cols: int) -> None:
        pass

    async def close(self) -> None:
        self.client.close()


# --- 2 and 3. the flood, through the session, the widget and tmux ----------------------

async def session_flood(session: ConsoleSession, size: int, prompt: bytes) -> tuple[float, int]:
    """Seconds until the end marker arrives, reading as fast as the session gives; bytes read."""
    await settle(session, prompt)
    t0 = time.perf_counter()
    await session.write(flood_command(size).encode() + b"\r")
    total, tail = 0, b""
    async with asyncio.timeout(300):
        while END.encode() not in tail:
            chunk = await session.read()
            total += len(chunk)
            tail = (tail + chunk)[-256:]
    return time.perf_counter() - t0, total


def tmux(*args: str) -> str:
    return subprocess.run([*TMUX, *args], check=True, capture_output=True, text=True, timeout=30).stdout


def tmux_flood(container: str, size: int) -> float:
    """Seconds until tmux, running `docker exec -it`, shows the end marker."""
    tmux("-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", str(COLS), "-y", str(ROWS),
         "docker", "exec", "-it", container, "sh")
    socket = Path(tmux("display-message", "-p", "#{socket_path}").strip())
    try:
        deadline = time.monotonic() + 20
        while "#" not in tmux("capture-pane", "-p", "-t", "b"):
            if time.monotonic() > deadline:
                raise RuntimeError("no shell prompt in tmux")
            time.sleep(0.05)
        tmux("send-keys", "-t", "b", "-l", flood_command(size))
        t0 = time.perf_counter()
        tmux("send-keys", "-t", "b", "Enter")
        while END not in tmux("capture-pane", "-p", "-t", "b"):
            time.sleep(0.01)
        return time.perf_counter() - t0
    finally:
        subprocess.run([*TMUX, "kill-server"], capture_output=True, timeout=30)
        socket.unlink(missing_ok=True)  # tmux leaves it, and its name is this run's


async def widget_flood(node: Node, size: int, presses: int,
                       limit: float = 300) -> tuple[float, list[float], list[float], list[float]]:
    """The flood through the real app's console screen: seconds until the terminal's screen shows
    the end marker, and keypress-to-repaint (F3 into copy mode, escape out) idle and during it.
    Also the echo round trip as the user sees it: typed keys to the answer on screen."""
    app = ProbedApp(Session(Config(), [DockerBackend("local", DOCKER_URL)]))
    async with app.run_test(size=(COLS, ROWS + 4)) as pilot:
        app.post_message(ConsoleWanted(node))
        deadline = time.monotonic() + 20
        while not app.consoles.panes or not app.consoles.panes[0].query("Terminal") or (
                "#" not in "".join(app.consoles.panes[0].terminal.screen_lines())):  # mounted, then the prompt
            if time.monotonic() > deadline:
                raise RuntimeError("the console did not open in the app")
            await pilot.pause(0.05)
        terminal = app.consoles.panes[0].terminal

        def shows(text: str) -> Callable[[], bool]:
            return lambda: any(text in line for line in terminal.screen_lines())

        def answered(value: int) -> Callable[[], bool]:
            return lambda: any(line.strip() == str(value) for line in terminal.screen_lines())

        echo_times = []
        for i in range(10):
            for char in f"echo $((2000+{i}))":
                app._driver.send_message(events.Key(char, char))  # type: ignore[union-attr]
            await pilot.pause(0.2)
            echo_times.append(await press(app, "enter", answered(2000 + i), timeout=20))
        idle = await key_pairs(app, terminal, presses)
        for char in flood_command(size):
            app._driver.send_message(events.Key(char, char))  # type: ignore[union-attr]
        await pilot.pause(0.5)
        t0 = time.perf_counter()
        app._driver.send_message(events.Key("enter", None))  # type: ignore[union-attr]
        during: list[float] = []
        while not shows(END)():
            if len(during) < presses:
                during += await key_pairs(app, terminal, 1)
            else:
                await asyncio.sleep(0.01)
            if time.perf_counter() - t0 > limit:
                screen = "\n".join(terminal.screen_lines())
                raise RuntimeError(f"the flood did not reach the widget's screen within {limit:g} s (copy mode: "
                                   f"{terminal.in_copy_mode}); its screen:\n{screen}")
        return time.perf_counter() - t0, echo_times, idle, during


async def key_pairs(app: ProbedApp, terminal: Terminal, pairs: int) -> list[float]:
    """F3 (copy mode shown) then escape (copy mode gone), `pairs` times; both latencies."""
    times = []
    for _ in range(pairs):
        times.append(await press(app, "f3", lambda: terminal.in_copy_mode))
        times.append(await press(app, "escape", lambda: not terminal.in_copy_mode))
        await asyncio.sleep(0.05)
    return times


# --- set-up ------------------------------------------------------------------------------

@contextlib.contextmanager
def bench_container() -> Iterator[Any]:
    client = docker.DockerClient(base_url=DOCKER_URL)
    box = client.containers.run(IMAGE, ["sleep", "3600"], detach=True, labels={LABEL: "1"},
                                name=f"vtui-bench-console-{os.getpid()}")
    try:
        yield box
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            box.remove(force=True)


@contextlib.contextmanager
def bench_vm() -> Iterator[libvirt.virDomain]:
    ensure_event_loop()
    conn = libvirt.open(SYSTEM_URI)
    with contextlib.suppress(libvirt.libvirtError):
        old = conn.lookupByName(BENCH_VM)
        if old.isActive():
            old.destroy()
        old.undefine()
    tree = ET.fromstring(VM_TEMPLATE.read_text())
    tree.find("name").text = BENCH_VM  # type: ignore[union-attr]
    for uuid in tree.findall("uuid"):
        tree.remove(uuid)
    dom = conn.defineXML(ET.tostring(tree, encoding="unicode"))
    try:
        dom.create()
        yield dom
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        conn.close()


async def node_of(backend: DockerBackend | LibvirtBackend, name: str) -> Node:
    await backend.connect()
    return next(n for n in await backend.list_nodes() if n.name == name)


async def measure_echo(open_vtui: Callable[[], Awaitable[ConsoleSession]], peer_argv: Sequence[str],
                       count: int, prompt: bytes) -> tuple[list[float], list[float]]:
    session = await open_vtui()
    try:
        ours = await session_round_trips(session, count, prompt)
    finally:
        await session.close()
    peer = PtySession(PtyClient(peer_argv))
    try:
        theirs = await session_round_trips(peer, count, prompt)
    finally:
        await peer.close()
    return ours, theirs


async def run(args: argparse.Namespace) -> list[Row]:
    rows = Rows()
    count = 10 if args.quick else 50
    size = 1_000_000 if args.quick else 10_000_000
    presses = 5 if args.quick else 20
    with bench_container() as box:
        docker_backend = DockerBackend("local", DOCKER_URL)
        node = await node_of(docker_backend, str(box.name))
        try:
            log(f"echo round trip, container shell, {count} times each")
            ours, theirs = await measure_echo(lambda: docker_backend.open_console(node),
                                              ["docker", "exec", "-it", str(box.name), "sh"], count, b"#")
            rows.append(Row("echo round trip, container shell", spread(ours), f"docker exec -it: {spread(theirs)}",
                            f"ratio {statistics.median(ours) / statistics.median(theirs):.2f}"))
            log(f"flood of {size / 1e6:g} MB through the session alone")
            session = await docker_backend.open_console(node)
            try:
                seconds, total = await session_flood(session, size, b"#")
            finally:
                await session.close()
            rows.append(Row(f"{size / 1e6:g} MB flood, session only (no drawing)",
                            f"{ms(seconds)} ({total / seconds / 1e6:.0f} MB/s)"))
        finally:
            await docker_backend.close()
        log(f"flood of {size / 1e6:g} MB through tmux running docker exec -it")
        peer_flood = tmux_flood(str(box.name), size)
        log(f"flood of {size / 1e6:g} MB through the embedded terminal, {COLS}x{ROWS}")
        seconds, echo_ui, idle, during = await widget_flood(node, size, presses)
        rows.append(Row(f"{size / 1e6:g} MB flood, drawn {COLS}x{ROWS}", f"embedded terminal: {ms(seconds)} "
                        f"({size / seconds / 1e6:.1f} MB/s)", f"tmux: {ms(peer_flood)}",
                        f"ratio {seconds / peer_flood:.1f}"))
        rows.append(Row("echo round trip in the app (enter to answer on screen)", spread(echo_ui)))
        rows.append(Row("key->repaint, console screen idle", spread(idle), "", f"p95 < {TARGET_LATENCY_MS:g} ms",
                        p95(idle) * 1000 < TARGET_LATENCY_MS))
        rows.append(Row("key->repaint, during the flood", spread(during), "", f"p95 < {TARGET_LATENCY_MS:g} ms",
                        p95(during) * 1000 < TARGET_LATENCY_MS))
    if not args.no_vm:
        with bench_vm():
            virt = LibvirtBackend("local", SYSTEM_URI)
            vm = await node_of(virt, BENCH_VM)
            try:
                log(f"echo round trip, VM serial console, {count} times each")
                ours, theirs = await measure_echo(lambda: virt.open_console(vm),
                                                  ["virsh", "-c", SYSTEM_URI, "console", BENCH_VM], count, b"#")
                rows.append(Row("echo round trip, VM serial console", spread(ours),
                                f"virsh console: {spread(theirs)}",
                                f"ratio {statistics.median(ours) / statistics.median(theirs):.2f}"))
            finally:
                await virt.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 MB flood, 10 round trips: a smoke run")
    parser.add_argument("--no-vm", action="store_true", help="leave the VM serial console out")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    rows = asyncio.run(run(args))
    print(f"\nconsole benchmark: load average {load:.2f} at start, {time.monotonic() - t0:.0f} s in all\n")
    width = max(len(r.figure) for r in rows)
    for r in rows:
        mark = "" if r.ok is None else ("  ok" if r.ok else "  MISSED")
        print(f"{r.figure.ljust(width)}  {r.vtui}" + (f"  | {r.peer}" if r.peer else "")
              + (f"  | {r.note}" if r.note else "") + mark)
    return 1 if any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
