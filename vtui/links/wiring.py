"""Links between nodes named as people name them: the nodes are found through the backends, the
kernel objects made by vtui.net (netlink here, a script over SSH on a remote host), and every link
is recorded in the LinkBook so it can be listed, changed, wired again when a node comes back, and
removed. No UI here: the CLI and the TUI both drive a Wiring.

Kinds of link: "veth" (two containers of one host), "vm" (a VM's NIC on a tap, stitched to a
container's veth or to another VM's tap), "segment" (a member of a bridge), "vxlan" (nodes on two
hosts: an end on each host, over the hosts' own addresses).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from vtui.backends import Backend, Capability, backend_for, host_links
from vtui.errors import LinkError, NotFound, Refused, VtuiError
from vtui.model import LOCAL_HOST, Kind, Node, State
from vtui.model.refs import resolve
from vtui.net.book import SIDES, EndRef, LinkBook, LinkRecord, SegmentRecord, new_id
from vtui.net.bridge import Bridge
from vtui.net.executor import Executor, LocalExecutor, ShellExecutor
from vtui.net.plan import ABSENT, DEFAULT_MTU, HERE, End, EndStatus, Impairment, Veth, check_end, check_mtu, next_free
from vtui.net.vmlink import VmLink
from vtui.net.vxlan import OVERHEAD, VxlanEnd

log = logging.getLogger(__name__)

FLAP_SECONDS = 1.0
VXLAN_MTU = DEFAULT_MTU - OVERHEAD  # a VXLAN end's MTU unless one is given: the underlay's less 50
NEW_NIC = "nic"  # what the wire dialog shows for a VM's end: a new NIC, no name to give
SEGMENT = "segment"  # the kind of a link whose end b is a port of a segment, and of that end


@dataclass(frozen=True)
class LinkView:
    """A link as it is now: its record, a word for its state, and each end's kernel status."""

    record: LinkRecord
    state: str  # up | down | degraded | unwired | waiting (a node does not run)
    reason: str
    ends: Mapping[str, EndStatus]


class Wiring:
    def __init__(self, backends: Sequence[Backend], nodes: Callable[[], Sequence[Node]],
                 book: LinkBook | None = None, lab: str = "") -> None:
        self.backends = backends
        self.nodes = nodes  # the inventory as last listed
        self.book = book or LinkBook()
        self.lab = lab  # the lab the links and segments made here belong to, if any
        self._running: dict[str, bool] = {}  # node key -> running, to see nodes come back
        self._rewiring: set[asyncio.Task[None]] = set()
        self.on_rewired: Callable[[str], None] = lambda message: None
        self.captures: dict[str, tuple[asyncio.Task[None], Path]] = {}  # by link id: the TUI's pcap files
        self._pids: dict[str, asyncio.Future[int]] | None = None  # node key -> its netns pid, while views() reads

    # --- finding things ---------------------------------------------------------------------

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

    def _is_vm(self, node: Node) -> bool:
        return not backend_for(self.backends, node).supports(Capability.NETNS)

    def _node(self, ref: EndRef) -> Node | None:
        found = [n for n in self.nodes() if (n.host, str(n.kind), n.name) == (ref.host, ref.kind, ref.node)]
        return found[0] if len(found) == 1 else None

    async def _end(self, ref: EndRef, doing: str | None) -> End:
        if ref.kind == SEGMENT:
            return self._bridge(self.segment(ref.node, ref.host)).port(_port_number(ref))
        node = self._node(ref)
        if node is None:
            raise LinkError(f"{ref.where()} is not there (removed, renamed, or its host is not reached)")
        backend = self._backend(node, doing)
        if self._is_vm(node):  # its end is the tap named in the record, in the host's namespace
            return End(HERE, ref.ifname, ref.where())
        if self._pids is None:
            pid = await backend.netns_pid(node)
        else:  # reading many links: each node's namespace asked for once
            if node.key not in self._pids:
                self._pids[node.key] = asyncio.ensure_future(backend.netns_pid(node))
            pid = await self._pids[node.key]
        return End(pid, ref.ifname, ref.where(), ref.addresses)

    async def veth(self, record: LinkRecord, doing: str | None) -> Veth:
        a, b = await asyncio.gather(self._end(record.a, doing), self._end(record.b, doing))
        return Veth(record.id, a, b, record.mtu)

    async def _vm_link(self, record: LinkRecord, doing: str | None) -> VmLink:
        veth = await self.veth(record, doing)
        return VmLink(record.id, veth.a, veth.b, record.mtu, a_is_vm=record.a.kind == str(Kind.VM))

    async def _nics(self, record: LinkRecord, change: str, up: bool = True) -> None:
        """Attach, detach or set the link state of the link's NICs in its VMs (those that are there)."""
        for side in SIDES:
            ref = record.end(side)
            node = self._node(ref) if ref.kind == str(Kind.VM) else None
            if node is None:
                continue
            backend = backend_for(self.backends, node)
            mac = Veth(record.id, End(0, "", ""), End(0, "", "")).mac(side)
            if change == "attach":
                await backend.attach_nic(node, ref.ifname, mac, record.mtu)
            elif change == "detach":
                await backend.detach_nic(node, mac)
            else:
                await backend.nic_link(node, mac, up)

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

    async def add(self, a_spec: str, b_spec: str, *, mtu: int = DEFAULT_MTU,
                  addresses: Mapping[str, Sequence[str]] | None = None,
                  kind: str | None = None) -> tuple[LinkRecord, bool]:
        """Wire a veth link between two running containers; (the link, whether it was made now).
        The same two ends again: the link is checked and wired where it is missing."""
        check_mtu(mtu)
        (node_a, if_a), (node_b, if_b) = self.node_and_ifname(a_spec), self.node_and_ifname(b_spec)
        doing = f"wire a link between {node_a.name!r} and {node_b.name!r}"
        backend_a, backend_b = self._backend(node_a, doing), self._backend(node_b, doing)
        takes = "vxlan" if node_a.host != node_b.host else "vm" if self._is_vm(node_a) or self._is_vm(node_b) \
            else "veth"
        if kind not in (None, takes):
            why = {"vxlan": f"they are on two hosts ({node_a.host}, {node_b.host})", "vm": "a VM is an end",
                   "veth": "both are containers of one host"}[takes]
            raise LinkError(f"--kind {kind}: {node_a.name!r} and {node_b.name!r} take a {takes} link: {why}")
        if node_a.host != node_b.host:
            return await self._add_vxlan(node_a, if_a, node_b, if_b, mtu, addresses or {})
        if self._is_vm(node_a) or self._is_vm(node_b):
            return await self._add_vm_link(node_a, if_a, node_b, if_b, mtu, addresses or {})
        pid_a, pid_b = await asyncio.gather(backend_a.netns_pid(node_a), backend_b.netns_pid(node_b))
        links = self.book.load()
        ex = self.executor(node_a.host)
        if_a = if_a or await self._free(ex, node_a, pid_a, links.values(), ())
        if_b = if_b or await self._free(ex, node_b, pid_b, links.values(), (if_a,) if node_b == node_a else ())
        addresses = addresses or {}
        refs = [EndRef(n.host, str(n.kind), n.name, name, tuple(addresses.get(side, ())))
                for n, name, side in ((node_a, if_a, "a"), (node_b, if_b, "b"))]
        ends = [End(pid, ref.ifname, ref.where(), ref.addresses) for pid, ref in zip((pid_a, pid_b), refs, strict=True)]
        for end in ends:
            check_end(end)
        if same := _same_link(refs, links.values()):
            return same, await self.rewire(same)
        record = LinkRecord(new_id(links), refs[0], refs[1], mtu, lab=self.lab)
        veth = Veth(record.id, ends[0], ends[1], mtu)
        return record, await self._recorded(record, lambda: ex.wire(veth), lambda: ex.unwire(veth))

    async def _add_vxlan(self, node_a: Node, if_a: str | None, node_b: Node, if_b: str | None, mtu: int,
                         addresses: Mapping[str, Sequence[str]]) -> tuple[LinkRecord, bool]:
        """A link between nodes on two hosts: a VXLAN end on each, over the hosts' own addresses."""
        for node in (node_a, node_b):
            if self._is_vm(node):
                raise LinkError(f"{node.name!r} is a VM on {node.host}: links from VMs to other hosts are not "
                                "built yet (a VM links to nodes on its own host)")
        links = self.book.load()
        refs: list[EndRef] = []
        ends: list[End] = []
        for node, ifname, side in ((node_a, if_a, "a"), (node_b, if_b, "b")):
            pid = await backend_for(self.backends, node).netns_pid(node)
            ifname = ifname or await self._free(self.executor(node.host), node, pid, links.values(), ())
            refs.append(EndRef(node.host, str(node.kind), node.name, ifname, tuple(addresses.get(side, ()))))
            ends.append(End(pid, ifname, refs[-1].where(), refs[-1].addresses))
            check_end(ends[-1])
        if same := _same_link(refs, links.values()):
            return same, await self.rewire(same)
        record = LinkRecord(new_id(links), refs[0], refs[1], VXLAN_MTU if mtu == DEFAULT_MTU else mtu, "vxlan",
                            lab=self.lab)
        tunnel = await self._vxlan_ends(record, ends[0], ends[1])
        ex_a, ex_b = self.executor(node_a.host), self.executor(node_b.host)

        async def wire() -> bool:
            made = await ex_a.wire_vxlan(tunnel[0])
            return await ex_b.wire_vxlan(tunnel[1]) or made

        async def unwire() -> bool:
            return any([await ex_b.unwire_vxlan(tunnel[1]), await ex_a.unwire_vxlan(tunnel[0])])

        return record, await self._recorded(record, wire, unwire)

    async def _recorded(self, record: LinkRecord, wire: Callable[[], Awaitable[bool]],
                        unwire: Callable[[], Awaitable[bool]]) -> bool:
        """Record the link, then wire it: a vtui killed half-way leaves a record (listed, repaired or
        removed by the next vtui), never kernel objects nobody knows of. A failure undoes both."""
        with self.book.editing() as book:
            book.links[record.id] = record
        try:
            return await wire()
        except BaseException:
            await asyncio.shield(self._undo(record, unwire))
            raise

    async def _undo(self, record: LinkRecord, unwire: Callable[[], Awaitable[bool]]) -> None:
        with contextlib.suppress(VtuiError):
            await unwire()
        with self.book.editing() as book:
            book.links.pop(record.id, None)

    async def _vxlan_ends(self, record: LinkRecord, a: End, b: End) -> tuple[VxlanEnd, VxlanEnd]:
        """Both ends of a VXLAN link, with the addresses by which each host reaches the other."""
        local, remote = await self.underlay(record.a.host, record.b.host)
        return (VxlanEnd(record.id, "a", a, local, remote, record.mtu),
                VxlanEnd(record.id, "b", b, remote, local, record.mtu))

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

    async def _add_vm_link(self, node_a: Node, if_a: str | None, node_b: Node, if_b: str | None, mtu: int,
                           addresses: Mapping[str, Sequence[str]]) -> tuple[LinkRecord, bool]:
        """A link with a VM at one end or both: the VM's end is a NIC on a tap vtui makes."""
        if not self._is_vm(node_b):  # the container's end is always a
            node_a, if_a, node_b, if_b = node_b, if_b, node_a, if_a
            addresses = {"a": addresses.get("b", ()), "b": addresses.get("a", ())}
        for node, ifname in ((node_a, if_a), (node_b, if_b)):
            if self._is_vm(node) and ifname:
                raise LinkError(f"{node.name!r} is a VM: its end is a new NIC, named inside the guest; "
                                "give no interface for it")
            if self._is_vm(node) and addresses.get("a" if node is node_a else "b"):
                raise LinkError(f"{node.name!r} is a VM: set its NIC's address inside the guest")
        links = self.book.load()
        for record in links.values():
            if record.kind == "vm" and {_node_key(node_a), _node_key(node_b)} == {
                    (record.a.host, record.a.kind, record.a.node), (record.b.host, record.b.kind, record.b.node)} \
                    and (self._is_vm(node_a) or if_a in (None, record.a.ifname)):
                return record, await self.rewire(record)
        link_id = new_id(links)
        ex = self.executor(node_a.host)
        if self._is_vm(node_a):
            if_a = f"vt{link_id}a"
        elif if_a is None:
            pid = await backend_for(self.backends, node_a).netns_pid(node_a)
            if_a = await self._free(ex, node_a, pid, links.values(), ())
        refs = [EndRef(node_a.host, str(node_a.kind), node_a.name, if_a, tuple(addresses.get("a", ()))),
                EndRef(node_b.host, str(node_b.kind), node_b.name, f"vt{link_id}b")]
        _check_unused(refs, links.values())
        record = LinkRecord(link_id, refs[0], refs[1], mtu, "vm", lab=self.lab)
        link = await self._vm_link(record, f"wire a link to {node_b.name!r}")

        async def wire() -> bool:
            made = await ex.wire_vm_link(link)
            await self._nics(record, "attach")
            return made

        async def unwire() -> bool:
            with contextlib.suppress(VtuiError):
                await self._nics(record, "detach")
            return await ex.unwire_vm_link(link)

        return record, await self._recorded(record, wire, unwire)

    async def propose(self, a_spec: str, b_spec: str) -> tuple[str, str]:
        """The interface names `add` would give the two nodes' ends: the next free ethN of a
        container, NEW_NIC for a VM (its new NIC is named by the guest)."""
        (node_a, _), (node_b, _) = self.node_and_ifname(a_spec), self.node_and_ifname(b_spec)
        doing = f"wire a link between {node_a.name!r} and {node_b.name!r}"
        links = self.book.load().values()
        names: list[str] = []
        for node in (node_a, node_b):
            backend = self._backend(node, doing)
            if self._is_vm(node):
                names.append(NEW_NIC)
                continue
            also = names if node == node_a and names else []
            pid = await backend.netns_pid(node)
            names.append(await self._free(self.executor(node.host), node, pid, links, also))
        return names[0], names[1]

    async def _free(self, ex: Executor, node: Node, pid: int, links: Iterable[LinkRecord],
                    also: Sequence[str]) -> str:
        """The next ethN of the node that is neither in its namespace nor recorded for it."""
        names = await ex.interfaces(End(pid, "", f"{node.kind} {node.name!r} on {node.host}"))
        names |= {e.ifname for r in links for e in (r.a, r.b) if (e.host, e.kind, e.node) == _node_key(node)}
        return next_free(names | set(also))

    async def delete(self, record: LinkRecord) -> bool:
        """Remove the link's interfaces (where its nodes run) and its record; whether any was there."""
        ex = self.executor(record.a.host)
        if record.kind == "vm":
            for ref in (record.a, record.b):
                if (node := self._node(ref)) is not None:
                    self._backend(node, f"remove the link of {ref.node!r}")  # read-only: refused here
            await self._nics(record, "detach")
            a_is_vm = record.a.kind == str(Kind.VM)
            a = End(HERE, record.a.ifname, record.a.where()) if a_is_vm else await self._end_or_gone(record.a)
            removed = await ex.unwire_vm_link(VmLink(record.id, a, End(HERE, record.b.ifname, record.b.where()),
                                                     record.mtu, a_is_vm))
            with self.book.editing() as book:
                book.links.pop(record.id, None)
            return removed
        ends = [await self._end_or_gone(ref) for ref in (record.a, record.b)]
        if record.kind == "vxlan":  # an end on each host; no underlay address is needed to remove one
            removed = False
            for side, end in zip(SIDES, ends, strict=True):
                vx = VxlanEnd(record.id, side, end, "0.0.0.0", "0.0.0.0", record.mtu)
                removed = await self.executor(record.end(side).host).unwire_vxlan(vx) or removed
        else:
            removed = await ex.unwire(Veth(record.id, ends[0], ends[1], record.mtu))
        with self.book.editing() as book:
            book.links.pop(record.id, None)
        return removed

    async def delete_many(self, records: Sequence[LinkRecord]) -> list[bool | LinkError]:
        """delete() for many links: the veth links of each host removed in one go (one kernel call
        per namespace; one command on a remote host), the rest one by one. Each link's result: whether
        its interfaces were there, or why it could not be removed (then its record stays)."""
        grouped: dict[str, list[tuple[LinkRecord, Veth]]] = {}
        done: dict[str, bool | LinkError] = {}
        for record in records:
            if record.kind != "veth":
                try:
                    done[record.id] = await self.delete(record)
                except LinkError as err:
                    done[record.id] = err
                continue
            ends = [await self._end_or_gone(ref) for ref in (record.a, record.b)]
            grouped.setdefault(record.a.host, []).append((record, Veth(record.id, ends[0], ends[1], record.mtu)))
        for host, pairs in grouped.items():
            results = await self.executor(host).unwire_many([veth for _, veth in pairs])
            done.update((record.id, result) for (record, _), result in zip(pairs, results, strict=True))
        with self.book.editing() as book:
            for record in records:
                if not isinstance(done[record.id], LinkError):
                    book.links.pop(record.id, None)
        return [done[record.id] for record in records]

    async def _end_or_gone(self, ref: EndRef) -> End:
        """The end, or one whose namespace does not exist when its node does not run (nothing to remove)."""
        try:
            return await self._end(ref, f"remove the link of {ref.node!r}")
        except Refused as err:
            if str(err).startswith("read-only"):
                raise
        except LinkError:
            pass
        return End(0, ref.ifname, ref.where())

    async def set_admin(self, record: LinkRecord, sides: Sequence[str], up: bool) -> LinkRecord:
        veth, ex = await self.veth(record, f"set the link {record.id} {'up' if up else 'down'}"), \
            self.executor(record.a.host)
        if record.kind == "vm":  # a cable pulled at either end: each VM's NIC and the container see no carrier
            await self._nics(record, "link", up)
            if record.a.kind != str(Kind.VM):
                link = await self._vm_link(record, None)
                await ex.set_admin(Veth(record.id, link.a, link.host_end), "a" if "a" in sides else "b", up)
            return self._save(record.id, lambda r: _with_each(r, sides, lambda r2, s: r2.with_admin(s, up)))
        for side in sides:
            await self._ex(record, side).set_admin(_one(record, veth, side), side, up)
        return self._save(record.id, lambda r: _with_each(r, sides, lambda r2, s: r2.with_admin(s, up)))

    async def flap(self, record: LinkRecord, sides: Sequence[str], seconds: float = FLAP_SECONDS) -> LinkRecord:
        """Down for `seconds`, then up: what a peer sees when a cable is pulled and put back."""
        await self.set_admin(record, sides, False)
        await asyncio.sleep(seconds)
        return await self.set_admin(record, sides, True)

    async def impair(self, record: LinkRecord, sides: Sequence[str], impairment: Impairment) -> LinkRecord:
        veth, ex = await self.veth(record, f"impair the link {record.id}"), self.executor(record.a.host)
        link = await self._vm_link(record, None) if record.kind == "vm" else None

        async def hold(side: str, what: Impairment) -> None:
            if link is None:
                await self._ex(record, side).impair(_one(record, veth, side), side, what)
            else:  # what a side's node sends leaves the host by another device's egress
                await ex.impair(*_sender(link, side), what)

        for side in sides:
            try:
                await hold(side, impairment)
            except LinkError:  # every end keeps what it had
                for each in sides:
                    await hold(each, record.impair.get(each, Impairment()))
                raise
        return self._save(record.id, lambda r: _with_each(r, sides, lambda r2, s: r2.with_impairment(s, impairment)))

    def _save(self, link_id: str, change: Callable[[LinkRecord], LinkRecord]) -> LinkRecord:
        with self.book.editing() as book:
            if link_id not in book.links:
                raise LinkError(f"the link {link_id} was removed meanwhile")
            book.links[link_id] = changed = change(book.links[link_id])
        return changed

    async def rewire(self, record: LinkRecord) -> bool:
        """Make what is missing of the link and set its ends' state and impairments again; whether
        anything had to be made."""
        veth, ex = await self.veth(record, f"wire the link {record.id}"), self.executor(record.a.host)
        if record.kind == "vm":
            made = await ex.wire_vm_link(await self._vm_link(record, None))
            await self._nics(record, "attach")
            if not record.down:  # both ends run again: carrier back where park() took it
                await self._carrier(record, None, True)
            if made:
                if record.down:
                    await self.set_admin(record, sorted(record.down), False)
                for side, impairment in record.impair.items():
                    await self.impair(record, [side], impairment)
            return made
        if record.b.kind == SEGMENT:
            bridge = self._bridge(self.segment(record.b.node, record.b.host))
            made = await ex.wire_bridge(bridge)
            made = await ex.wire_port(veth, bridge) or made
        elif record.kind == "vxlan":
            made = False
            for side, vx in zip(SIDES, await self._vxlan_ends(record, veth.a, veth.b), strict=True):
                made = await self._ex(record, side).wire_vxlan(vx) or made
            if not record.down:
                await self._carrier(record, None, True)
        else:
            made = await ex.wire(veth)
        if made:
            for side in SIDES:
                if side in record.down:
                    await self._ex(record, side).set_admin(_one(record, veth, side), side, False)
                if side in record.impair:
                    await self._ex(record, side).impair(_one(record, veth, side), side, record.impair[side])
        return made

    def _ex(self, record: LinkRecord, side: str) -> Executor:
        """The executor of the host of one end (the links of two hosts have one on each)."""
        return self.executor(record.end(side).host)

    # --- segments ---------------------------------------------------------------------------

    def segment(self, spec: str, host: str | None = None) -> SegmentRecord:
        """A segment by its name (on `host`, or on any host if it is the only one of that name) or id."""
        segments = self.book.read().segments.values()
        found = [s for s in segments if spec in (s.id, s.name, f"{s.name}@{s.host}") and host in (None, s.host)]
        if len(found) == 1:
            return found[0]
        if found:
            raise LinkError(f"{spec!r} names segments on {', '.join(s.host for s in found)}: write NAME@HOST")
        raise LinkError(f"no segment is {spec!r}" + (f" on {host}" if host else "") + " (vtui bridge ls)")

    @staticmethod
    def _bridge(segment: SegmentRecord) -> Bridge:
        return Bridge(segment.id, segment.mtu, segment.host)

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
        made = await self.executor(host).wire_bridge(self._bridge(segment))
        if not same:
            with self.book.editing() as edit:
                edit.segments[segment.id] = segment
        return segment, made

    async def bridge_attach(self, segment_spec: str, node_spec: str,
                            addresses: Sequence[str] = ()) -> tuple[LinkRecord, bool]:
        """Make a node a member: a link from its next free ethN (or the one named) to a port."""
        node, ifname = self.node_and_ifname(node_spec)
        segment = self.segment(segment_spec, node.host if "@" not in segment_spec else None)
        if segment.host != node.host:
            raise LinkError(f"{node.name!r} is on {node.host} and the segment {segment} on {segment.host}: "
                            "links between hosts (VXLAN) are not built yet")
        doing = f"attach {node.name!r} to the segment {segment.name!r}"
        pid = await self._backend(node, doing).netns_pid(node)
        book = self.book.read()
        ex = self.executor(node.host)
        ifname = ifname or await self._free(ex, node, pid, book.links.values(), ())
        members = [r for r in book.links.values() if r.b.kind == SEGMENT and r.b.node == segment.name
                   and r.b.host == segment.host]
        ref = EndRef(node.host, str(node.kind), node.name, ifname, tuple(addresses))
        for member in members:
            if _key(member.a) == _key(ref):
                return member, await self.rewire(member)
        _check_unused([ref], book.links.values())
        taken = {_port_number(m.b) for m in members}
        port = next(n for n in range(len(taken) + 1) if n not in taken)
        record = LinkRecord(new_id({**book.links, **book.segments}), ref,
                            EndRef(segment.host, SEGMENT, segment.name, f"port{port}"), segment.mtu, SEGMENT,
                            lab=self.lab)
        end = End(pid, ref.ifname, ref.where(), ref.addresses)
        check_end(end)
        bridge = self._bridge(segment)
        veth = Veth(record.id, end, bridge.port(port), segment.mtu)
        return record, await self._recorded(record, lambda: ex.wire_port(veth, bridge), lambda: ex.unwire(veth))

    def member(self, segment_spec: str, node_spec: str) -> LinkRecord:
        """The link by which a node (NODE, or NODE:IF) is a member of a segment."""
        node, ifname = self.node_and_ifname(node_spec)
        segment = self.segment(segment_spec, node.host if "@" not in segment_spec else None)
        found = [r for r in self.book.load().values() if r.b.kind == SEGMENT
                 and (r.b.node, r.b.host) == (segment.name, segment.host)
                 and (r.a.host, r.a.kind, r.a.node) == _node_key(node) and ifname in (None, r.a.ifname)]
        if len(found) == 1:
            return found[0]
        if found:
            raise LinkError(f"{node.name!r} joins {segment} by {len(found)} links: name one as NODE:IF")
        raise LinkError(f"{node.name!r} is not a member of the segment {segment}")

    async def bridge_del(self, segment: SegmentRecord) -> int:
        """Remove a segment with its members' links; how many members it had."""
        self._writable(segment.host, f"remove the segment {segment.name!r}")
        members = [r for r in self.book.load().values() if r.b.kind == SEGMENT
                   and (r.b.node, r.b.host) == (segment.name, segment.host)]
        for member in members:
            await self.delete(member)
        await self.executor(segment.host).unwire_bridge(self._bridge(segment))
        with self.book.editing() as edit:
            edit.segments.pop(segment.id, None)
        return len(members)

    # --- reading ----------------------------------------------------------------------------

    def links_of(self, node: Node) -> list[str]:
        """The node's links in a few words each ("eth1 → web:eth1", "eth2 → segment lan1"), from
        the links file only (no kernel call: the detail pane asks at every refresh)."""
        try:
            links = self.book.read().links.values()
        except LinkError:
            return []
        words = []
        for record in links:
            for mine, theirs in ((record.a, record.b), (record.b, record.a)):
                if (mine.host, mine.kind, mine.node) == _node_key(node):
                    peer = f"segment {theirs.node}" if theirs.kind == SEGMENT else f"{theirs}"
                    words.append(f"{mine.ifname} → {peer}" + (" (down)" if record.down else ""))
        return sorted(words)

    async def views(self, records: Iterable[LinkRecord] | None = None) -> list[LinkView]:
        """Every link (or those given) as it is now: each node's namespace found once, and the veth
        and segment links of a host read in one go (every namespace once)."""
        chosen = list(self.book.load().values() if records is None else records)
        self._pids = {}
        try:
            found = await asyncio.gather(*(self._found(r) for r in chosen))
        finally:
            self._pids = None
        batched = {host: [i for i, (r, f) in enumerate(zip(chosen, found, strict=True))
                          if isinstance(f, Veth) and r.kind in ("veth", SEGMENT) and r.a.host == host]
                   for host in {r.a.host for r in chosen}}
        ends: dict[int, dict[str, EndStatus] | str] = {}
        for host, indexes in batched.items():
            if not indexes:
                continue
            try:
                statuses: list[dict[str, EndStatus]] | str = await self.executor(host).status_many(
                    [cast(Veth, found[i]) for i in indexes])
            except LinkError as err:
                statuses = str(err)
            for n, i in enumerate(indexes):
                ends[i] = statuses if isinstance(statuses, str) else statuses[n]
        views = []
        for i, (record, item) in enumerate(zip(chosen, found, strict=True)):
            if isinstance(item, LinkView):
                views.append(item)
            else:
                views.append(_judged(record, ends[i] if i in ends else await self._status(record, item)))
        return views

    async def _found(self, record: LinkRecord) -> LinkView | Veth:
        """The link's ends, or its view when one cannot be read (a node missing or not running)."""
        for ref in (record.a, record.b):
            if ref.kind == SEGMENT:
                continue
            node = self._node(ref)
            if node is None:
                return LinkView(record, "waiting", f"{ref.where()} is not there", {"a": ABSENT, "b": ABSENT})
            if node.state is not State.RUNNING:
                return LinkView(record, "waiting", f"{ref.node!r} is {node.state}", {"a": ABSENT, "b": ABSENT})
        try:
            return await self.veth(record, None)
        except VtuiError as err:
            return LinkView(record, "waiting", str(err), {"a": ABSENT, "b": ABSENT})

    async def _status(self, record: LinkRecord, veth: Veth) -> dict[str, EndStatus] | str:
        """One link's ends as the kernel has them (a VXLAN link's on each host), or why they cannot be read."""
        try:
            if record.kind == "vxlan":
                return {side: (await self._ex(record, side).status(_one(record, veth, side)))[side] for side in SIDES}
            return await self.executor(record.a.host).status(veth)
        except VtuiError as err:
            return str(err)

    async def capture(self, record: LinkRecord, side: str, count: int | None = None) -> AsyncIterator[bytes]:
        """The packets one end sees, as a pcap stream (a reading: allowed in read-only mode)."""
        end = await self._end(record.end(side), None)
        async for chunk in self._ex(record, side).capture(end, count):
            yield chunk

    def start_capture(self, record: LinkRecord, side: str, path: Path, told: Callable[[str], None]) -> None:
        """Capture one end into a pcap file in the background, until stop_capture (the TUI's `c`);
        `told` gets a sentence when it ends."""
        if record.id in self.captures:
            raise LinkError(f"link {record.id} is being captured already, to {self.captures[record.id][1]}")

        async def run() -> None:
            try:
                with path.open("wb") as out:
                    async for chunk in self.capture(record, side):
                        out.write(chunk)
                        out.flush()
                told(f"capture of link {record.id} ended: {path}")
            except asyncio.CancelledError:
                told(f"capture of link {record.id} stopped: {path} ({_size(path)})")
                raise
            except (VtuiError, OSError) as err:
                told(f"capture of link {record.id}: {err}")
            finally:
                self.captures.pop(record.id, None)

        self.captures[record.id] = (asyncio.create_task(run(), name=f"capture-{record.id}"), path)

    def stop_capture(self, link_id: str) -> bool:
        running = self.captures.get(link_id)
        if running is not None:
            running[0].cancel()
        return running is not None

    # --- following the inventory --------------------------------------------------------------

    def follow(self, nodes: Sequence[Node]) -> None:
        """Called with each inventory: a node with links that has come to run (started again, or
        seen again when vtui starts or its host reconnects) has its links wired again where missing."""
        came_back = [n for n in nodes if n.state is State.RUNNING and not self._running.get(n.key)]
        went = [n for n in nodes if n.state is not State.RUNNING and self._running.get(n.key)]
        self._running = {n.key: n.state is State.RUNNING for n in nodes}
        if not came_back and not went:
            return
        try:
            links = self.book.load().values()
        except LinkError as err:  # a damaged links file: said once, the rest of vtui goes on
            self.on_rewired(str(err))
            return
        for node in went:
            for record in (r for r in links if r.touches(node.host, str(node.kind), node.name)):
                self._task(self._park_quietly(record, node))
        for record in (r for r in links if any(r.touches(n.host, str(n.kind), n.name) for n in came_back)):
            self._task(self._rewire_quietly(record))

    def _task(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._rewiring.add(task)
        task.add_done_callback(self._rewiring.discard)

    async def park(self, record: LinkRecord, stopped: Node) -> None:
        """A node of the link stopped: the other end loses carrier rather than send into nothing
        (a veth's peer goes with its namespace; a tap, a stitch or a tunnel would stay up)."""
        await self._carrier(record, stopped, False)

    async def _carrier(self, record: LinkRecord, node: Node | None, up: bool) -> None:
        """What the other end of `node`'s (or, for None, of each end) sees of the link."""
        sides = [s for s in SIDES
                 if node is None or (record.end(s).host, record.end(s).kind, record.end(s).node) != _node_key(node)]
        if record.kind == "vm":
            for side in sides:
                ref = record.end(side)
                peer = self._node(ref)
                if ref.kind == str(Kind.VM) and peer is not None and peer.state is State.RUNNING:
                    mac = Veth(record.id, End(0, "", ""), End(0, "", "")).mac(side)
                    await backend_for(self.backends, peer).nic_link(peer, mac, up)
                elif ref.kind != str(Kind.VM):  # the container sees the host end of its veth
                    host_end = VmLink(record.id, End(0, ref.ifname, ""), End(0, "", ""), record.mtu).host_end
                    with contextlib.suppress(LinkError):  # gone with the container
                        await self._ex(record, side).set_admin(Veth(record.id, End(0, "", ""), host_end), "b", up)
        elif record.kind == "vxlan":
            for side in sides:
                with contextlib.suppress(VtuiError):  # its node does not run either
                    end = await self._end(record.end(side), None)
                    await self._ex(record, side).set_admin(Veth(record.id, end, end), side, up)

    async def _park_quietly(self, record: LinkRecord, node: Node) -> None:
        try:
            await self.park(record, node)
        except VtuiError as err:
            log.info("link %s: the other end of %r not taken down: %s", record.id, node.name, err)

    async def _rewire_quietly(self, record: LinkRecord) -> None:
        try:
            if await self.rewire(record):
                self.on_rewired(f"link {record} wired again")
        except VtuiError as err:
            log.info("link %s not wired again: %s", record.id, err)
            self.on_rewired(f"link {record}: not wired again: {err}")


def _judged(record: LinkRecord, ends: Mapping[str, EndStatus] | str) -> LinkView:
    """The link's state from its ends' (or, given a sentence, why they could not be read)."""
    if isinstance(ends, str):
        return LinkView(record, "waiting", ends, {"a": ABSENT, "b": ABSENT})
    if not all(ends[s].present for s in SIDES):
        return LinkView(record, "unwired", "an end is missing: it is wired again when its node starts", ends)
    if any(not ends[s].up for s in SIDES):
        return LinkView(record, "down", "taken down by vtui", ends)
    return LinkView(record, "up", "", ends)


def _one(record: LinkRecord, veth: Veth, side: str) -> Veth:
    """The view of one end that its own host's executor is given: for a link between two hosts, a
    link whose both ends are this end (the other end's namespace means nothing on this host)."""
    if record.kind != "vxlan":
        return veth
    end = veth.a if side == "a" else veth.b
    return Veth(veth.id, end, end, veth.mtu)


def _sender(link: VmLink, side: str) -> tuple[Veth, str]:
    """A view of the device whose egress carries what `side`'s node sends, and its side in that view."""
    if side == "a":
        return (link.veth, "b") if link.a_is_vm else (link.veth, "a")
    return (link.veth, "a") if link.a_is_vm else (Veth(link.id, link.a, link.host_end), "b")


def _size(path: Path) -> str:
    try:
        return f"{path.stat().st_size} bytes"
    except OSError:
        return "not written"


def _port_number(ref: EndRef) -> int:
    return int(ref.ifname.removeprefix("port"))


def _same_link(refs: Sequence[EndRef], links: Iterable[LinkRecord]) -> LinkRecord | None:
    """The recorded link with these two ends, if any; LinkError when an end belongs to another link."""
    links = list(links)
    for record in links:
        if {_key(record.a), _key(record.b)} == {_key(refs[0]), _key(refs[1])}:
            return record
    _check_unused(refs, links)
    return None


def _check_unused(refs: Sequence[EndRef], links: Iterable[LinkRecord]) -> None:
    for ref in refs:
        for other in links:
            if _key(ref) in (_key(other.a), _key(other.b)):
                raise LinkError(f"{ref} is already an end of the link {other}")


def _key(ref: EndRef) -> tuple[str, str, str, str]:
    return ref.host, ref.kind, ref.node, ref.ifname


def _node_key(node: Node) -> tuple[str, str, str]:
    return node.host, str(node.kind), node.name


def _with_each(record: LinkRecord, sides: Sequence[str],
               change: Callable[[LinkRecord, str], LinkRecord]) -> LinkRecord:
    for side in sides:
        record = change(record, side)
    return replace(record)
