"""`vtui link …`: links between containers, wired, listed, changed and removed from the shell."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from vtui.backends.base import Backend
from vtui.cli.ls import connected, described
from vtui.cli.terminal import agreed, answer, columns
from vtui.errors import LinkError, Refused, VtuiError
from vtui.links.wiring import LinkView, Wiring
from vtui.model.format import human_bytes
from vtui.net.book import SIDES, LinkRecord
from vtui.net.kinds import kinds
from vtui.net.kinds.segment import members
from vtui.net.plan import Impairment


def print_kinds(json_out: bool) -> int:
    """`vtui link kinds`: the registry of kinds, in the order `link add` tries them."""
    if json_out:
        print(json.dumps([{"name": k.name, "about": k.about, "by_add": k.by_add} for k in kinds()], indent=2))
    else:
        print(columns([("KIND", "BY LINK ADD", "TAKEN")] +
                      [(k.name, "yes" if k.by_add else "no", k.about) for k in kinds()]))
    return 0


def impairment(args: argparse.Namespace) -> Impairment | None:
    """The impairment the flags ask for; None when none was given."""
    if args.clear:
        return Impairment()
    wanted = Impairment(rate_kbit=args.rate, delay_ms=args.delay, jitter_ms=args.jitter, loss_pct=args.loss,
                        corrupt_pct=args.corrupt)
    return None if wanted.none else wanted


def sides(named: str | None, flag: str | None) -> list[str]:
    if flag:
        return list(SIDES) if flag == "both" else [flag]
    return [named] if named else list(SIDES)


def table(views: Sequence[LinkView]) -> str:
    rows: list[tuple[str, ...]] = [("ID", "A", "B", "HOST", "STATE", "MTU", "IMPAIRMENT", "A TX", "B TX", "DROPS")]
    for view in views:
        r = view.record
        rows.append((r.id, f"{r.a.node}:{r.a.ifname}", f"{r.b.node}:{r.b.ifname}", r.a.host,
                     view.state + ("" if view.state == "up" else f" ({view.reason})"), str(r.mtu),
                     r.impair_words(": ") or "-",
                     *(f"{view.ends[s].tx_packets} pkt {human_bytes(view.ends[s].tx_bytes)}" if view.ends[s].present
                       else "-" for s in SIDES),
                     str(sum(view.ends[s].drops for s in SIDES))))
    return columns(rows)


def view_json(view: LinkView) -> dict[str, Any]:
    return view.record.to_json() | {"state": view.state, "reason": view.reason,
                                    "ends": {s: vars(view.ends[s]) for s in SIDES}}


async def run_link(args: argparse.Namespace, backends: Sequence[Backend]) -> int:
    async with connected(backends) as (listed, failures):
        for problem in described(failures):
            print(f"vtui: {problem}", file=sys.stderr)
        nodes = [n for ns in listed.values() for n in ns]
        wiring = Wiring(list(listed), lambda: nodes)
        try:
            return await _command(args, wiring)
        except VtuiError as err:
            print(f"vtui: {_with_remedy(err)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130


def _with_remedy(err: Exception) -> str:
    if isinstance(err, Refused) and err.remedy:
        return f"{err}: vtui {err.remedy} …"
    return str(err)


async def _command(args: argparse.Namespace, wiring: Wiring) -> int:
    if args.command == "bridge":
        return await _bridge(args, wiring)
    verb = args.link_command
    if verb == "add":
        record, made = await wiring.add(args.a, args.b, mtu=args.mtu, addresses={"a": args.ip_a, "b": args.ip_b},
                                        kind=None if args.kind == "auto" else args.kind)
        if args.json:
            print(json.dumps(record.to_json(), indent=2))
        else:
            print(f"{'wired' if made else 'already wired'}: link {record}")
        return 0
    if verb == "ls":
        views = await wiring.views()
        if args.json:
            print(json.dumps([view_json(v) for v in views], indent=2))
        elif views:
            print(table(views))
        else:
            print("no links: wire one with vtui link add A B")
        return 0
    if verb == "del":
        return await _delete(args, wiring)
    if verb == "repair":
        return await _repair(args, wiring)
    record, named = wiring.find(args.link)
    if verb == "set":
        chosen = sides(named, args.dir)
        if args.flap is not None:
            await wiring.flap(record, chosen, args.flap)
            print(f"flapped: link {record} ({', '.join(chosen)} down for {args.flap:g} s)")
        else:
            await wiring.set_admin(record, chosen, args.up)
            print(f"{'up' if args.up else 'down'}: link {record} (end {', '.join(chosen)})")
        return 0
    if verb == "impair":
        wanted = impairment(args)
        if wanted is None:
            print("vtui: say what to impair: --rate, --delay, --jitter, --loss, --corrupt, or --clear", file=sys.stderr)
            return 2
        chosen = sides(named, args.dir)
        record = await wiring.impair(record, chosen, wanted)
        print(f"{'cleared' if wanted.none else 'impaired'}: link {record}" +
              (f": {record.impair_words(': ')}" if record.impair else ""))
        return 0
    if verb == "capture":
        return await _capture(args, wiring, record, args.dir or named or "a")
    raise AssertionError(verb)


async def _bridge(args: argparse.Namespace, wiring: Wiring) -> int:
    verb = args.bridge_command
    if verb == "add":
        name, _, host = args.segment.partition("@")
        segment, made = await wiring.bridge_add(name, host or "local", args.mtu)
        print(f"{'made' if made else 'already there'}: segment {segment} ({segment.id})")
    elif verb == "attach":
        if args.ip and len(args.nodes) > 1:
            print("vtui: --ip names one member's address: attach one node at a time with it", file=sys.stderr)
            return 2
        for node in args.nodes:
            record, made = await wiring.bridge_attach(args.segment, node, args.ip)
            print(f"{'attached' if made else 'already attached'}: {record.a} to segment {record.b.node} "
                  f"(link {record.id})")
    elif verb == "detach":
        for node in args.nodes:
            record = wiring.member(args.segment, node)
            await wiring.delete(record)
            print(f"detached: {record.a} from segment {record.b.node}")
    elif verb == "del":
        segment = wiring.segment(args.segment)
        if not args.yes and not _agreed_on_terminal(f"Remove the segment {segment} and its members' links? [y/N] "):
            return 2
        count = await wiring.bridge_del(segment)
        print(f"removed: segment {segment} and {count} member link{'s' * (count != 1)}")
    elif verb == "ls":
        book = wiring.book.read()
        joined = {s.id: [str(r.a) for r in members(book.links.values(), s)] for s in book.segments.values()}
        if args.json:
            print(json.dumps([s.to_json() | {"members": joined[s.id]} for s in book.segments.values()], indent=2))
        elif book.segments:
            print(columns([("ID", "NAME", "HOST", "MTU", "MEMBERS")] +
                          [(s.id, s.name, s.host, str(s.mtu), " ".join(joined[s.id]) or "-")
                           for s in book.segments.values()]))
        else:
            print("no segments: make one with vtui bridge add NAME")
    return 0


def _agreed_on_terminal(question: str) -> bool:
    """Asked on a terminal; without one the answer is no, with a sentence saying to pass --yes."""
    if not sys.stdin.isatty():
        print("vtui: this removes interfaces and there is no terminal to ask: pass --yes", file=sys.stderr)
        return False
    return agreed(answer(question))


async def _repair(args: argparse.Namespace, wiring: Wiring) -> int:
    if args.all == bool(args.links):
        print("vtui: name the links to repair, or --all", file=sys.stderr)
        return 2
    records = list(wiring.book.load().values()) if args.all else [wiring.find(spec)[0] for spec in args.links]
    failed = 0
    for record in records:
        try:
            made = await wiring.rewire(record)
            print(f"{'wired again' if made else 'whole'}: link {record}")
        except VtuiError as err:
            failed += 1
            print(f"vtui: link {record}: {_with_remedy(err)}", file=sys.stderr)
    return 1 if failed else 0


async def _delete(args: argparse.Namespace, wiring: Wiring) -> int:
    if args.all == bool(args.links):
        print("vtui: name the links to remove, or --all", file=sys.stderr)
        return 2
    records = list(wiring.book.load().values()) if args.all else [wiring.find(spec)[0] for spec in args.links]
    segments = list(wiring.book.read().segments.values()) if args.all else []  # --all: the bridges go too
    if not records and not segments:
        print("no links to remove")
        return 0
    listed = ", ".join([str(r) for r in records] + [f"segment {s}" for s in segments])
    count = len(records) + len(segments)
    if not args.yes and not _agreed_on_terminal(f"Remove {count} link{'s' * (count != 1)}: {listed}? [y/N] "):
        return 2
    failed = 0
    for record, removed in zip(records, await wiring.delete_many(records), strict=True):
        if isinstance(removed, LinkError):
            failed += 1
            print(f"vtui: link {record} not removed: {removed}", file=sys.stderr)
        else:
            print(f"removed: link {record}" + ("" if removed else " (its interfaces were already gone)"))
    for segment in segments:
        try:
            await wiring.bridge_del(segment)
            print(f"removed: segment {segment}")
        except LinkError as err:
            failed += 1
            print(f"vtui: segment {segment} not removed: {err}", file=sys.stderr)
    return 1 if failed else 0


async def _capture(args: argparse.Namespace, wiring: Wiring, record: LinkRecord, side: str) -> int:
    out = sys.stdout.buffer if args.file == "-" else open(args.file, "wb")  # noqa: ASYNC230, SIM115 (once, closed below)
    try:
        async for chunk in wiring.capture(record, side, count=args.count):
            out.write(chunk)
            out.flush()
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    return 0


def run(args: argparse.Namespace, backends: Sequence[Backend]) -> int:
    try:
        return asyncio.run(run_link(args, backends))
    except KeyboardInterrupt:
        return 130
