"""vxlan: nodes on two hosts, a VXLAN end on each host (vtui.net.vxlan) over the hosts' own
addresses (the underlay, found by the context). Each end is made, read and changed by its own
host's executor, which is given a view of that end alone (the other end's namespace means nothing
on this host)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from vtui.errors import LinkError, VtuiError
from vtui.model import Node
from vtui.net.book import SIDES, LinkRecord, new_id
from vtui.net.kinds import LinkContext, LinkKind, NodeEnd, Read
from vtui.net.kinds.common import KindBase, node_key, read_each, ref_node_key, same_link, waiting
from vtui.net.plan import DEFAULT_MTU, End, EndStatus, Impairment, Veth, check_end
from vtui.net.vxlan import OVERHEAD, MakeEnd, RemoveEnd, VxlanEnd

VXLAN_MTU = DEFAULT_MTU - OVERHEAD  # a VXLAN end's MTU unless one is given: the underlay's less 50


def _one(record: LinkRecord, end: End) -> Veth:
    """One end as its own host's executor is given it: a link whose both ends are this end."""
    return Veth(record.id, end, end, record.mtu)


class VxlanKind(KindBase):
    name = "vxlan"
    about = "for nodes on two hosts"
    by_add = True

    def fits(self, a: NodeEnd, b: NodeEnd) -> str | None:
        if a.node.host != b.node.host:
            return f"they are on two hosts ({a.node.host}, {b.node.host})"
        return None

    async def plan(self, ctx: LinkContext, a: NodeEnd, b: NodeEnd, mtu: int) -> LinkRecord:
        for asked in (a, b):
            if asked.nic:
                raise LinkError(f"{asked.node.name!r} is a VM on {asked.node.host}: links from VMs to other hosts "
                                "are not built yet (a VM links to nodes on its own host)")
        links = ctx.book.load()
        refs = []
        for asked in (a, b):
            pid = await ctx.netns_pid(asked.node)
            ref = asked.ref(asked.ifname or await ctx.free_ifname(asked.node, pid))
            check_end(End(pid, ref.ifname, ref.where(), ref.addresses))
            refs.append(ref)
        if same := same_link(refs, links.values()):
            return same
        return LinkRecord(new_id(links), refs[0], refs[1], VXLAN_MTU if mtu == DEFAULT_MTU else mtu, self.name,
                          lab=ctx.lab)

    @staticmethod
    async def _ends(ctx: LinkContext, record: LinkRecord, doing: str | None) -> tuple[End, End]:
        a, b = await asyncio.gather(ctx.end(record.a, doing), ctx.end(record.b, doing))
        return a, b

    async def _tunnel(self, ctx: LinkContext, record: LinkRecord, doing: str | None) -> tuple[VxlanEnd, VxlanEnd]:
        """Both ends, with the addresses by which each host reaches the other."""
        a, b = await self._ends(ctx, record, doing)
        local, remote = await ctx.underlay(record.a.host, record.b.host)
        return (VxlanEnd(record.id, "a", a, local, remote, record.mtu),
                VxlanEnd(record.id, "b", b, remote, local, record.mtu))

    async def _wire(self, ctx: LinkContext, record: LinkRecord, doing: str | None) -> bool:
        made = False
        for side, vx in zip(SIDES, await self._tunnel(ctx, record, doing), strict=True):
            made = await ctx.executor(record.end(side).host).run(MakeEnd(vx)) or made
        return made

    async def make(self, ctx: LinkContext, record: LinkRecord) -> bool:
        return await self._wire(ctx, record, None)

    async def rewire(self, ctx: LinkContext, record: LinkRecord) -> bool:
        made = await self._wire(ctx, record, f"wire the link {record.id}")
        if not record.down:  # both ends run again: carrier back where park() took it
            await self.carrier(ctx, record, None, True)
        return made

    async def remove(self, ctx: LinkContext, record: LinkRecord) -> bool:
        """An end on each host; no underlay address is needed to remove one."""
        removed = False
        for side in reversed(SIDES):
            vx = VxlanEnd(record.id, side, await ctx.end_or_gone(record.end(side)), "0.0.0.0", "0.0.0.0", record.mtu)
            removed = await ctx.executor(record.end(side).host).run(RemoveEnd(vx)) or removed
        return removed

    async def read(self, ctx: LinkContext, records: Sequence[LinkRecord]) -> list[Read]:
        async def one(record: LinkRecord) -> Read:
            why = waiting(ctx, [record.a, record.b])
            if why is not None:
                return why
            ends = await self._ends(ctx, record, None)
            found: dict[str, EndStatus] = {}
            for side, end in zip(SIDES, ends, strict=True):
                found[side] = (await ctx.executor(record.end(side).host).status(_one(record, end)))[side]
            return found

        return await read_each(ctx, records, one)

    async def set_admin(self, ctx: LinkContext, record: LinkRecord, sides: Sequence[str], up: bool) -> None:
        ends = dict(zip(SIDES, await self._ends(ctx, record, f"set the link {record.id} {'up' if up else 'down'}"),
                        strict=True))
        for side in sides:
            await ctx.executor(record.end(side).host).set_admin(_one(record, ends[side]), side, up)

    async def impair(self, ctx: LinkContext, record: LinkRecord, side: str, impairment: Impairment) -> None:
        ends = dict(zip(SIDES, await self._ends(ctx, record, f"impair the link {record.id}"), strict=True))
        await ctx.executor(record.end(side).host).impair(_one(record, ends[side]), side, impairment)

    async def carrier(self, ctx: LinkContext, record: LinkRecord, node: Node | None, up: bool) -> None:
        """A tunnel's end would stay up when the other node stops: it is taken down meanwhile."""
        for side in SIDES:
            if node is not None and ref_node_key(record.end(side)) == node_key(node):
                continue
            with contextlib.suppress(VtuiError):  # its node does not run either
                end = await ctx.end(record.end(side), None)
                await ctx.executor(record.end(side).host).set_admin(_one(record, end), side, up)


KIND: LinkKind = VxlanKind()
