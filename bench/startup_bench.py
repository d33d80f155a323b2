"""Start-up benchmark: how long vtui takes before a person can use it, beside the engines' own CLIs
measured in the same run.

    .venv/bin/python bench/startup_bench.py [--runs 5] [--quick]

Three figures, each the median (min, max) of --runs whole-process runs of vtui as a user starts it:
- `vtui --help`, beside `docker --help`;
- `vtui ls --json` on this machine's engines, beside `docker ps -a` and `virsh list --all`;
- the TUI's first frame with data: from starting `vtui` in a tmux pane (160x40) until the pane shows
  the row of a container made for the run (so the local inventory is on screen), beside the same
  for `docker ps -a` in a pane.
Then where the time goes: the cumulative import time (python -X importtime) of the libraries that
cost most, for `vtui --help` and for the TUI's modules. The container is run-unique and removed at
the end, also on Ctrl-C; the tmux server is private to the run and killed by its socket.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "vtui-test/busybox:latest"
VTUI = [sys.executable, "-m", "vtui"]
TARGETS = {"--help": 0.25, "ls --json": 0.5, "first frame": 0.5}  # seconds (issue 21)
LIBRARIES = ("textual", "asyncssh", "pyroute2", "docker", "libvirt", "pyte", "yaml")
OURS = ("vtui.cli.main", "vtui.app")  # the entry points, all they import included
TMUX = ["tmux", "-L", f"vtui-startup-{os.getpid()}"]
TMUX_SOCKET = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / TMUX[2]  # where tmux -L puts it


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's vtui, as `make run` runs it


def timed(argv: Sequence[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), cwd=ROOT, check=False)
    return time.perf_counter() - start


def first_frame(command: str, marker: str, limit: float = 20.0) -> float:
    """Seconds from starting `command` in a fresh tmux pane until the pane shows `marker`."""
    subprocess.run([*TMUX, "kill-server"], capture_output=True, check=False)
    start = time.perf_counter()
    subprocess.run([*TMUX, "new-session", "-d", "-s", "b", "-x", "160", "-y", "40",
                    f"cd {shlex.quote(str(ROOT))} && PYTHONPATH={shlex.quote(str(ROOT))} {command}; sleep 30"],
                   check=True)
    pane = subprocess.run([*TMUX, "display-message", "-p", "-t", "b", "#{pane_pid}"], capture_output=True,
                          text=True).stdout.strip()
    try:
        while time.perf_counter() - start < limit:
            shown = subprocess.run([*TMUX, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True).stdout
            if marker in shown:
                return time.perf_counter() - start
            time.sleep(0.005)
        raise RuntimeError(f"{command!r} did not show {marker!r} within {limit:g} s")
    finally:
        subprocess.run([*TMUX, "kill-server"], capture_output=True, check=False)
        gone(pane)


def gone(session: str, limit: float = 15.0) -> None:
    """Wait until every process of the pane's session (the pane's shell leads it) has ended: a vtui
    leaving its closed terminal must not share the machine with the next run."""
    deadline = time.monotonic() + limit
    while session.isdigit() and time.monotonic() < deadline:
        if not any(_in_session(int(pid), int(session)) for pid in os.listdir("/proc") if pid.isdigit()):
            return
        time.sleep(0.05)
    print(f"  (the processes of the pane's session {session} had not ended {limit:g} s after its terminal)")


def _in_session(pid: int, session: int) -> bool:
    try:
        return os.getsid(pid) == session
    except OSError:  # ended meanwhile
        return False


def figures(label: str, run: Callable[[], float], runs: int) -> list[float]:
    run()  # warm-up: page cache, the daemons' first answer
    values = [run() for _ in range(runs)]
    print(f"  {label:<34} median {statistics.median(values):6.3f} s  (min {min(values):.3f}, "
          f"max {max(values):.3f})", flush=True)
    return values


def ratio(name: str, ours: list[float], peer: list[float]) -> None:
    print(f"  {'':<34} vtui / {name}: {statistics.median(ours) / statistics.median(peer):.2f}x")


MISSED: list[str] = []


def target(what: str, values: list[float]) -> None:
    median, goal = statistics.median(values), TARGETS[what]
    print(f"  {'':<34} target < {goal:g} s: {'met' if median < goal else 'NOT met'}")
    if median >= goal:
        MISSED.append(what)


def import_times(args: Sequence[str]) -> dict[str, float]:
    """Cumulative seconds of each library's first import, as python -X importtime reports them."""
    done = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, env=env(),
                          cwd=ROOT, check=False)
    found: dict[str, float] = {}
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[2].strip() in (*LIBRARIES, *OURS) and parts[1].strip().isdigit():
            found.setdefault(parts[2].strip(), int(parts[1]) / 1e6)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (default 5)")
    parser.add_argument("--quick", action="store_true", help="3 runs: a smoke run")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    name = f"vtui-bench-startup-{os.getpid()}"
    # vtui as installed: with its bytecode (where PYTHONDONTWRITEBYTECODE is set, as here, Python would
    # compile every module of the checkout again at each start: about 0.1 s)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "vtui")], check=True, capture_output=True)
    subprocess.run(["docker", "run", "-d", "--name", name, "--label", "vtui.bench=1", IMAGE, "sleep", "3600"],
                   check=True, capture_output=True)
    try:
        listed = subprocess.run([*VTUI, "ls"], capture_output=True, text=True, env=env(), cwd=ROOT).stdout
        print(f"start-up of vtui with {max(0, len(listed.splitlines()) - 1)} nodes on this machine "
              f"({os.cpu_count()} cores), {runs} runs each:")
        helped = figures("vtui --help", lambda: timed([*VTUI, "--help"]), runs)
        target("--help", helped)
        ratio("docker --help", helped, figures("docker --help", lambda: timed(["docker", "--help"]), runs))
        listing = figures("vtui ls --json", lambda: timed([*VTUI, "ls", "--json"]), runs)
        target("ls --json", listing)
        ratio("docker ps -a", listing, figures("docker ps -a", lambda: timed(["docker", "ps", "-a"]), runs))
        ratio("virsh list --all", listing, figures(
            "virsh list --all", lambda: timed(["virsh", "-c", "qemu:///system", "list", "--all"]), runs))
        frame = figures("TUI first frame with data", lambda: first_frame(shlex.join(VTUI), name), runs)
        target("first frame", frame)
        ratio("docker ps -a in a pane", frame,
              figures("docker ps -a in a pane", lambda: first_frame("docker ps -a", name), runs))
        print("import time, cumulative seconds (python -X importtime):")
        for label, argv in (("vtui --help", ["-m", "vtui", "--help"]), ("the TUI (import vtui.app)",
                                                                        ["-c", "import vtui.app"])):
            found = import_times(argv)
            print(f"  {label:<28} " + "  ".join(f"{lib} {found[lib]:.3f}" for lib in (*OURS, *LIBRARIES)
                                                    if lib in found)
                  + "  (not imported: " + (", ".join(lib for lib in LIBRARIES if lib not in found) or "none") + ")")
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        subprocess.run([*TMUX, "kill-server"], capture_output=True, check=False)
        TMUX_SOCKET.unlink(missing_ok=True)  # tmux 3.3 leaves it, and its name is this run's
    return 1 if MISSED else 0  # as the other benchmarks: a missed target is the exit status


if __name__ == "__main__":
    sys.exit(main())
