"""A kind of link that exists only in this module, to prove the seam: it is registered through
vtui.net.kinds.register alone (no other module names it), and its "kernel" is the dict WIRED.

It joins two VMs of one host (as the tap kind does, so it is chosen by naming it) and keeps per
link and side whether the end is up and what impairment it holds."""

from __future__ import annotations

from collections.abc import Sequence

from vtui.errors import LinkError
from vtui.model import Node
from vtui.net.book import SIDES, LinkRecord, new_id
from vtui.net.kinds import LinkContext, LinkKind, NodeEnd, Read, register
from vtui.net.plan import ABSENT, End, EndStatus, Impairment

NAME = "fake"
WIRED: dict[str, dict[str, tuple[bool, Impairment]]] = {}  # link id -> side -> (up, impairment)
calls: list[tuple[str, str]] = []  # (what, link id): what the service asked of the kind


class FakeKind:
    name = NAME
    about = "for two VMs in this test's dictionary"
    by_add = True

    def fits(self, a: NodeEnd, b: NodeEnd) -> str | None:
        return "both are VMs of one host" if a.nic and b.nic and a.node.host == b.node.host else None

    async def plan(self, ctx: LinkContext, a: NodeEnd, b: NodeEnd, mtu: int) -> LinkRecord:
        links = ctx.book.load()
        for record in links.values():
            if record.kind == NAME and {record.a.node, record.b.node} == {a.node.name, b.node.name}:
                return record
        return LinkRecord(new_id(links), a.ref(a.ifname or "f0"), b.ref(b.ifname or "f1"), mtu, NAME, lab=ctx.lab)

    async def make(self, ctx: LinkContext, record: LinkRecord) -> bool:
        calls.append(("make", record.id))
        return _wire(record)

    async def rewire(self, ctx: LinkContext, record: LinkRecord) -> bool:
        calls.append(("rewire", record.id))
        return _wire(record)

    async def remove(self, ctx: LinkContext, record: LinkRecord) -> bool:
        calls.append(("remove", record.id))
        return WIRED.pop(record.id, None) is not None

    async def remove_many(self, ctx: LinkContext, records: Sequence[LinkRecord]) -> list[bool | LinkError]:
        return [await self.remove(ctx, record) for record in records]

    async def read(self, ctx: LinkContext, records: Sequence[LinkRecord]) -> list[Read]:
        found: list[Read] = []
        for record in records:
            if any(ctx.node_at(ref) is None for ref in (record.a, record.b)):
                found.append("a node is not there")
                continue
            ends = WIRED.get(record.id)
            found.append({side: EndStatus(present=True, up=ends[side][0], carrier=True) if ends else ABSENT
                          for side in SIDES})
        return found

    async def end(self, ctx: LinkContext, record: LinkRecord, side: str) -> End:
        raise LinkError("a fake link has nothing to capture")

    def _wired(self, record: LinkRecord) -> dict[str, tuple[bool, Impairment]]:
        if record.id not in WIRED:
            raise LinkError(f"the fake link {record.id} is not wired (wire it first)")
        return WIRED[record.id]

    async def set_admin(self, ctx: LinkContext, record: LinkRecord, sides: Sequence[str], up: bool) -> None:
        ends = self._wired(record)
        for side in sides:
            ends[side] = (up, ends[side][1])

    async def impair(self, ctx: LinkContext, record: LinkRecord, side: str, impairment: Impairment) -> None:
        ends = self._wired(record)
        ends[side] = (ends[side][0], impairment)

    async def carrier(self, ctx: LinkContext, record: LinkRecord, node: Node | None, up: bool) -> None:
        return None

    def peer(self, record: LinkRecord, side: str) -> str:
        return f"fake {record.end('b' if side == 'a' else 'a').node}"


def _wire(record: LinkRecord) -> bool:
    """Both ends up, with no impairment; False when the link was there."""
    made = record.id not in WIRED
    WIRED.setdefault(record.id, {side: (True, Impairment()) for side in SIDES})
    return made


KIND: LinkKind = register(FakeKind())
