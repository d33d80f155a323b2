"""`vtui lab …`: containerlab topology files deployed, inspected, changed, destroyed and drawn."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vtui.backends.base import Backend
from vtui.cli.ls import connected
from vtui.cli.terminal import agreed, answer, columns
from vtui.errors import ConfigError, LabError, VtuiError
from vtui.labs.clab import read_lab
from vtui.labs.graph import draw
from vtui.labs.steps import Step
from vtui.labs.topology import Lab
from vtui.model import LOCAL_HOST
from vtui.net.book import SIDES, LinkBook

if TYPE_CHECKING:
    from vtui.labs.deploy import Labs, Plan
    from vtui.labs.export import Tunnel


def hosts_of(args: argparse.Namespace) -> list[str]:
    """The hosts a lab command needs (as the lab file names them): those of its file's nodes, or of the
    labs deployed. ConfigError for a file that cannot be read."""
    verb = args.lab_command
    if verb in ("deploy", "apply"):
        return read_lab(args.file).hosts
    if verb == "graph":
        return [LOCAL_HOST]
    spec = getattr(args, "lab", None)
    if spec and Path(spec).is_file():
        return read_lab(Path(spec)).hosts
    labs = LinkBook().read().labs
    chosen = [labs[spec]] if spec in labs else [] if spec else list(labs.values())
    return list(dict.fromkeys(h for record in chosen for h in record.hosts)) or [LOCAL_HOST]


def run(args: argparse.Namespace, backends: Sequence[Backend]) -> int:
    if args.lab_command == "graph":
        try:
            print(draw(read_lab(args.file), args.format))
        except (ConfigError, ValueError) as err:  # ValueError: a format draw() does not know, in its words
            print(f"vtui: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        return asyncio.run(_run(args, backends))
    except KeyboardInterrupt:
        print("vtui: interrupted; what this run made was undone (vtui lab destroy removes the rest)",
              file=sys.stderr)
        return 130


async def _run(args: argparse.Namespace, backends: Sequence[Backend]) -> int:
    from vtui.labs.deploy import Labs  # links and netlink: only for the verbs that need them
    from vtui.labs.inventory import host_names

    async with connected(backends) as (listed, failures):  # a host the lab needs and lacks is named by the plan
        labs = Labs(list(listed), host_names(hosts_of(args)))
        labs.unreached = {f.host: f.reason for f in failures}
        await labs.refresh()
        try:
            return await _command(args, labs)
        except VtuiError as err:
            print(f"vtui: {err}", file=sys.stderr)
            return 1


async def _command(args: argparse.Namespace, labs: Labs) -> int:
    verb = args.lab_command
    if verb in ("deploy", "apply"):
        lab = read_lab(args.file)
        for note in lab.notes:
            print(f"note: {note}", file=sys.stderr)
        plan = await labs.plan(lab)
        if verb == "apply" and args.dry_run:
            print(f"lab {lab.name}: " + ("no change" if not plan.steps else plan.counted))
            for step in plan.steps:
                print(f"  {step}")
            return 0
        return await _carry_out(labs, plan, "deployed" if verb == "deploy" else "applied")
    if verb == "destroy":
        name = _lab_name(args.lab)
        plan = labs.destroy_plan(name)
        what = "; ".join(step.what for step in plan.steps) or "its record only"
        if plan.steps and not args.yes and not _agreed_on_terminal(f"Destroy lab {name}: {what}? [y/N] "):
            return 2
        return await _carry_out(labs, plan, "destroyed")
    if verb == "inspect":
        return await _inspect(args, labs)
    if verb == "export":
        return await _export(args, labs)
    raise AssertionError(verb)


async def _export(args: argparse.Namespace, labs: Labs) -> int:
    from vtui.labs.export import clab_files
    from vtui.net.vxlan import vni_of

    name = _lab_name(args.lab)
    lab = labs.deployed(name)
    if lab is None:
        print(f"vtui: lab {name!r} is not deployed here: its links between hosts take their VXLAN ids when it is "
              "(vtui lab deploy FILE)", file=sys.stderr)
        return 1
    wired, wiring = labs.wired(lab), labs.wiring(name)
    tunnels: dict[frozenset[tuple[str, str]], Tunnel] = {}
    for link in lab.links:
        a, b = lab.nodes[link.a.node], lab.nodes[link.b.node]
        if labs.host(a) != labs.host(b) and link.ends in wired:
            record = wired[link.ends][0]
            near, far = await wiring.underlay(labs.host(a), labs.host(b))
            tunnels[link.ends] = (vni_of(record.id), record.mtu, {a.name: near, b.name: far})
    args.dir.mkdir(parents=True, exist_ok=True)
    for host, text in clab_files(lab, labs.host, tunnels).items():
        path = args.dir / f"{name}-{host}.clab.yml"
        path.write_text(text)
        print(f"wrote {path}")
    return 0


def _lab_name(spec: str) -> str:
    """A lab's name, given as itself or as its file."""
    path = Path(spec)
    return read_lab(path).name if spec.endswith((".yml", ".yaml")) or path.is_file() else spec


def _agreed_on_terminal(question: str) -> bool:
    if not sys.stdin.isatty():
        print("vtui: this removes nodes and links and there is no terminal to ask: pass --yes", file=sys.stderr)
        return False
    return agreed(answer(question))


class Printed:
    """Progress as lines: each step when it ends (ok, failed, undone), numbered."""

    def __init__(self, total: int, out: TextIO = sys.stdout) -> None:
        self.total, self.count, self.out = total, 0, out

    def __call__(self, step: Step, state: str, detail: str) -> None:
        if state == "start":
            return
        if state == "done":
            self.count += 1
        width = len(str(self.total))
        mark = f"[{self.count:>{width}}/{self.total}]" if state == "done" else f"[{state}]".rjust(2 * width + 3)
        print(f"{mark} {step}" + (f": {detail}" if detail else ""), file=self.out, flush=True)


async def _carry_out(labs: Labs, plan: Plan, done: str) -> int:
    lab = plan.lab
    if not plan.steps and not plan.remove_record:
        print(f"lab {lab.name}: nothing to change")
        return 0
    if not plan.steps and not plan.left and not labs.book.read().labs.get(lab.name):
        print(f"lab {lab.name}: nothing to destroy (no lab of that name is deployed here)")
        return 0
    print(f"lab {lab.name}: {plan.counted}")
    try:
        await labs.carry_out(plan, Printed(len(plan.steps)))
    except LabError as err:
        print(f"vtui: lab {lab.name} not {done}; what this run made was undone: {err}", file=sys.stderr)
        return 1
    if plan.left:
        print(f"vtui: lab {lab.name} partly {done}: {plan.left}", file=sys.stderr)
        return 1
    print(f"lab {lab.name} {done}")
    if not plan.remove_record:  # what runs now, as inspect shows it
        await labs.refresh()
        print(_lab_text(await _lab_json(labs, lab)))
    return 0


async def _inspect(args: argparse.Namespace, labs: Labs) -> int:
    records = labs.book.read().labs
    names = [_lab_name(args.lab)] if args.lab else list(records)
    shown: list[dict[str, Any]] = []
    for name in names:
        lab = labs.deployed(name)
        if lab is None:
            print(f"vtui: no lab {name!r} is deployed here", file=sys.stderr)
            return 1
        shown.append(await _lab_json(labs, lab))
    if args.json:
        print(json.dumps(shown, indent=2))
    elif not shown:
        print("no labs: deploy one with vtui lab deploy FILE")
    for lab_json in shown if not args.json else ():
        print(_lab_text(lab_json))
    return 0


async def _lab_json(labs: Labs, lab: Lab) -> dict[str, Any]:
    """The lab as it runs, in the file's terms (its node and interface names, its ends a and b)."""
    nodes = [labs.view(lab, node) for node in lab.nodes.values()]
    wired = labs.wired(lab)
    views = {v.record.id: v for v in await labs.wiring(lab.name).views([record for record, _ in wired.values()])}
    links: list[dict[str, Any]] = []
    for link in lab.links:
        found = wired.get(link.ends)
        ends = [{"node": e.node, "interface": e.ifname, "addresses": list(e.addresses)} for e in (link.a, link.b)]
        if found is None:
            links.append({"id": None, "a": ends[0], "b": ends[1], "kind": None, "mtu": None, "state": "absent",
                          "reason": "not wired: vtui lab deploy makes it", "impair": ""})
            continue
        record, side = found
        view = views[record.id]
        for end, file_side in zip(ends, SIDES, strict=True):
            end["device"] = record.end(side[file_side]).ifname  # a VM's tap, a segment's port
        impair = "; ".join(f"{e['node']}:{e['interface']} {record.impair[side[s]].words()}"
                           for e, s in zip(ends, SIDES, strict=True) if side[s] in record.impair)
        links.append({"id": record.id, "a": ends[0], "b": ends[1], "kind": record.kind, "mtu": record.mtu,
                      "state": view.state, "reason": view.reason, "impair": impair})
    return {"name": lab.name, "file": str(lab.path or ""),
            "nodes": [{"name": v.name, "kind": v.kind, "host": v.host, "engine_name": v.engine_name,
                       "state": v.state} for v in nodes],
            "links": links}


def _lab_text(lab: dict[str, Any]) -> str:
    nodes = columns([("NODE", "KIND", "HOST", "NAME", "STATE")] +
                    [(n["name"], n["kind"], n["host"], n["engine_name"], n["state"]) for n in lab["nodes"]])
    links = columns([("LINK", "A", "B", "KIND", "MTU", "STATE", "IMPAIRMENT", "ADDRESSES")] + [
        (link["id"] or "-", f"{link['a']['node']}:{link['a']['interface']}",
         f"{link['b']['node']}:{link['b']['interface']}", link["kind"] or "-", str(link["mtu"] or "-"),
         link["state"] + (f" ({link['reason']})" if link["reason"] else ""), link["impair"] or "-",
         " ".join(link["a"]["addresses"] + link["b"]["addresses"]) or "-")
        for link in lab["links"]])
    count = len(lab["links"])
    head = f"lab {lab['name']} ({lab['file']}): {len(lab['nodes'])} nodes, {count} link{'s' * (count != 1)}"
    return "\n".join([head, nodes, "", links if lab["links"] else "no links", ""])
