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
