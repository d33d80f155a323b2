"""veth: two containers of one host, a veth pair with one end in each namespace under its final
name (the next free ethN unless one is given). Many are removed in one go per host."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from vtui.errors import LinkError
from vtui.net.book import LinkRecord, new_id
from vtui.net.kinds import LinkContext, LinkKind, NodeEnd, Read
from vtui.net.kinds.common import KindBase, read_by_host, same_link
from vtui.net.plan import End, Impairment, Veth, check_end


class VethKind(KindBase):
    name = "veth"
    about = "for two containers of one host"
    by_add = True

    def fits(self, a: NodeEnd, b: NodeEnd) -> str | None:
        if a.node.host == b.node.host and not a.nic and not b.nic:
            return "both are containers of one host"
        return None

    async def plan(self, ctx: LinkContext, a: NodeEnd, b: NodeEnd, mtu: int) -> LinkRecord:
        pid_a, pid_b = await asyncio.gather(ctx.netns_pid(a.node), ctx.netns_pid(b.node))
        if_a = a.ifname or await ctx.free_ifname(a.node, pid_a)
        if_b = b.ifname or await ctx.free_ifname(b.node, pid_b, (if_a,) if b.node == a.node else ())
        refs = [a.ref(if_a), b.ref(if_b)]
        for ref in refs:
            check_end(End(0, ref.ifname, ref.where(), ref.addresses))
        links = ctx.book.load()
        if same := same_link(refs, links.values()):
            return same
        return LinkRecord(new_id(links), refs[0], refs[1], mtu, self.name, lab=ctx.lab)

    @staticmethod
    async def veth(ctx: LinkContext, record: LinkRecord, doing: str | None) -> Veth:
        a, b = await asyncio.gather(ctx.end(record.a, doing), ctx.end(record.b, doing))
        return Veth(record.id, a, b, record.mtu)

    async def make(self, ctx: LinkContext, record: LinkRecord) -> bool:
        return await ctx.executor(record.a.host).wire(await self.veth(ctx, record, None))

    async def rewire(self, ctx: LinkContext, record: LinkRecord) -> bool:
        return await ctx.executor(record.a.host).wire(await self.veth(ctx, record, f"wire the link {record.id}"))

    async def _gone(self, ctx: LinkContext, record: LinkRecord) -> Veth:
        a, b = [await ctx.end_or_gone(ref) for ref in (record.a, record.b)]
        return Veth(record.id, a, b, record.mtu)

    async def remove(self, ctx: LinkContext, record: LinkRecord) -> bool:
        return await ctx.executor(record.a.host).unwire(await self._gone(ctx, record))

    async def remove_many(self, ctx: LinkContext, records: Sequence[LinkRecord]) -> list[bool | LinkError]:
        """The links of each host removed in one go (one kernel call per namespace; one command on a
        remote host)."""
        grouped: dict[str, list[tuple[int, Veth]]] = {}
        for index, record in enumerate(records):
            grouped.setdefault(record.a.host, []).append((index, await self._gone(ctx, record)))
        results: dict[int, bool | LinkError] = {}
        for host, pairs in grouped.items():
            done = await ctx.executor(host).unwire_many([veth for _, veth in pairs])
            results.update((index, result) for (index, _), result in zip(pairs, done, strict=True))
        return [results[index] for index in range(len(records))]

    async def read(self, ctx: LinkContext, records: Sequence[LinkRecord]) -> list[Read]:
        return await read_by_host(ctx, records, lambda r: [r.a, r.b], lambda r: self.veth(ctx, r, None))

    async def set_admin(self, ctx: LinkContext, record: LinkRecord, sides: Sequence[str], up: bool) -> None:
        veth = await self.veth(ctx, record, f"set the link {record.id} {'up' if up else 'down'}")
        for side in sides:
            await ctx.executor(record.a.host).set_admin(veth, side, up)

    async def impair(self, ctx: LinkContext, record: LinkRecord, side: str, impairment: Impairment) -> None:
        veth = await self.veth(ctx, record, f"impair the link {record.id}")
        await ctx.executor(record.a.host).impair(veth, side, impairment)


KIND: LinkKind = VethKind()
