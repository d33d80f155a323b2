"""Plain-text formatting shared by the CLI and the TUI."""

from __future__ import annotations

from vtui.model import Node

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(count: int | None) -> str:
    if count is None:
        return ""
    value = float(count)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_rate(per_second: float | None) -> str:
    return "" if per_second is None else human_bytes(round(per_second)) + "/s"


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def detail(node: Node) -> str:
    """The engine's own words: native state and reason, e.g. 'shutoff: destroyed'."""
    return f"{node.native_state}: {node.reason}" if node.reason else node.native_state


BARS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int, slots: int, ceiling: float | None = None) -> str:
    """A zero-based sparkline on a fixed time axis: `slots` samples span `width` cells,
    newest on the right; each cell shows the largest sample it covers. The scale runs
    from 0 to `ceiling` (or the largest value), so a steady load looks steady."""
    if width <= 0:
        return ""
    per_cell = max(1, -(-slots // width))  # ceil
    cells = []
    for end in range(len(values), 0, -per_cell):
        cells.append(max(values[max(0, end - per_cell):end]))
        if len(cells) == width:
            break
    cells.reverse()
    top = ceiling if ceiling is not None else max(cells, default=0.0)
    if top <= 0:
        return (BARS[1] * len(cells)).rjust(width)
    steps = len(BARS) - 1
    return "".join(BARS[max(1, min(steps, round(v / top * steps)))] for v in cells).rjust(width)


def milliseconds(seconds: float | None) -> str:
    """A round trip: 0.4 ms, 12 ms; blank for none."""
    if seconds is None:
        return ""
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"
