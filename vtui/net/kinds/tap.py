"""tap (stored as "vm", the name links files have): a link with a VM at one end or both. The VM's
end is a NIC (attached through the context) on a tap vtui makes in the host's namespace, stitched
in the kernel to the other end: a container's veth (whose host end is stitched) or another VM's tap
(vtui.net.vmlink). A container's end is always end a. Built on this host only: on a remote host its
operations say they are not built yet."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from vtui.errors import LinkError
from vtui.model import Kind, Node, State
from vtui.net.book import SIDES, LinkRecord, new_id
from vtui.net.kinds import LinkContext, LinkKind, NodeEnd, Read
from vtui.net.kinds.common import KindBase, check_unused, mac, node_key, read_each, ref_node_key, waiting
from vtui.net.plan import HERE, End, Impairment, Veth
from vtui.net.vmlink import MakeVmLink, RemoveVmLink, VmLink

VM = str(Kind.VM)


def _sender(link: VmLink, side: str) -> tuple[Veth, str]:
    """A view of the device whose egress carries what `side`'s node sends, and its side in that view."""
    if side == "a":
        return (link.veth, "b") if link.a_is_vm else (link.veth, "a")
    return (link.veth, "a") if link.a_is_vm else (Veth(link.id, link.a, link.host_end), "b")


class TapKind(KindBase):
    name = "vm"
    about = "when a VM is an end"
    by_add = True

    def fits(self, a: NodeEnd, b: NodeEnd) -> str | None:
        if a.node.host == b.node.host and (a.nic or b.nic):
            return "a VM is an end"
        return None

    async def plan(self, ctx: LinkContext, a: NodeEnd, b: NodeEnd, mtu: int) -> LinkRecord:
        if not b.nic:  # the container's end is always a
            a, b = b, a
        for asked in (a, b):
            if asked.nic and asked.ifname:
                raise LinkError(f"{asked.node.name!r} is a VM: its end is a new NIC, named inside the guest; "
                                "give no interface for it")
            if asked.nic and asked.addresses:
                raise LinkError(f"{asked.node.name!r} is a VM: set its NIC's address inside the guest")
        links = ctx.book.load()
        for record in links.values():
            if record.kind == self.name and {node_key(a.node), node_key(b.node)} == {
                    ref_node_key(record.a), ref_node_key(record.b)} and (a.nic or a.ifname in (None, record.a.ifname)):
                return record
        link_id = new_id(links)
        if_a = f"vt{link_id}a" if a.nic else a.ifname or await ctx.free_ifname(a.node, await ctx.netns_pid(a.node))
        refs = [a.ref(if_a), b.ref(f"vt{link_id}b", ())]
        check_unused(refs, links.values())
        return LinkRecord(link_id, refs[0], refs[1], mtu, self.name, lab=ctx.lab)

    @staticmethod
    async def _link(ctx: LinkContext, record: LinkRecord, doing: str | None) -> VmLink:
        a, b = await asyncio.gather(ctx.end(record.a, doing), ctx.end(record.b, doing))
        return VmLink(record.id, a, b, record.mtu, a_is_vm=record.a.kind == VM)

    @staticmethod
    async def _nics(ctx: LinkContext, record: LinkRecord, change: str, up: bool = True) -> None:
        """Attach, detach or set the link state of the link's NICs in its VMs (those that are there)."""
        for side in SIDES:
            ref = record.end(side)
            if ref.kind != VM:
                continue
            if change == "attach":
                await ctx.attach_nic(ref, mac(record, side), record.mtu)
            elif change == "detach":
                await ctx.detach_nic(ref, mac(record, side))
            else:
                await ctx.nic_link(ref, mac(record, side), up)

    async def _wire(self, ctx: LinkContext, record: LinkRecord, link: VmLink) -> bool:
        ex = ctx.executor(record.a.host)
        made = await ex.run(MakeVmLink(link))
        try:
            await self._nics(ctx, record, "attach")
        except BaseException:
            with contextlib.suppress(LinkError):
                await self._nics(ctx, record, "detach")
            await ex.run(RemoveVmLink(link))
            raise
        return made

    async def make(self, ctx: LinkContext, record: LinkRecord) -> bool:
        return await self._wire(ctx, record, await self._link(ctx, record, f"wire a link to {record.b.node!r}"))

    async def rewire(self, ctx: LinkContext, record: LinkRecord) -> bool:
        made = await self._wire(ctx, record, await self._link(ctx, record, f"wire the link {record.id}"))
        if not record.down:  # both ends run again: carrier back where park() took it
            await self.carrier(ctx, record, None, True)
        return made

    async def remove(self, ctx: LinkContext, record: LinkRecord) -> bool:
        for ref in (record.a, record.b):
            ctx.check_writable(ref, f"remove the link of {ref.node!r}")
        await self._nics(ctx, record, "detach")
        a_is_vm = record.a.kind == VM
        a = End(HERE, record.a.ifname, record.a.where()) if a_is_vm else await ctx.end_or_gone(record.a)
        link = VmLink(record.id, a, End(HERE, record.b.ifname, record.b.where()), record.mtu, a_is_vm)
        return await ctx.executor(record.a.host).run(RemoveVmLink(link))

    async def read(self, ctx: LinkContext, records: Sequence[LinkRecord]) -> list[Read]:
        async def one(record: LinkRecord) -> Read:
            why = waiting(ctx, [record.a, record.b])
            if why is not None:
                return why
            return await ctx.executor(record.a.host).status((await self._link(ctx, record, None)).veth)

        return await read_each(ctx, records, one)

    async def set_admin(self, ctx: LinkContext, record: LinkRecord, sides: Sequence[str], up: bool) -> None:
        """A cable pulled at either end: each VM's NIC and the container see no carrier."""
        link = await self._link(ctx, record, f"set the link {record.id} {'up' if up else 'down'}")
        await self._nics(ctx, record, "link", up)
        if not link.a_is_vm:
            await ctx.executor(record.a.host).set_admin(Veth(record.id, link.a, link.host_end),
                                                        "a" if "a" in sides else "b", up)

    async def impair(self, ctx: LinkContext, record: LinkRecord, side: str, impairment: Impairment) -> None:
        """What a side's node sends leaves the host by another device's egress."""
        link = await self._link(ctx, record, f"impair the link {record.id}")
        await ctx.executor(record.a.host).impair(*_sender(link, side), impairment)

    async def carrier(self, ctx: LinkContext, record: LinkRecord, node: Node | None, up: bool) -> None:
        """A tap or a stitch would stay up when the other node stops: the far NIC or veth loses carrier."""
        for side in SIDES:
            ref = record.end(side)
            if node is not None and ref_node_key(ref) == node_key(node):
                continue
            peer = ctx.node_at(ref)
            if ref.kind == VM and peer is not None and peer.state is State.RUNNING:
                await ctx.nic_link(ref, mac(record, side), up)
            elif ref.kind != VM:  # the container sees the host end of its veth
                host_end = VmLink(record.id, End(0, ref.ifname, ""), End(0, "", ""), record.mtu).host_end
                with contextlib.suppress(LinkError):  # gone with the container
                    await ctx.executor(record.end(side).host).set_admin(
                        Veth(record.id, End(0, "", ""), host_end), "b", up)


KIND: LinkKind = TapKind()
