"""The selected node: identity, state, and sparklines of the last minutes of each figure.

One widget that draws its lines itself: as a grid of a Static per label, sparkline and value
it cost about 40 ms of the first frame (issue 21)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from vtui.model import Node
from vtui.model.format import detail, human_bytes, human_rate, percent, sparkline
from vtui.model.stats import History, NodeStats

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


LABEL, VALUE = 7, 22  # the cells of a figure's label and of its value (right-aligned, then 2 spaces)
PER_LINE = 2  # figures side by side


class NodeDetail(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"node-detail--label", "node-detail--spark"}
    DEFAULT_CSS = """
    NodeDetail { height: auto; border: round $primary; border-title-align: left; padding: 0 1; }
    NodeDetail > .node-detail--label { color: $text-muted; }
    NodeDetail > .node-detail--spark { color: $success; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.node: Node | None = None
        self.stats: NodeStats | None = None
        self.history = History(0)
        self.identity = Text()
        self._drawn = Text()

    def show(self, node: Node | None, stats: NodeStats | None, history: History, seconds: int,
             links: Sequence[str] = ()) -> None:
        title = f"{node.name}  (last {seconds // 60} min)" if node else "no node selected"
        if self.border_title != title:
            self.border_title = title
        identity = _identity(node, stats, links)
        self.node, self.stats, self.history, self.identity = node, stats, history, identity
        drawn = self._lines()
        if drawn != self._drawn:  # a repaint only for what changed: most stats ticks change no cell here
            lines_changed = drawn.plain.count("\n") != self._drawn.plain.count("\n")  # a links line came or went
            self._drawn = drawn
            self.refresh(layout=lines_changed)

    def on_resize(self) -> None:
        self._drawn = self._lines()  # the sparklines' width

    def render(self) -> Text:
        return self._drawn

    def _lines(self) -> Text:
        label_style = self.get_component_rich_style("node-detail--label")
        spark_style = self.get_component_rich_style("node-detail--spark")
        spark_width = max(0, (self.content_size.width - PER_LINE * (LABEL + VALUE)) // PER_LINE)
        text = self.identity.copy()
        node, stats = self.node, self.stats
        for i, (name, (label, value)) in enumerate(FIGURES.items()):
            text.append("\n" if i % PER_LINE == 0 else "")
            values = self.history.series(node.key, name) if node else []
            ceiling = max(CEILINGS[name], *values) if name in CEILINGS and values else None
            text.append(label.ljust(LABEL), style=label_style)
            text.append(sparkline(values, spark_width, self.history.length, ceiling).ljust(spark_width),
                        style=spark_style)
            text.append((value(stats) if stats else "").rjust(VALUE - 2) + "  ")
        return text


def _identity(node: Node | None, stats: NodeStats | None, links: Sequence[str]) -> Text:
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
    return identity
