"""Carrying out one action on named nodes, for the CLI (no UI)."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from vtui.actions import ACTIONS, Options
from vtui.backends.base import Backend, Capability, backend_for
from vtui.cli.ls import connected, described
from vtui.cli.parser import GROUPS
from vtui.cli.terminal import agreed, answer, columns
from vtui.errors import EngineError, NotFound, Refused, VtuiError
from vtui.model import Node, SnapshotInfo
from vtui.model.refs import NodeRef


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


async def act(backends: Sequence[Backend], action: str, refs: Sequence[NodeRef], options: Options) -> Outcome:
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


def _confirmed(args: argparse.Namespace) -> bool:
    """Destructive actions ask first; without a terminal to ask, only --yes will do."""
    action = ACTIONS[args.action]
    if not action.destructive or args.yes:
        return True
    if not sys.stdin.isatty():
        verb = " ".join(args.action.split("-", 1)) if args.action.startswith("snapshot-") else action.name
        print(f"vtui: {verb} is destructive and there is no terminal to ask: pass --yes", file=sys.stderr)
        return False
    if action.name == "delete":
        return all(_name_typed(ref, args.storage) for ref in args.nodes)
    names = ", ".join(repr(str(n)) for n in args.nodes)
    if snapshot := getattr(args, "snapshot", None):
        names += f", snapshot {snapshot!r}"
    return agreed(answer(f"{action.title} {names}? {action.description}. [y/N] "))


def _name_typed(ref: NodeRef, storage: bool) -> bool:
    """Deleting a VM cannot be undone: the user types its name, not just y."""
    name = ref.name
    print(f"Delete the VM {name!r}{' and its disk volumes' if storage else ''}? This cannot be undone.")
    if answer("Type the VM's name to confirm: ") == name.strip():
        return True
    print(f"vtui: that is not {name!r}; nothing was deleted", file=sys.stderr)
    return False


def run(args: argparse.Namespace, backends: Sequence[Backend]) -> int:
    """`vtui VERB NODE…`: 0 when every node took the action, 1 when one did not, 2 when nothing was done."""
    if not _confirmed(args):
        return 2
    options = Options.of({option.name: getattr(args, option.name) for option in ACTIONS[args.action].options})
    outcome = asyncio.run(act(backends, args.action, args.nodes, options))
    for problem in outcome.problems:
        print(f"vtui: {problem}", file=sys.stderr)
    if args.json:
        json.dump([r.to_json() for r in outcome.results], sys.stdout, indent=2)
        print()
    else:
        for result in outcome.results:
            print(result.message if result.ok else f"failed: {result.message}",
                  file=sys.stdout if result.ok else sys.stderr)
    if outcome.problems and not outcome.results:
        return 2  # nothing was done: a name did not resolve
    return 0 if all(r.ok for r in outcome.results) else 1


def run_snapshot_list(args: argparse.Namespace, backends: Sequence[Backend]) -> int:
    listing = asyncio.run(snapshot_list(backends, args.node))
    for problem in listing.problems:
        print(f"vtui: {problem}", file=sys.stderr)
    if listing.node is None:
        return 2
    if listing.error:
        print(f"failed: {listing.error}", file=sys.stderr)
        return 1
    if args.json:
        json.dump([s.to_json() for s in listing.snapshots], sys.stdout, indent=2)
        print()
    elif listing.snapshots:
        print(snapshot_table(listing.snapshots))
    else:
        print(f"{listing.node.name!r} has no snapshots")
    return 0


def snapshot_table(snapshots: Sequence[SnapshotInfo]) -> str:
    return columns([("NAME", "CREATED", "STATE", "CURRENT", "DESCRIPTION")] + [
        (s.name, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created)), s.state, "*" if s.current else "",
         " ".join(s.description.split())) for s in snapshots])
