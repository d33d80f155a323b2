"""Carrying out one action on named nodes, for the CLI (no UI)."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vtui.backends import Backend, Capability, backend_for
from vtui.cli.ls import connected, described
from vtui.errors import EngineError, NotFound, Refused, VtuiError
from vtui.model import Node, SnapshotInfo
from vtui.model.refs import NodeRef

# Actions the CLI spells as `GROUP SUB`: ACTIONS["snapshot-create"] is `vtui snapshot create`.
GROUPS = {"snapshot": ("create", "revert", "delete"), "autostart": ("on", "off")}


@dataclass(frozen=True)
class Result:
    node: Node
    action: str
    ok: bool
    message: str

    def to_json(self) -> dict[str, object]:
        return {"host": self.node.host, "kind": str(self.node.kind), "name": self.node.name, "id": self.node.id,
                "action": self.action, "ok": self.ok, "message": self.message}


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # engines that did not answer, names that did not resolve


async def act(backends: Sequence[Backend], action: str, refs: Sequence[NodeRef], options: Mapping[str, Any]) -> Outcome:
    """Resolve every name first (one bad name: nothing is done), then act on each node at once."""
    outcome = Outcome()
    async with connected(backends) as (listed, failures):
        outcome.problems += described(failures)
        nodes = [n for ns in listed.values() for n in ns]
        targets: dict[str, Node] = {}
        unresolved = False
        for ref in refs:
            try:
                node = ref.find(nodes)
                targets[node.key] = node
            except NotFound as err:
                outcome.problems.append(str(err))
                unresolved = True
        if unresolved:
            return outcome

        async def one(node: Node) -> Result:
            try:
                return Result(node, action, True, await backend_for(listed, node).perform(node, action, options))
            except Refused as err:
                return Result(node, action, False, with_command(err, node))
            except EngineError as err:
                return Result(node, action, False, str(err))

        outcome.results = list(await asyncio.gather(*(one(n) for n in targets.values())))
    return outcome


def command(action: str) -> str:
    """The CLI's spelling of an action: `force-off`, `snapshot create`."""
    group, _, sub = action.partition("-")
    return f"{group} {sub}" if sub in GROUPS.get(group, ()) else action


def with_command(err: Refused, node: Node) -> str:
    """The refusal, and the command of its remedy: `…; force it off first: vtui force-off 'my vm'`."""
    return str(err) if err.remedy is None else f"{err}: vtui {command(err.remedy)} {shlex.quote(node.name)}"


@dataclass
class SnapshotListing:
    node: Node | None = None  # None: the name did not resolve
    snapshots: list[SnapshotInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # engines that did not answer, the name that did not resolve
    error: str = ""  # why the VM's snapshots could not be listed


async def snapshot_list(backends: Sequence[Backend], ref: NodeRef) -> SnapshotListing:
    """The snapshots of the one VM `ref` names (a query: read-only mode allows it)."""
    listing = SnapshotListing()
    async with connected(backends) as (listed, failures):
        listing.problems += described(failures)
        try:
            listing.node = node = ref.find([n for ns in listed.values() for n in ns])
        except NotFound as err:
            listing.problems.append(str(err))
            return listing
        backend = backend_for(listed, node)
        if not backend.supports(Capability.SNAPSHOTS):
            listing.error = f"snapshot list {node.name!r}: it is a {node.kind}, and only VMs have snapshots"
            return listing
        try:
            listing.snapshots = await backend.snapshots(node)
        except VtuiError as err:
            listing.error = str(err)
    return listing
