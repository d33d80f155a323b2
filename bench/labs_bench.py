"""Lab benchmark: `vtui lab deploy` and `vtui lab destroy` of one lab, beside the same topology made
and removed by a shell script of docker and ip commands, in one run.

    .venv/bin/python bench/labs_bench.py [--nodes 50] [--links 100] [--quick]

The lab: N busybox containers (`vtui-test/busybox`, `sleep 3600`) and L veth links, a ring through
every node and then chords (node i to node i+k), each end with a /30 address, written as a
containerlab file. The script does what a sysadmin scripts: `docker run -d` per node (on docker's
default network, as vtui's lab nodes are: their eth0, as containerlab's management network), then per link
`ip link add … type veth peer name …`, `ip link set … netns PID` twice, and in each namespace a
rename, an address and `up` (one process per command), and `docker rm -f` of all nodes at the end.
Both are timed from the outside (wall time of the commands). The figures are printed with the ratio
vtui/script and containerlab's published anchor (300 nodes in 39 s on 16 cores, 0.13 s/node); the
exit status is 1 when vtui is slower than the script. Everything carries the label vtui.bench=1 and
is removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

IMAGE = "vtui-test/busybox:latest"
LABEL = "vtui.bench"
CLAB_S_PER_NODE = 39 / 300  # containerlab: 300 nodes deployed in 39 s on 16 cores


def topology(nodes: int, links: int) -> list[tuple[int, int]]:
    """A ring through every node, then chords i -> i+k (k = 2, 3, …) until there are `links` links."""
    pairs: list[tuple[int, int]] = []
    step = 1
    while len(pairs) < links:
        for i in range(nodes):
            pair = (i, (i + step) % nodes)
            if len(pairs) < links and pair[0] != pair[1] and (pair[1], pair[0]) not in pairs:
                pairs.append(pair)
        step += 1
    return pairs


def lab_file(name: str, nodes: int, pairs: Sequence[tuple[int, int]]) -> str:
    used = [0] * nodes
    lines = [f"name: {name}", "topology:", "  defaults:", "    kind: linux", f"    image: {IMAGE}",
             "    cmd: sleep 3600", f"    labels: {{{LABEL}: '1'}}", "  nodes:"]
    lines += [f"    n{i}:" for i in range(nodes)]
    lines.append("  links:")
    for number, (a, b) in enumerate(pairs):
        used[a] += 1
        used[b] += 1
        net = f"10.{200 + number // 16000}.{number // 64 % 250}.{number % 64 * 4}"
        base = net.rsplit(".", 1)
        lines.append(f'    - endpoints: ["n{a}:eth{used[a]}", "n{b}:eth{used[b]}"]')
        lines.append(f"      ipv4: [{base[0]}.{int(base[1]) + 1}/30, {base[0]}.{int(base[1]) + 2}/30]")
    return "\n".join(lines) + "\n"


def script(prefix: str, nodes: int, pairs: Sequence[tuple[int, int]]) -> tuple[str, str]:
    """The shell script that makes the same lab, and the one that removes it."""
    up = ["set -e"]
    up += [f"docker run -d --label {LABEL}=1 --name {prefix}{i} {IMAGE} sleep 3600 >/dev/null"
           for i in range(nodes)]
    up += [f"p{i}=$(docker inspect -f '{{{{.State.Pid}}}}' {prefix}{i})" for i in range(nodes)]
    used = [0] * nodes
    for number, (a, b) in enumerate(pairs):
        used[a] += 1
        used[b] += 1
        net = f"10.{200 + number // 16000}.{number // 64 % 250}.{number % 64 * 4}".rsplit(".", 1)
        up += [f"ip link add vbs{number}a type veth peer name vbs{number}b",
               f"ip link set vbs{number}a netns $p{a}", f"ip link set vbs{number}b netns $p{b}"]
        for side, node, ifname, host in (("a", a, used[a], 1), ("b", b, used[b], 2)):
            inside = f"nsenter --net=/proc/$p{node}/ns/net ip"
            up += [f"{inside} link set vbs{number}{side} name eth{ifname} mtu 9500",
                   f"{inside} addr add {net[0]}.{int(net[1]) + host}/30 dev eth{ifname}",
                   f"{inside} link set eth{ifname} up"]
    down = f"docker rm -f {' '.join(f'{prefix}{i}' for i in range(nodes))} >/dev/null"
    return "\n".join(up) + "\n", down + "\n"


def timed(command: Sequence[str], env: dict[str, str] | None = None, stdin: str | None = None) -> float:
    started = time.monotonic()
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=1800)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])}… failed ({done.returncode}): {done.stderr[-2000:]}")
    return took


def sweep() -> None:
    """Whatever a bench run left (this one's, or a killed one's): containers with the bench label."""
    listed = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={LABEL}"], capture_output=True, text=True)
    if ids := listed.stdout.split():
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, help="containers (default 50; --quick 10)")
    ap.add_argument("--links", type=int, help="links (default 100; --quick 20)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 10 nodes, 20 links")
    args = ap.parse_args(argv)
    nodes, links = args.nodes or (10 if args.quick else 50), args.links or (20 if args.quick else 100)
    pairs = topology(nodes, links)
    name = f"bench{os.getpid()}"
    vtui = [sys.executable, "-m", "vtui", "lab"]
    with tempfile.TemporaryDirectory(prefix="vtui-labs-bench-") as folder:
        env = {"VTUI_STATE_DIR": folder}
        path = Path(folder) / "bench.clab.yml"
        path.write_text(lab_file(name, nodes, pairs))
        make, remove = script(f"vbs{os.getpid()}-", nodes, pairs)
        try:
            sweep()
            print(f"lab: {nodes} nodes, {len(pairs)} links (busybox containers, veth links with /30 addresses)")
            vtui_up = timed([*vtui, "deploy", str(path), "--no-libvirt"], env)
            vtui_down = timed([*vtui, "destroy", name, "--yes", "--no-libvirt"], env)
            script_up = timed(["sh", "-s"], stdin=make)
            script_down = timed(["sh", "-s"], stdin=remove)
        finally:
            subprocess.run([*vtui, "destroy", name, "--yes", "--no-libvirt"], capture_output=True,
                           env={**os.environ, **env})
            sweep()
    rows = [("deploy", vtui_up, script_up), ("destroy", vtui_down, script_down),
            ("both", vtui_up + vtui_down, script_up + script_down)]
    print(f"{'':8} {'vtui':>9} {'script':>9} {'vtui/script':>12}")
    for label, mine, theirs in rows:
        print(f"{label:8} {mine:8.2f}s {theirs:8.2f}s {mine / theirs:11.2f}x")
    print(f"vtui deploy: {vtui_up / nodes:.3f} s/node, {1000 * vtui_up / len(pairs):.0f} ms/link of the whole; "
          f"containerlab's anchor: {CLAB_S_PER_NODE:.3f} s/node (300 nodes in 39 s on 16 cores; here {os.cpu_count()})")
    slower = vtui_up + vtui_down > script_up + script_down
    print("target: vtui no slower than the script —", "MISSED" if slower else "met")
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
