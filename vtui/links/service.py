"""The links service's core: nodes found through the backends as people name them, and links added,
changed, wired again and removed through their kind (vtui.net.kinds), every change recorded in the
LinkBook. It is the LinkContext the kinds are given: an end's namespace, a host's executor, a VM's
NICs, the book. No kind is named here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace

from vtui.backends.base import Backend, Capability, backend_for, host_links
from vtui.errors import LinkError, NotFound, Refused, VtuiError
from vtui.model import LOCAL_HOST, Node
from vtui.model.refs import resolve
from vtui.net.book import SIDES, EndRef, LinkBook, LinkRecord, SegmentRecord
from vtui.net.executor import Executor, LocalExecutor, ShellExecutor
from vtui.net.kinds import LinkKind, NodeEnd, kind_for, kind_named
from vtui.net.kinds.common import node_key, ref_node_key
from vtui.net.plan import DEFAULT_MTU, HERE, End, Impairment, check_mtu, next_free

FLAP_SECONDS = 1.0
NEW_NIC = "nic"  # what the wire dialog shows for a VM's end: a new NIC, no name to give
# node key -> its netns pid, within one reading or change (_once); per task tree, so a change that
# runs meanwhile elsewhere (a node restarted) never sees another's
_PIDS: ContextVar[dict[str, asyncio.Future[int]] | None] = ContextVar("vtui_link_pids", default=None)


class LinkService:
    def __init__(self, backends: Sequence[Backend], nodes: Callable[[], Sequence[Node]],
                 book: LinkBook | None = None, lab: str = "") -> None:
        self.backends = backends
        self.nodes = nodes  # the inventory as last listed
        self.book = book or LinkBook()
        self.lab = lab  # the lab the links and segments made here belong to, if any

    # --- finding things (the kinds' LinkContext) ----------------------------------------------

    def executor(self, host: str) -> Executor:
        if host == LOCAL_HOST:
            return LocalExecutor()
        link = host_links(self.backends).get(host)
        if link is None:
            raise LinkError(f"no connection to {host}: links there need its SSH connection")
        if not link.connected:
            raise LinkError(f"{host} is {link.state}{': ' + link.reason if link.reason else ''}")
        return ShellExecutor(link.run, link.stream, host)

    def node_and_ifname(self, spec: str) -> tuple[Node, str | None]:
        """NODE or NODE:IF (NODE as the CLI takes it: NAME, HOST/NAME, HOST/KIND/NAME)."""
        nodes = self.nodes()
        try:
            return resolve(spec, nodes), None
        except NotFound:
            head, colon, ifname = spec.rpartition(":")
            if not colon or not head:
                raise
        try:
            return resolve(head, nodes), ifname
        except NotFound:
            resolve(spec, nodes)  # the error names the whole spec
            raise

    def _backend(self, node: Node, doing: str | None) -> Backend:
        """The node's backend; Refused in read-only mode when `doing` (a change) is named."""
        backend = backend_for(self.backends, node)
        if doing is not None:
            backend.check_writable(doing)
        if not (backend.supports(Capability.NETNS) or backend.supports(Capability.NICS)):
            raise LinkError(f"{node.name!r}: {backend.engine} on {node.host} cannot take links")
        return backend

    def _takes_nic(self, node: Node) -> bool:
        """The node has no namespace of its own: its end of a link is a NIC (a VM)."""
        return not backend_for(self.backends, node).supports(Capability.NETNS)

    def node_at(self, ref: EndRef) -> Node | None:
        found = [n for n in self.nodes() if node_key(n) == ref_node_key(ref)]
        return found[0] if len(found) == 1 else None

    @contextlib.contextmanager
    def _once(self) -> Iterator[None]:
        """Within it, each node's namespace is asked for once (reading many links, or one change)."""
        if _PIDS.get() is not None:
            yield
            return
        token = _PIDS.set({})
        try:
            yield
        finally:
            _PIDS.reset(token)

    async def netns_pid(self, node: Node) -> int:
        backend, pids = backend_for(self.backends, node), _PIDS.get()
        if pids is None:
            return await backend.netns_pid(node)
        if node.key not in pids:
            pids[node.key] = asyncio.ensure_future(backend.netns_pid(node))
        return await pids[node.key]

    async def end(self, ref: EndRef, doing: str | None) -> End:
        node = self.node_at(ref)
        if node is None:
            raise LinkError(f"{ref.where()} is not there (removed, renamed, or its host is not reached)")
        self._backend(node, doing)
        if self._takes_nic(node):  # its end is the tap named in the record, in the host's namespace
            return End(HERE, ref.ifname, ref.where())
        return End(await self.netns_pid(node), ref.ifname, ref.where(), ref.addresses)

    async def end_or_gone(self, ref: EndRef) -> End:
        try:
            return await self.end(ref, f"remove the link of {ref.node!r}")
        except Refused as err:
            if str(err).startswith("read-only"):
                raise
        except LinkError:
            pass
        return End(0, ref.ifname, ref.where())

    def check_writable(self, ref: EndRef, doing: str) -> None:
        if (node := self.node_at(ref)) is not None:
            self._backend(node, doing)

    async def free_ifname(self, node: Node, pid: int, also: Sequence[str] = ()) -> str:
        names = await self.executor(node.host).interfaces(End(pid, "", f"{node.kind} {node.name!r} on {node.host}"))
        names |= {e.ifname for r in self.book.load().values() for e in (r.a, r.b)
                  if ref_node_key(e) == node_key(node)}
        return next_free(names | set(also))

    async def attach_nic(self, ref: EndRef, mac: str, mtu: int) -> None:
        if (node := self.node_at(ref)) is not None:
            await backend_for(self.backends, node).attach_nic(node, ref.ifname, mac, mtu)

    async def detach_nic(self, ref: EndRef, mac: str) -> None:
        if (node := self.node_at(ref)) is not None:
            await backend_for(self.backends, node).detach_nic(node, mac)

    async def nic_link(self, ref: EndRef, mac: str, up: bool) -> None:
        if (node := self.node_at(ref)) is not None:
            await backend_for(self.backends, node).nic_link(node, mac, up)

    def segment(self, spec: str, host: str | None = None) -> SegmentRecord:
        """A segment by its name (on `host`, or on any host if it is the only one of that name) or id."""
        segments = self.book.read().segments.values()
        found = [s for s in segments if spec in (s.id, s.name, f"{s.name}@{s.host}") and host in (None, s.host)]
        if len(found) == 1:
            return found[0]
        if found:
            raise LinkError(f"{spec!r} names segments on {', '.join(s.host for s in found)}: write NAME@HOST")
        raise LinkError(f"no segment is {spec!r}" + (f" on {host}" if host else "") + " (vtui bridge ls)")

    async def underlay(self, host_a: str, host_b: str) -> tuple[str, str]:
        """The addresses by which two hosts reach each other (host_a's, host_b's); LinkError if none."""
        ex_a, ex_b = self.executor(host_a), self.executor(host_b)
        candidates = await ex_b.addresses()
        for remote in candidates:
            local = await ex_a.route_source(remote)
            if local is not None and await ex_b.route_source(local) is not None:
                return local, remote
        listed = ", ".join(candidates) or "none"
        raise LinkError(f"no route between {host_a} and {host_b}: {host_a} reaches none of {host_b}'s addresses "
                        f"({listed}) by a route {host_b} can answer on; a VXLAN link needs the hosts to reach "
                        "each other")

    def find(self, spec: str) -> tuple[LinkRecord, str | None]:
        """A link by its id (or a unique start of it), or by one end as NODE:IF; with the side named."""
        links = self.book.load()
        if spec in links:
            return links[spec], None
        by_end = [(r, side) for r in links.values() for side in SIDES
                  if spec in (f"{r.end(side).node}:{r.end(side).ifname}", str(r.end(side)),
                              f"{r.end(side).node_spec}:{r.end(side).ifname}")]
        if len(by_end) == 1:
            return by_end[0]
        by_id = [r for r in links.values() if r.id.startswith(spec.lower())] if len(spec) >= 3 else []
        if len(by_id) == 1:
            return by_id[0], None
        if by_end or by_id:
            raise LinkError(f"{spec!r} names more than one link: give the link's id (vtui link ls)")
        raise LinkError(f"no link is {spec!r}: name one by its id or by one end as NODE:IF (vtui link ls)")

    # --- changes ----------------------------------------------------------------------------

    def _asked(self, node: Node, ifname: str | None, addresses: Sequence[str], doing: str) -> NodeEnd:
        self._backend(node, doing)
        return NodeEnd(node, ifname, tuple(addresses), self._takes_nic(node))

    async def add(self, a_spec: str, b_spec: str, *, mtu: int = DEFAULT_MTU,
                  addresses: Mapping[str, Sequence[str]] | None = None,
                  kind: str | None = None) -> tuple[LinkRecord, bool]:
        """Wire a link between two nodes, of the kind their ends take; (the link, whether it was made
        now). The same two ends again: the link is checked and wired where it is missing."""
        check_mtu(mtu)
        (node_a, if_a), (node_b, if_b) = self.node_and_ifname(a_spec), self.node_and_ifname(b_spec)
        doing = f"wire a link between {node_a.name!r} and {node_b.name!r}"
        addresses = addresses or {}
        a = self._asked(node_a, if_a, addresses.get("a", ()), doing)
        b = self._asked(node_b, if_b, addresses.get("b", ()), doing)
        chosen = kind_for(a, b, kind)
        with self._once():
            record = await chosen.plan(self, a, b, mtu)
            if record.id in self.book.load():
                return record, await self.rewire(record)
            return record, await self._recorded(chosen, record)

    async def _recorded(self, kind: LinkKind, record: LinkRecord) -> bool:
        """Record the link, then make it: a vtui killed half-way leaves a record (listed, repaired or
        removed by the next vtui), never kernel objects nobody knows of. A failure undoes both."""
        with self.book.editing() as book:
            book.links[record.id] = record
        try:
            return await kind.make(self, record)
        except BaseException:
            await asyncio.shield(self._undo(kind, record))
            raise

    async def _undo(self, kind: LinkKind, record: LinkRecord) -> None:
        with contextlib.suppress(VtuiError):
            await kind.remove(self, record)
        with self.book.editing() as book:
            book.links.pop(record.id, None)

    async def propose(self, a_spec: str, b_spec: str) -> tuple[str, str]:
        """The interface names `add` would give the two nodes' ends: the next free ethN of a
        container, NEW_NIC for a VM (its new NIC is named by the guest)."""
        (node_a, _), (node_b, _) = self.node_and_ifname(a_spec), self.node_and_ifname(b_spec)
        doing = f"wire a link between {node_a.name!r} and {node_b.name!r}"
        names: list[str] = []
        for node in (node_a, node_b):
            self._backend(node, doing)
            if self._takes_nic(node):
                names.append(NEW_NIC)
                continue
            also = names if node == node_a and names else []
            names.append(await self.free_ifname(node, await self.netns_pid(node), also))
        return names[0], names[1]

    async def delete(self, record: LinkRecord) -> bool:
        """Remove the link's interfaces (where its nodes run) and its record; whether any was there."""
        with self._once():
            removed = await kind_named(record.kind).remove(self, record)
        with self.book.editing() as book:
            book.links.pop(record.id, None)
        return removed

    async def delete_many(self, records: Sequence[LinkRecord]) -> list[bool | LinkError]:
        """delete() for many links: each kind removes its links in as few calls as it can (veth links:
        one kernel call per namespace; one command on a remote host). Each link's result: whether its
        interfaces were there, or why it could not be removed (then its record stays)."""
        by_kind: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            by_kind.setdefault(record.kind, []).append(index)
        done: dict[int, bool | LinkError] = {}
        with self._once():
            for name, indexes in by_kind.items():
                try:
                    results = await kind_named(name).remove_many(self, [records[i] for i in indexes])
                except LinkError as err:
                    results = [err] * len(indexes)
                done.update(zip(indexes, results, strict=True))
        with self.book.editing() as book:
            for index, record in enumerate(records):
                if not isinstance(done[index], LinkError):
                    book.links.pop(record.id, None)
        return [done[index] for index in range(len(records))]

    async def set_admin(self, record: LinkRecord, sides: Sequence[str], up: bool) -> LinkRecord:
        with self._once():
            await kind_named(record.kind).set_admin(self, record, sides, up)
        return self._save(record.id, lambda r: _with_each(r, sides, lambda r2, s: r2.with_admin(s, up)))

    async def flap(self, record: LinkRecord, sides: Sequence[str], seconds: float = FLAP_SECONDS) -> LinkRecord:
        """Down for `seconds`, then up: what a peer sees when a cable is pulled and put back."""
        await self.set_admin(record, sides, False)
        await asyncio.sleep(seconds)
        return await self.set_admin(record, sides, True)

    async def impair(self, record: LinkRecord, sides: Sequence[str], impairment: Impairment) -> LinkRecord:
        kind = kind_named(record.kind)
        with self._once():
            for side in sides:
                try:
                    await kind.impair(self, record, side, impairment)
                except LinkError:  # every end keeps what it had
                    for each in sides:
                        await kind.impair(self, record, each, record.impair.get(each, Impairment()))
                    raise
        return self._save(record.id, lambda r: _with_each(r, sides, lambda r2, s: r2.with_impairment(s, impairment)))

    def _save(self, link_id: str, change: Callable[[LinkRecord], LinkRecord]) -> LinkRecord:
        with self.book.editing() as book:
            if link_id not in book.links:
                raise LinkError(f"the link {link_id} was removed meanwhile")
            book.links[link_id] = changed = change(book.links[link_id])
        return changed

    async def rewire(self, record: LinkRecord) -> bool:
        """Make what is missing of the link and, when anything had to be made, set its ends' state and
        impairments again; whether anything had to be made."""
        kind = kind_named(record.kind)
        with self._once():
            made = await kind.rewire(self, record)
            if made:
                if record.down:
                    await kind.set_admin(self, record, sorted(record.down), False)
                for side, impairment in sorted(record.impair.items()):
                    await kind.impair(self, record, side, impairment)
        return made


def _with_each(record: LinkRecord, sides: Sequence[str],
               change: Callable[[LinkRecord, str], LinkRecord]) -> LinkRecord:
    for side in sides:
        record = change(record, side)
    return replace(record)

