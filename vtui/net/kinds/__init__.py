"""Kinds of link, one module each behind one protocol, and their registry.

A kind says what a link is made of and how it is made, read, changed and removed: veth (two
containers of one host), tap (stored as "vm": a VM's NIC on a tap, stitched to a container's veth
or to another VM's tap), segment (a member of a bridge), vxlan (nodes on two hosts). Where its
commands run is not its concern: it asks the context for the executor of a host (vtui.net.executor:
netlink here, a script over SSH there) and hands it operations and veths.

A kind knows no backend: the links service (vtui.links) gives it a LinkContext, which finds an
end's namespace, a host's executor, a VM's NICs and the book of links. A new kind is a module with
an object that follows LinkKind, and `register(it)`; nothing else switches on its name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from vtui.errors import LinkError
from vtui.model import Node
from vtui.net.book import EndRef, LinkBook, LinkRecord, SegmentRecord
from vtui.net.executor import Executor
from vtui.net.plan import End, EndStatus, Impairment


@dataclass(frozen=True)
class NodeEnd:
    """One end `link add` was asked for: a node, the interface named for it (if any), its addresses."""

    node: Node
    ifname: str | None
    addresses: tuple[str, ...] = ()
    nic: bool = False  # the node has no namespace of its own and takes a NIC (a VM)

    def ref(self, ifname: str, addresses: tuple[str, ...] | None = None) -> EndRef:
        node = self.node
        return EndRef(node.host, str(node.kind), node.name, ifname, self.addresses if addresses is None else addresses)


class LinkContext(Protocol):
    """What a kind is given by the links service: ends found through the backends, the executors of
    hosts, VMs' NICs, segments, and the book of links."""

    book: LinkBook
    lab: str  # the lab the links made now belong to, if any

    def executor(self, host: str) -> Executor:
        """Where commands run on `host`; LinkError when it is not reached."""
        ...

    def node_at(self, ref: EndRef) -> Node | None:
        """The node an end names, if it is there (exactly one)."""
        ...

    async def netns_pid(self, node: Node) -> int:
        """A process in the node's network namespace (it must run)."""
        ...

    async def end(self, ref: EndRef, doing: str | None) -> End:
        """A node's end where the kernel has it (a node with no namespace of its own: the host's);
        LinkError when the node is not there; Refused in read-only mode when `doing` is named."""
        ...

    async def end_or_gone(self, ref: EndRef) -> End:
        """The end to remove, or one in no namespace when its node does not run (nothing to remove)."""
        ...

    def check_writable(self, ref: EndRef, doing: str) -> None:
        """Refused in read-only mode (when the end's node is there)."""
        ...

    async def free_ifname(self, node: Node, pid: int, also: Sequence[str] = ()) -> str:
        """The node's next ethN that is neither in its namespace, nor recorded for it, nor in `also`."""
        ...

    async def attach_nic(self, ref: EndRef, mac: str, mtu: int) -> None:
        """Give the end's VM (if it is there) a NIC on the tap `ref.ifname`."""
        ...

    async def detach_nic(self, ref: EndRef, mac: str) -> None: ...

    async def nic_link(self, ref: EndRef, mac: str, up: bool) -> None:
        """The link state the guest sees on that NIC (if its VM is there)."""
        ...

    def segment(self, spec: str, host: str | None = None) -> SegmentRecord: ...

    async def underlay(self, host_a: str, host_b: str) -> tuple[str, str]:
        """The addresses by which two hosts reach each other (host_a's, host_b's)."""
        ...


Ends = Mapping[str, EndStatus]  # by side
Read = Ends | str  # a link's ends as the kernel has them, or why they cannot be read (it waits)


class LinkKind(Protocol):
    """One kind of link. Its methods get the context; `doing` names a change for read-only mode."""

    name: str  # as the links file stores it
    about: str  # a few words for `vtui link kinds`: "for two containers of one host"
    by_add: bool  # `link add` makes it (a segment's member is made by `bridge attach`)

    def fits(self, a: NodeEnd, b: NodeEnd) -> str | None:
        """Why a link between these two ends is of this kind ("both are containers of one host"), or
        None when it is not."""
        ...

    async def plan(self, ctx: LinkContext, a: NodeEnd, b: NodeEnd, mtu: int) -> LinkRecord:
        """The link to make, with a new id and its ends' names; or the link recorded already with
        these ends (then `add` wires again what is missing of it). LinkError for ends it refuses."""
        ...

    async def make(self, ctx: LinkContext, record: LinkRecord) -> bool:
        """Make a new link (recorded already); whether anything was made. A failure may leave parts:
        the service removes them."""
        ...

    async def rewire(self, ctx: LinkContext, record: LinkRecord) -> bool:
        """Make what is missing of a recorded link (not its state or impairments: the service sets
        them again when this made anything); whether anything had to be made."""
        ...

    async def remove(self, ctx: LinkContext, record: LinkRecord) -> bool:
        """Remove the link's kernel objects (where its nodes run); whether any was there."""
        ...

    async def remove_many(self, ctx: LinkContext, records: Sequence[LinkRecord]) -> list[bool | LinkError]:
        """remove() for many links of this kind: each one's result, or why it could not be removed."""
        ...

    async def read(self, ctx: LinkContext, records: Sequence[LinkRecord]) -> list[Read]:
        """Each link's ends as the kernel has them now, or why they cannot be read."""
        ...

    async def end(self, ctx: LinkContext, record: LinkRecord, side: str) -> End:
        """One end's interface, as a capture on it is given (on the host of that end)."""
        ...

    async def set_admin(self, ctx: LinkContext, record: LinkRecord, sides: Sequence[str], up: bool) -> None:
        """Take ends down (their peers lose carrier) or up again."""
        ...

    async def impair(self, ctx: LinkContext, record: LinkRecord, side: str, impairment: Impairment) -> None:
        """Hold what one side's node sends to `impairment`; Impairment() clears it."""
        ...

    async def carrier(self, ctx: LinkContext, record: LinkRecord, node: Node | None, up: bool) -> None:
        """What the far end of `node`'s side (for None, each end) sees of the link: no carrier when
        `node` stopped (park), carrier again when both run."""
        ...

    def peer(self, record: LinkRecord, side: str) -> str:
        """The far end of `side`, in a few words ("web:eth1", "segment lan1")."""
        ...


_KINDS: dict[str, LinkKind] = {}


def register(kind: LinkKind) -> LinkKind:
    """Add a kind (after those there); a name taken by another kind is refused."""
    if _KINDS.get(kind.name, kind) is not kind:
        raise LinkError(f"a kind of link named {kind.name!r} is registered already")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def kinds() -> list[LinkKind]:
    """The kinds, in the order they were registered."""
    return list(_KINDS.values())


def kind_named(name: str) -> LinkKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise LinkError(f"a link of kind {name!r}: this vtui knows {', '.join(_KINDS)}") from None


def kind_for(a: NodeEnd, b: NodeEnd, named: str | None = None) -> LinkKind:
    """The kind a link between two ends takes (the first that fits), or the one named if it fits;
    LinkError with the reason when it does not."""
    fitting = [(kind, why) for kind in kinds() if kind.by_add and (why := kind.fits(a, b)) is not None]
    if named is not None:
        chosen = kind_named(named)
        if any(kind is chosen for kind, _ in fitting):
            return chosen
        if fitting:
            takes, why = fitting[0]
            raise LinkError(f"--kind {named}: {a.node.name!r} and {b.node.name!r} take a {takes.name} link: {why}")
        raise LinkError(f"--kind {named}: no kind of link joins {a.node.name!r} and {b.node.name!r}")
    if not fitting:
        raise LinkError(f"no kind of link joins {a.node.name!r} and {b.node.name!r}")
    return fitting[0][0]


def _builtin() -> None:
    """The kinds vtui has, in this order."""
    from vtui.net.kinds import segment, tap, veth, vxlan

    for module in (veth, tap, segment, vxlan):
        register(module.KIND)


_builtin()
