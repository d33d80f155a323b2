"""segment: a node's membership of a segment (a Linux bridge in a namespace of its own, vtui.net.bridge),
by a veth from the node's interface to a port of the bridge. End b of such a link is the segment
(its EndRef's kind is SEGMENT, its node the segment's name, its interface "portN").

Members are made by `bridge attach` (plan_member), not by `link add`; the segment's bridge itself
is made and removed here too (make_bridge, remove_bridge)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vtui.errors import LinkError
from vtui.model import Node
from vtui.net.book import EndRef, LinkRecord, SegmentRecord, new_id
from vtui.net.bridge import Bridge, JoinPort, MakeBridge, RemoveBridge
from vtui.net.kinds import LinkContext, LinkKind, NodeEnd, Read
from vtui.net.kinds.common import KindBase, check_unused, key, read_by_host
from vtui.net.plan import End, Impairment, Veth, check_end

SEGMENT = "segment"  # the kind of a member's link, and of its end b


def bridge_of(segment: SegmentRecord) -> Bridge:
    return Bridge(segment.id, segment.mtu, segment.host)


def port_number(ref: EndRef) -> int:
    return int(ref.ifname.removeprefix("port"))


def members(links: Iterable[LinkRecord], segment: SegmentRecord) -> list[LinkRecord]:
    """The links by which nodes are members of the segment."""
    return [r for r in links if r.b.kind == SEGMENT and (r.b.node, r.b.host) == (segment.name, segment.host)]


def is_member(record: LinkRecord) -> bool:
    return record.b.kind == SEGMENT


async def make_bridge(ctx: LinkContext, segment: SegmentRecord) -> bool:
    return await ctx.executor(segment.host).run(MakeBridge(bridge_of(segment)))


async def remove_bridge(ctx: LinkContext, segment: SegmentRecord) -> bool:
    return await ctx.executor(segment.host).run(RemoveBridge(bridge_of(segment)))


async def plan_member(ctx: LinkContext, segment: SegmentRecord, node: Node, ifname: str | None,
                      addresses: Sequence[str]) -> LinkRecord:
    """The link by which the node joins the segment, from its next free ethN (or the one named) to
    the first free port; or the link by which it is a member already."""
    if segment.host != node.host:
        raise LinkError(f"{node.name!r} is on {node.host} and the segment {segment} on {segment.host}: "
                        "links between hosts (VXLAN) are not built yet")
    pid = await ctx.netns_pid(node)
    book = ctx.book.read()
    ifname = ifname or await ctx.free_ifname(node, pid)
    joined = members(book.links.values(), segment)
    ref = NodeEnd(node, ifname, tuple(addresses)).ref(ifname)
    for member in joined:
        if key(member.a) == key(ref):
            return member
    check_unused([ref], book.links.values())
    taken = {port_number(m.b) for m in joined}
    port = next(n for n in range(len(taken) + 1) if n not in taken)
    check_end(End(pid, ref.ifname, ref.where(), ref.addresses))
    return LinkRecord(new_id({**book.links, **book.segments}), ref,
                      EndRef(segment.host, SEGMENT, segment.name, f"port{port}"), segment.mtu, SEGMENT, lab=ctx.lab)


class SegmentKind(KindBase):
    name = SEGMENT
    about = "for a member of a segment (made by `vtui bridge attach`)"
    by_add = False

    def fits(self, a: NodeEnd, b: NodeEnd) -> str | None:
        return None  # two nodes are never joined by a segment's member link

    async def plan(self, ctx: LinkContext, a: NodeEnd, b: NodeEnd, mtu: int) -> LinkRecord:
        raise LinkError("a node joins a segment by `vtui bridge attach SEGMENT NODE`")

    @staticmethod
    def _bridge(ctx: LinkContext, record: LinkRecord) -> Bridge:
        return bridge_of(ctx.segment(record.b.node, record.b.host))

    async def _veth(self, ctx: LinkContext, record: LinkRecord, doing: str | None) -> tuple[Veth, Bridge]:
        bridge = self._bridge(ctx, record)
        end = await ctx.end(record.a, doing)
        return Veth(record.id, end, bridge.port(port_number(record.b)), record.mtu), bridge

    async def make(self, ctx: LinkContext, record: LinkRecord) -> bool:
        veth, bridge = await self._veth(ctx, record, None)
        return await ctx.executor(record.a.host).run(JoinPort(veth, bridge))

    async def rewire(self, ctx: LinkContext, record: LinkRecord) -> bool:
        veth, bridge = await self._veth(ctx, record, f"wire the link {record.id}")
        ex = ctx.executor(record.a.host)
        made = await ex.run(MakeBridge(bridge))
        return await ex.run(JoinPort(veth, bridge)) or made

    async def remove(self, ctx: LinkContext, record: LinkRecord) -> bool:
        a = await ctx.end_or_gone(record.a)
        try:
            b = self._bridge(ctx, record).port(port_number(record.b))
        except LinkError:  # the segment's record is gone: its namespace (and the port) with it
            b = End(0, record.b.ifname, record.b.where())
        return await ctx.executor(record.a.host).unwire(Veth(record.id, a, b, record.mtu))

    async def read(self, ctx: LinkContext, records: Sequence[LinkRecord]) -> list[Read]:
        async def veth(record: LinkRecord) -> Veth:
            return (await self._veth(ctx, record, None))[0]

        return await read_by_host(ctx, records, lambda r: [r.a], veth)

    async def end(self, ctx: LinkContext, record: LinkRecord, side: str) -> End:
        if side == "a":
            return await ctx.end(record.a, None)
        return self._bridge(ctx, record).port(port_number(record.b))

    async def set_admin(self, ctx: LinkContext, record: LinkRecord, sides: Sequence[str], up: bool) -> None:
        veth, _ = await self._veth(ctx, record, f"set the link {record.id} {'up' if up else 'down'}")
        for side in sides:
            await ctx.executor(record.a.host).set_admin(veth, side, up)

    async def impair(self, ctx: LinkContext, record: LinkRecord, side: str, impairment: Impairment) -> None:
        veth, _ = await self._veth(ctx, record, f"impair the link {record.id}")
        await ctx.executor(record.a.host).impair(veth, side, impairment)

    def peer(self, record: LinkRecord, side: str) -> str:
        return f"segment {record.b.node}" if side == "a" else str(record.a)


KIND: LinkKind = SegmentKind()
