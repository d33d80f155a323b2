"""A lab file's links matched with the links wired: a link is known by its two ends in the file's
terms (node name and interface), whichever side of the record each end is."""

from __future__ import annotations

from collections.abc import Mapping

from vtui.labs.topology import Lab, LabLink, NodeKind
from vtui.links.wiring import SEGMENT
from vtui.model import Kind
from vtui.net.book import SIDES, LinkRecord

ANY_IF = "*"  # a VM's or segment's end in a link's identity: its interface is not the file's to name

# (host, kind, engine name) -> the node's name in the file
Names = Mapping[tuple[str, str, str], str]
Identity = frozenset[tuple[str, str]]


def end_key(lab: Lab, node_name: str, ifname: str) -> tuple[str, str]:
    node = lab.nodes[node_name]
    return node_name, ANY_IF if node.becomes in (NodeKind.VM, NodeKind.SEGMENT) else ifname


def identity(lab: Lab, link: LabLink) -> Identity:
    return frozenset({end_key(lab, link.a.node, link.a.ifname), end_key(lab, link.b.node, link.b.ifname)})


def record_end(record: LinkRecord, side: str, names: Names) -> tuple[str, str]:
    """A recorded end in the file's terms, as end_key spells a file's end."""
    ref = record.end(side)
    name = names.get((ref.host, ref.kind, ref.node), f"?{ref.node}")
    return name, ANY_IF if ref.kind in (SEGMENT, str(Kind.VM)) else ref.ifname


def record_identity(record: LinkRecord, names: Names) -> Identity:
    return frozenset(record_end(record, side, names) for side in SIDES)


def sides(lab: Lab, link: LabLink, record: LinkRecord, names: Names) -> dict[str, str]:
    """Which side of the record each end of the file's link is ("a" of the file may be "b" of the
    record: a VM's end is always b)."""
    side_of = {record_end(record, side, names): side for side in SIDES}
    return {"a": side_of[end_key(lab, link.a.node, link.a.ifname)],
            "b": side_of[end_key(lab, link.b.node, link.b.ifname)]}


def link_words(record: LinkRecord, names: Names) -> str:
    return " — ".join(f"{names.get((r.host, r.kind, r.node), r.node)}:{r.ifname}" for r in (record.a, record.b))


def remade(record: LinkRecord, link: LabLink, names: Names) -> bool:
    """Whether a wired link differs from the file's in what only making it again changes (MTU, addresses)."""
    if link.mtu is not None and link.mtu != record.mtu:
        return True
    file_ends = {(e.node, e.ifname): e.addresses for e in (link.a, link.b)}
    for ref in (record.a, record.b):
        name = names.get((ref.host, ref.kind, ref.node))
        if name is not None and file_ends.get((name, ref.ifname), ref.addresses) != ref.addresses:
            return True
    return False
