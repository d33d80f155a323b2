"""Docker containers as vtui's nodes: the engine's states mapped, from its list or from inspect."""

from __future__ import annotations

import re
from typing import Any

from vtui.model import LAB_LABEL, Kind, Node, State

# State.Status from the engine API -> normalised state
STATES: dict[str, State] = {
    "created": State.CREATED,
    "running": State.RUNNING,
    "paused": State.PAUSED,
    "restarting": State.RESTARTING,
    "removing": State.REMOVING,
    "exited": State.STOPPED,
    "dead": State.DEAD,
}
_EXIT_CODE = re.compile(r"^Exited \((-?\d+)\)")


def _container(host: str, cid: str, name: str, native: str, exit_code: object, image: str,
               labels: dict[str, str] | None) -> Node:
    return Node(
        host=host,
        kind=Kind.CONTAINER,
        engine="docker",
        id=cid,
        name=name.lstrip("/"),
        state=STATES.get(native, State.UNKNOWN),
        native_state=native,
        reason=f"exit code {exit_code}" if native in ("exited", "dead") and exit_code is not None else "",
        image=image,
        lab=(labels or {}).get(LAB_LABEL, ""),
    )


def container_node(host: str, summary: dict[str, Any]) -> Node:
    """A Node from one entry of the engine's container list."""
    m = _EXIT_CODE.match(str(summary.get("Status", "")))
    names = summary.get("Names") or [summary["Id"][:12]]
    return _container(host, summary["Id"], names[0], str(summary.get("State", "")), m and m.group(1),
                      str(summary.get("Image", "")), summary.get("Labels"))


def inspected_node(host: str, info: dict[str, Any]) -> Node:
    """A Node from inspect, which reads the live container (the list can lag the events)."""
    state = info.get("State") or {}
    return _container(host, info["Id"], str(info.get("Name", "")), str(state.get("Status", "")),
                      state.get("ExitCode"), str((info.get("Config") or {}).get("Image", "")),
                      (info.get("Config") or {}).get("Labels"))
