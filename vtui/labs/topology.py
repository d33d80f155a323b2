"""A lab as vtui understands it, whatever file it came from: nodes (containers, VMs, segments) on
hosts, and links between their interfaces. Plain data; vtui.labs.clab reads it from a file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vtui.model import LOCAL_HOST
from vtui.net.plan import Impairment

CLAB_MTU = 9500  # containerlab's MTU for a link that names none
NODE_LABEL = "vtui.lab.node"  # the node's name in the lab file


class NodeKind:
    """What a node of the file becomes."""

    CONTAINER = "container"  # kind linux (and any kind with an image): a container vtui creates
    EXTERNAL = "external"  # kind ext-container: a container that exists already; vtui only links it
    SEGMENT = "segment"  # kind bridge: a segment (a bridge in a namespace of its own) vtui makes
    VM = "vm"  # kind libvirt: a VM that exists (domain:) or that vtui defines (xml:)


@dataclass(frozen=True)
class LabNode:
    name: str
    kind: str  # the file's kind (linux, bridge, ceos, libvirt, …)
    becomes: str  # a NodeKind
    host: str = LOCAL_HOST  # as the file names it: local, a hosts.toml name, or an SSH target
    image: str = ""
    cmd: str = ""
    entrypoint: str = ""
    user: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    binds: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    exec: tuple[str, ...] = ()  # commands run in the node once its links are wired
    domain: str = ""  # kind libvirt: the VM's name (an existing VM's, or the <name> of `xml`)
    xml: str = ""  # kind libvirt: the domain XML vtui defines (its text), if the lab makes the VM
    cap_add: tuple[str, ...] = ()  # a container's added capabilities (NET_ADMIN for `ip` in exec:)
    privileged: bool = False
    sysctls: Mapping[str, str] = field(default_factory=dict)

    @property
    def made_by_lab(self) -> bool:
        """Whether the lab creates this node (and so removes it on destroy)."""
        return self.becomes in (NodeKind.CONTAINER, NodeKind.SEGMENT) or \
            (self.becomes == NodeKind.VM and bool(self.xml))

    def spec(self) -> tuple[object, ...]:
        """What a running node was made from: a change means the node is made again."""
        return (self.becomes, self.host, self.image, self.cmd, self.entrypoint, self.user,
                tuple(sorted(self.env.items())), self.binds, tuple(sorted(self.labels.items())), self.domain, self.xml,
                self.cap_add, self.privileged, tuple(sorted(self.sysctls.items())))


@dataclass(frozen=True)
class LabEnd:
    node: str
    ifname: str
    addresses: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.node}:{self.ifname}"


@dataclass(frozen=True)
class LabLink:
    a: LabEnd
    b: LabEnd
    mtu: int | None = None  # None: the kind's own (CLAB_MTU between containers of one host)
    impair: Mapping[str, Impairment] = field(default_factory=dict)  # by side, "a" or "b"
    down: bool = False
    line: int | None = None  # where the file writes it

    @property
    def ends(self) -> frozenset[tuple[str, str]]:
        """The link's identity: its two (node, interface) pairs, in either order."""
        return frozenset({(self.a.node, self.a.ifname), (self.b.node, self.b.ifname)})

    def __str__(self) -> str:
        return f"{self.a} — {self.b}"


@dataclass(frozen=True)
class Lab:
    name: str
    nodes: Mapping[str, LabNode]
    links: tuple[LabLink, ...] = ()
    prefix: str | None = None  # containerlab's: None is "clab"; "" names containers as their nodes
    path: Path | None = None
    notes: tuple[str, ...] = ()  # what the file asks that vtui does otherwise (said, not refused)
    text: str = ""  # the file as read

    def container_name(self, node: str) -> str:
        """The container's name, as containerlab names it: clab-LAB-NODE, PREFIX-LAB-NODE, or NODE."""
        if self.prefix == "":
            return node
        if self.prefix == "__lab-name":
            return f"{self.name}-{node}"
        return f"{self.prefix or 'clab'}-{self.name}-{node}"

    def segment_name(self, node: str) -> str:
        return f"{self.name}/{node}"

    @property
    def hosts(self) -> list[str]:
        return list(dict.fromkeys(n.host for n in self.nodes.values()))
