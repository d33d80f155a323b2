"""Links as they are now, for the lists of the CLI and the TUI: each kind reads its links (every
node's namespace asked for once, a host's veth-like links in one go), judged into a LinkView."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vtui.errors import LinkError
from vtui.links.service import LinkService
from vtui.model import Node
from vtui.net.book import SIDES, LinkRecord
from vtui.net.kinds import Read, kind_named
from vtui.net.kinds.common import node_key, ref_node_key
from vtui.net.plan import ABSENT, EndStatus


@dataclass(frozen=True)
class LinkView:
    """A link as it is now: its record, a word for its state, and each end's kernel status."""

    record: LinkRecord
    state: str  # up | down | degraded | unwired | waiting (a node does not run)
    reason: str
    ends: Mapping[str, EndStatus]


class Views(LinkService):
    def links_of(self, node: Node) -> list[str]:
        """The node's links in a few words each ("eth1 → web:eth1", "eth2 → segment lan1"), from
        the links file only (no kernel call: the detail pane asks at every refresh)."""
        try:
            links = self.book.read().links.values()
        except LinkError:
            return []
        words = []
        for record in links:
            for side in SIDES:
                if ref_node_key(mine := record.end(side)) == node_key(node):
                    try:
                        peer = kind_named(record.kind).peer(record, side)
                    except LinkError:
                        peer = str(record.end("b" if side == "a" else "a"))
                    words.append(f"{mine.ifname} → {peer}" + (" (down)" if record.down else ""))
        return sorted(words)

    async def views(self, records: Iterable[LinkRecord] | None = None) -> list[LinkView]:
        """Every link (or those given) as it is now: each kind reads its links at once, each node's
        namespace found once."""
        chosen = list(self.book.load().values() if records is None else records)
        by_kind: dict[str, list[int]] = {}
        for index, record in enumerate(chosen):
            by_kind.setdefault(record.kind, []).append(index)
        read: dict[int, Read] = {}

        async def of_kind(name: str, indexes: list[int]) -> None:
            try:
                found = await kind_named(name).read(self, [chosen[i] for i in indexes])
            except LinkError as err:
                found = [str(err)] * len(indexes)
            read.update(zip(indexes, found, strict=True))

        with self._once():
            await asyncio.gather(*(of_kind(name, indexes) for name, indexes in by_kind.items()))
        return [judged(record, read[index]) for index, record in enumerate(chosen)]


def judged(record: LinkRecord, ends: Read) -> LinkView:
    """The link's state from its ends' (or, given a sentence, why they could not be read)."""
    if isinstance(ends, str):
        return LinkView(record, "waiting", ends, {"a": ABSENT, "b": ABSENT})
    if not all(ends[s].present for s in SIDES):
        return LinkView(record, "unwired", "an end is missing: it is wired again when its node starts", ends)
    if any(not ends[s].up for s in SIDES):
        return LinkView(record, "down", "taken down by vtui", ends)
    return LinkView(record, "up", "", ends)
