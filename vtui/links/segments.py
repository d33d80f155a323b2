"""Segments in the links service: a bridge on one host (made by the segment kind, vtui.net.kinds.segment)
that nodes join as members, each by a link of that kind; recorded in the LinkBook beside the links."""

from __future__ import annotations

from collections.abc import Sequence

from vtui.errors import LinkError
from vtui.links.service import LinkService
from vtui.model import LOCAL_HOST
from vtui.net.book import LinkRecord, SegmentRecord, new_id
from vtui.net.kinds import segment as segments
from vtui.net.kinds.common import node_key, ref_node_key
from vtui.net.plan import DEFAULT_MTU, check_mtu


class Segments(LinkService):
    def _writable(self, host: str, doing: str) -> None:
        """Refused in read-only mode (a segment belongs to a host, not to a node)."""
        backends = [b for b in self.backends if b.host == host]
        if not backends:
            raise LinkError(f"no host is named {host!r} here")
        for backend in backends:
            backend.check_writable(doing)

    async def bridge_add(self, name: str, host: str = LOCAL_HOST, mtu: int = DEFAULT_MTU) -> tuple[SegmentRecord, bool]:
        """Make a segment (a bridge); the same name on the same host again: it is checked and made
        where missing."""
        check_mtu(mtu)
        if not name.strip() or "@" in name:
            raise LinkError(f"segment name {name!r}: give it some letters, and no @")
        self._writable(host, f"make the segment {name!r}")
        book = self.book.read()
        same = [s for s in book.segments.values() if (s.name, s.host) == (name, host)]
        segment = same[0] if same else SegmentRecord(new_id({**book.links, **book.segments}), host, name, mtu,
                                                      self.lab)
        made = await segments.make_bridge(self, segment)
        if not same:
            with self.book.editing() as edit:
                edit.segments[segment.id] = segment
        return segment, made

    async def bridge_attach(self, segment_spec: str, node_spec: str,
                            addresses: Sequence[str] = ()) -> tuple[LinkRecord, bool]:
        """Make a node a member: a link from its next free ethN (or the one named) to a port."""
        node, ifname = self.node_and_ifname(node_spec)
        segment = self.segment(segment_spec, node.host if "@" not in segment_spec else None)
        if segment.host == node.host:
            self._backend(node, f"attach {node.name!r} to the segment {segment.name!r}")
        with self._once():
            record = await segments.plan_member(self, segment, node, ifname, addresses)
            if record.id in self.book.load():
                return record, await self.rewire(record)
            return record, await self._recorded(segments.KIND, record)

    def member(self, segment_spec: str, node_spec: str) -> LinkRecord:
        """The link by which a node (NODE, or NODE:IF) is a member of a segment."""
        node, ifname = self.node_and_ifname(node_spec)
        segment = self.segment(segment_spec, node.host if "@" not in segment_spec else None)
        found = [r for r in segments.members(self.book.load().values(), segment)
                 if ref_node_key(r.a) == node_key(node) and ifname in (None, r.a.ifname)]
        if len(found) == 1:
            return found[0]
        if found:
            raise LinkError(f"{node.name!r} joins {segment} by {len(found)} links: name one as NODE:IF")
        raise LinkError(f"{node.name!r} is not a member of the segment {segment}")

    async def bridge_del(self, segment: SegmentRecord) -> int:
        """Remove a segment with its members' links; how many members it had."""
        self._writable(segment.host, f"remove the segment {segment.name!r}")
        members = segments.members(self.book.load().values(), segment)
        for member in members:
            await self.delete(member)
        await segments.remove_bridge(self, segment)
        with self.book.editing() as edit:
            edit.segments.pop(segment.id, None)
        return len(members)
