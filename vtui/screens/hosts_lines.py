"""The lines above the inventory table: a line per host (its state, engines and the totals of its
nodes), or one line for many hosts; then why a host or an engine is down."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.text import Text

from vtui.model import EngineState, HostState, HostStatus, Inventory, Node, State
from vtui.model.format import human_bytes, human_rate, milliseconds, percent
from vtui.model.stats import total

ENGINE_MARK = {
    EngineState.UP: ("●", "green"),
    EngineState.CONNECTING: ("◌", "yellow"),
    EngineState.UNAVAILABLE: ("✖", "red"),
}


HOST_MARK = {
    HostState.UP: ("●", "green"),
    HostState.CONNECTING: ("◌", "yellow"),
    HostState.DEGRADED: ("◐", "yellow"),
    HostState.UNREACHABLE: ("✖", "red"),
    HostState.AUTH_FAILED: ("✖", "red"),
    HostState.UNTRUSTED: ("!", "bold red"),
}
HOST_LINES = 4  # hosts shown a line each; more are summed up in one line (H lists them)
PROBLEM_LINES = 3


def hosts_lines(inventory: Inventory) -> Text:
    """A line per host (its state, engines and the totals of its nodes), or one line for many hosts;
    then why a host or an engine is down."""
    text = Text()
    problems: list[tuple[str, str]] = []
    hosts = inventory.hosts or tuple(
        HostStatus(h, h, HostState.UP) for h in dict.fromkeys(e.host for e in inventory.engines))
    for host in hosts:
        reached = host.state in (HostState.UP, HostState.DEGRADED)
        if not reached and host.reason:
            problems.append((f"{host.name} {host.state}: {host.reason}", "red"))
        for status in (e for e in inventory.engines if e.host == host.name):
            if status.reason and reached:
                problems.append((f"{status.host} {status.engine} {status.state}: {status.reason}", "red"))
            if status.note:
                problems.append((f"{status.host} {status.engine}: {status.note}", "yellow"))
    if len(hosts) > HOST_LINES:
        counts = Counter(h.state for h in hosts)
        text.append(f"{len(hosts)} hosts:", style="bold")
        for state, (mark, style) in HOST_MARK.items():
            if counts[state]:
                text.append(f"  {mark} {counts[state]} {state}", style=style)
        _totals(text, inventory, inventory.nodes)
        text.append("   H: host list", style="dim")
    for host in hosts if len(hosts) <= HOST_LINES else ():
        if text:
            text.append("\n")
        mark, style = HOST_MARK[host.state]
        text.append(f"{mark} ", style=style)
        text.append(host.name, style="bold")
        if host.latency is not None:
            text.append(f" {milliseconds(host.latency)}", style="dim")
        for status in (e for e in inventory.engines if e.host == host.name):
            mark, style = ENGINE_MARK[status.state]
            text.append(f"  {mark} {status.engine}", style=style)
        _totals(text, inventory, [n for n in inventory.nodes if n.host == host.name])
    for line, style in problems[:PROBLEM_LINES]:
        text.append("\n")
        text.append(line, style=style)
    if len(problems) > PROBLEM_LINES:
        text.append(f"\n… and {len(problems) - PROBLEM_LINES} more (H: host list)", style="red")
    return text


def _totals(text: Text, inventory: Inventory, nodes: Sequence[Node]) -> None:
    measured = [inventory.stats[n.key] for n in nodes if n.key in inventory.stats]
    sums = total(measured)
    running = sum(n.state is State.RUNNING for n in nodes)
    text.append(f"   {running}/{len(nodes)} running", style="dim")
    if measured:
        cpu = f"{percent(sums.cpu_percent)}%" if sums.cpu_percent is not None else "-"
        text.append(f"   CPU {cpu}  MEM {human_bytes(sums.mem_bytes) or '-'}"
                    f"  DISK {human_rate(sums.disk_read_bps) or '-'} r {human_rate(sums.disk_write_bps) or '-'} w"
                    f"  NET {human_rate(sums.net_rx_bps) or '-'} rx {human_rate(sums.net_tx_bps) or '-'} tx")
