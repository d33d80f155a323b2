"""What several kinds of link share: the defaults of a kind, a recorded link's identity, the reasons a
link waits, and reading many veth-like links of a host in one go."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

from vtui.errors import LinkError, VtuiError
from vtui.model import Node, State
from vtui.net.book import EndRef, LinkRecord
from vtui.net.kinds import LinkContext, Read
from vtui.net.plan import End, Veth


class KindBase:
    """Defaults a kind may keep: links removed one by one, no carrier to manage, a capture on the
    node's own end, the far end named as the file does."""

    async def remove(self, ctx: LinkContext, record: LinkRecord) -> bool:
        raise NotImplementedError

    async def remove_many(self, ctx: LinkContext, records: Sequence[LinkRecord]) -> list[bool | LinkError]:
        results: list[bool | LinkError] = []
        for record in records:
            try:
                results.append(await self.remove(ctx, record))
            except LinkError as err:
                results.append(err)
        return results

    async def carrier(self, ctx: LinkContext, record: LinkRecord, node: Node | None, up: bool) -> None:
        return None

    async def end(self, ctx: LinkContext, record: LinkRecord, side: str) -> End:
        return await ctx.end(record.end(side), None)

    def peer(self, record: LinkRecord, side: str) -> str:
        return str(record.end("b" if side == "a" else "a"))


def mac(record: LinkRecord, side: str) -> str:
    """The MAC address of one end of the link (the same each time it is made)."""
    return Veth(record.id, End(0, "", ""), End(0, "", "")).mac(side)


def key(ref: EndRef) -> tuple[str, str, str, str]:
    return ref.host, ref.kind, ref.node, ref.ifname


def node_key(node: Node) -> tuple[str, str, str]:
    return node.host, str(node.kind), node.name


def ref_node_key(ref: EndRef) -> tuple[str, str, str]:
    return ref.host, ref.kind, ref.node


def same_link(refs: Sequence[EndRef], links: Iterable[LinkRecord]) -> LinkRecord | None:
    """The recorded link with these two ends, if any; LinkError when an end belongs to another link."""
    links = list(links)
    for record in links:
        if {key(record.a), key(record.b)} == {key(refs[0]), key(refs[1])}:
            return record
    check_unused(refs, links)
    return None


def check_unused(refs: Sequence[EndRef], links: Iterable[LinkRecord]) -> None:
    for ref in refs:
        for other in links:
            if key(ref) in (key(other.a), key(other.b)):
                raise LinkError(f"{ref} is already an end of the link {other}")


def waiting(ctx: LinkContext, refs: Iterable[EndRef]) -> str | None:
    """Why a link of these node ends cannot be read now (a node is not there or does not run), or None."""
    for ref in refs:
        node = ctx.node_at(ref)
        if node is None:
            return f"{ref.where()} is not there"
        if node.state is not State.RUNNING:
            return f"{ref.node!r} is {node.state}"
    return None


async def read_each(ctx: LinkContext, records: Sequence[LinkRecord],
                    one: Callable[[LinkRecord], Coroutine[Any, Any, Read]]) -> list[Read]:
    """read() of links one at a time (all at once), each error a reason."""
    async def guarded(record: LinkRecord) -> Read:
        try:
            return await one(record)
        except VtuiError as err:
            return str(err)

    return list(await asyncio.gather(*(guarded(r) for r in records)))


async def read_by_host(ctx: LinkContext, records: Sequence[LinkRecord], nodes: Callable[[LinkRecord], list[EndRef]],
                       veth: Callable[[LinkRecord], Coroutine[Any, Any, Veth]]) -> list[Read]:
    """read() of links that are a veth on end a's host: those of one host read in one go (every
    namespace once, however many links' ends it holds)."""
    async def found(record: LinkRecord) -> Veth | str:
        why = waiting(ctx, nodes(record))
        if why is not None:
            return why
        try:
            return await veth(record)
        except VtuiError as err:
            return str(err)

    items = await asyncio.gather(*(found(r) for r in records))
    results: list[Read] = [item if isinstance(item, str) else "" for item in items]
    for host in {r.a.host for r in records}:
        indexes = [i for i, (r, item) in enumerate(zip(records, items, strict=True))
                   if isinstance(item, Veth) and r.a.host == host]
        if not indexes:
            continue
        try:
            statuses = await ctx.executor(host).status_many([v for i in indexes if isinstance(v := items[i], Veth)])
        except LinkError as err:
            for i in indexes:
                results[i] = str(err)
            continue
        for i, status in zip(indexes, statuses, strict=True):
            results[i] = status
    return results

