"""The normalised node model shared by every layer (no I/O, no textual)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from vtui.model.stats import NodeStats

LOCAL_HOST = "local"
LAB_LABEL = "vtui.lab"  # on what a lab makes (a container's label): the lab's name


class Kind(StrEnum):
    VM = "vm"
    CONTAINER = "container"


def node_key(host: str, kind: Kind, engine_id: str) -> str:
    """A node's stable identity: host + kind + engine id."""
    return f"{host}/{kind}/{engine_id}"


class State(StrEnum):
    """Normalised node states; each engine maps its own states onto these
    without lumping (paused is not stopped, created is not exited)."""

    RUNNING = "running"
    PAUSED = "paused"
    SHUTTING_DOWN = "shutting-down"
    STOPPED = "stopped"
    CRASHED = "crashed"
    SUSPENDED = "suspended"
    CREATED = "created"
    RESTARTING = "restarting"
    REMOVING = "removing"
    DEAD = "dead"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Node:
    """One VM or container as last reported by its engine."""

    host: str
    kind: Kind
    engine: str
    id: str
    name: str
    state: State
    native_state: str
    reason: str = ""
    image: str = ""
    vcpus: int | None = None
    memory_bytes: int | None = None
    lab: str = ""  # the lab that made it (a container's vtui.lab label)
    key: str = field(init=False, compare=False, repr=False)  # computed once: it is looked up constantly

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", node_key(self.host, self.kind, self.id))

    def to_json(self) -> dict[str, object]:
        shown: dict[str, object] = {
            "host": self.host,
            "kind": str(self.kind),
            "engine": self.engine,
            "name": self.name,
            "id": self.id,
            "state": str(self.state),
            "native_state": self.native_state,
            "reason": self.reason,
            "image": self.image,
            "vcpus": self.vcpus,
            "memory_bytes": self.memory_bytes,
        }
        return shown | ({"lab": self.lab} if self.lab else {})


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One snapshot of a VM, as its engine describes it."""

    name: str
    created: int  # seconds since the epoch
    state: str  # the VM's state when it was taken, in the engine's words ("running", "shutoff")
    description: str = ""
    current: bool = False  # the one the VM was last snapshotted at or reverted to

    def to_json(self) -> dict[str, object]:
        created = datetime.fromtimestamp(self.created, UTC).isoformat()
        return {"name": self.name, "created": created, "state": self.state,
                "description": self.description, "current": self.current}


class EngineState(StrEnum):
    CONNECTING = "connecting"
    UP = "up"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """How one engine on one host is doing, with a sentence when it is not."""

    host: str
    engine: str
    target: str
    state: EngineState
    reason: str = ""
    note: str = ""  # e.g. how stats are read, when that costs something


class HostState(StrEnum):
    CONNECTING = "connecting"
    UP = "up"
    DEGRADED = "degraded"  # reached, but one of its engines is not
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth failed"
    UNTRUSTED = "untrusted"  # its host key is unknown or has changed


@dataclass(frozen=True, slots=True)
class HostStatus:
    """How one host is doing: reached or not, why not, and the round trip to it."""

    name: str
    target: str  # the SSH target, or "this machine"
    state: HostState
    reason: str = ""
    latency: float | None = None  # seconds, the last SSH round trip; None for the local host


@dataclass(frozen=True, slots=True)
class Inventory:
    """An immutable snapshot of everything the hub knows."""

    nodes: tuple[Node, ...] = ()
    engines: tuple[EngineStatus, ...] = ()
    demo: bool = False
    stats: Mapping[str, NodeStats] = field(default_factory=dict)  # by node key; running nodes only
    hosts: tuple[HostStatus, ...] = ()

    @property
    def all_unavailable(self) -> bool:
        """True when every engine has answered and none is up."""
        return bool(self.engines) and all(
            e.state is EngineState.UNAVAILABLE for e in self.engines
        )
