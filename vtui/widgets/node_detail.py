"""The selected node: identity, state, and sparklines of the last minutes of each figure."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Static

from vtui.model import Node
from vtui.model.format import detail, human_bytes, human_rate, percent, sparkline
from vtui.model.stats import History, NodeStats
from vtui.widgets import set_content

# series name in History -> (label, how to show the current value)
CEILINGS = {"cpu_percent": 100.0}  # one core; a busier node raises the scale to its peak

FIGURES: dict[str, tuple[str, Callable[[NodeStats], str]]] = {
    "cpu_percent": ("CPU %", lambda s: percent(s.cpu_percent)),
    "mem_bytes": ("MEM", lambda s: human_bytes(s.mem_bytes) + (
        f" / {human_bytes(s.mem_limit_bytes)}" if s.mem_limit_bytes and s.mem_bytes is not None else "")),
    "disk_read_bps": ("DISK R", lambda s: human_rate(s.disk_read_bps)),
    "disk_write_bps": ("DISK W", lambda s: human_rate(s.disk_write_bps)),
    "net_rx_bps": ("NET RX", lambda s: human_rate(s.net_rx_bps)),
    "net_tx_bps": ("NET TX", lambda s: human_rate(s.net_tx_bps)),
}


class NodeDetail(Vertical):
    DEFAULT_CSS = """
    NodeDetail { height: auto; border: round $primary; border-title-align: left; padding: 0 1; }
    NodeDetail #figures { grid-size: 6; grid-columns: 7 1fr 22 7 1fr 22; grid-rows: 1; height: 3; }
    NodeDetail .label { color: $text-muted; }
    NodeDetail .value { text-align: right; padding-right: 2; }
    NodeDetail .spark { color: $success; height: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="identity")
        with Grid(id="figures"):
            for name, (label, _) in FIGURES.items():
                yield Static(label, classes="label")
                yield Static(id=f"spark-{name}", classes="spark")
                yield Static(id=f"value-{name}", classes="value")

    def show(self, node: Node | None, stats: NodeStats | None, history: History, seconds: int,
             links: Sequence[str] = ()) -> None:
        title = f"{node.name}  (last {seconds // 60} min)" if node else "no node selected"
        if self.border_title != title:
            self.border_title = title
        identity = Text()
        if node:
            identity.append(f"{node.kind} on {node.host}  ", style="bold")
            identity.append(f"{node.state}", style="bold")
            identity.append(f" ({detail(node)})  id {node.id[:12]}")
            if node.image:
                identity.append(f"  image {node.image}")
            if node.lab:
                identity.append(f"  lab {node.lab}")
            if stats is None:
                identity.append("  · no figures: not running", style="dim")
            if links:
                identity.append("\nlinks  ", style="bold")
                identity.append(" · ".join(links))
        shown = self.query_one("#identity", Static)
        lines_before = str(shown.content).count("\n")
        set_content(shown, identity, layout=identity.plain.count("\n") != lines_before)  # a links line comes or goes
        for name, (_, render) in FIGURES.items():
            spark = self.query_one(f"#spark-{name}", Static)
            values = history.series(node.key, name) if node else []
            ceiling = max(CEILINGS[name], *values) if name in CEILINGS and values else None
            set_content(spark, sparkline(values, spark.content_size.width, history.length, ceiling), layout=False)
            set_content(self.query_one(f"#value-{name}", Static), render(stats) if stats else "", layout=False)
