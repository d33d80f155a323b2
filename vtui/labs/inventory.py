"""What runs now, in a lab's terms: every engine's nodes, a lab file's node as it is (its host, its
engine's name for it, its state), the lab as it was last deployed and its links as they are wired."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vtui.backends.base import Backend
from vtui.config.hosts import load_hosts
from vtui.errors import EngineError, LabError
from vtui.labs.clab import read_lab
from vtui.labs.matching import Names, identity, record_identity, sides
from vtui.labs.topology import Lab, LabLink, LabNode, NodeKind
from vtui.links.wiring import SEGMENT, Wiring
from vtui.model import LOCAL_HOST, Kind, Node, State
from vtui.net.book import LinkBook, LinkRecord


def host_names(file_hosts: Iterable[str]) -> dict[str, str]:
    """Each host as a lab file names it (local, a hosts.toml name, an SSH target) -> its name in vtui."""
    config = load_hosts()
    names = {}
    for host in file_hosts:
        _, remote = config.chosen([host])
        names[host] = remote[0].name if remote else LOCAL_HOST
    return names


@dataclass(frozen=True)
class NodeView:
    """A node of a lab as it is now."""

    name: str
    kind: str
    host: str
    engine_name: str  # the container's, VM's or segment's own name
    state: str  # the engine's state word, "absent", or "made" (a segment)
    node: Node | None = None


class LabInventory:
    def __init__(self, backends: Sequence[Backend], hosts: Mapping[str, str] | None = None,
                 book: LinkBook | None = None) -> None:
        self.backends = backends
        self.hosts = dict(hosts or {})  # a host as the file names it -> the host's name in vtui
        self.book = book or LinkBook()
        self.nodes: list[Node] = []
        self.unreached: dict[str, str] = {}  # host -> why its engines did not answer

    async def refresh(self) -> None:
        """List every engine's nodes again (a plan is made against what runs now)."""
        async def listed(backend: Backend) -> list[Node] | EngineError:
            try:
                return await backend.list_nodes()
            except EngineError as err:
                return err

        results = await asyncio.gather(*(listed(b) for b in self.backends))
        self.nodes = [n for r in results if isinstance(r, list) for n in r]
        for result in results:
            if isinstance(result, EngineError):
                self.unreached.setdefault(result.host, result.reason)

    def host(self, node: LabNode) -> str:
        return self.hosts.get(node.host, node.host)

    def backend(self, host: str, kind: Kind) -> Backend:
        for backend in self.backends:
            if backend.host == host and backend.kind is kind:
                return backend
        why = self.unreached.get(host)
        engine = "docker" if kind is Kind.CONTAINER else "libvirt"
        raise LabError(f"{engine} on {host} is not reached: {why}" if why else f"no {engine} on {host} in this session")

    def found(self, host: str, kind: Kind, name: str) -> Node | None:
        return next((n for n in self.nodes if (n.host, n.kind, n.name) == (host, kind, name)), None)

    def engine_name(self, lab: Lab, node: LabNode) -> str:
        if node.becomes == NodeKind.CONTAINER:
            return lab.container_name(node.name)
        if node.becomes == NodeKind.SEGMENT:
            return lab.segment_name(node.name)
        return node.domain or node.name  # a VM's, an external container's own name

    def node_kind(self, node: LabNode) -> str:
        return SEGMENT if node.becomes == NodeKind.SEGMENT else \
            str(Kind.VM) if node.becomes == NodeKind.VM else str(Kind.CONTAINER)

    def view(self, lab: Lab, node: LabNode) -> NodeView:
        host, name = self.host(node), self.engine_name(lab, node)
        if node.becomes == NodeKind.SEGMENT:
            made = any((s.host, s.name) == (host, name) for s in self.book.read().segments.values())
            return NodeView(node.name, node.kind, host, name, "made" if made else "absent")
        found = self.found(host, Kind.VM if node.becomes == NodeKind.VM else Kind.CONTAINER, name)
        return NodeView(node.name, node.kind, host, name, str(found.state) if found else "absent", found)

    def runs(self, lab: Lab, node: LabNode) -> bool:
        return self.view(lab, node).state == str(State.RUNNING)

    def lab_containers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if n.lab == name and n.kind is Kind.CONTAINER]

    def wiring(self, lab: str) -> Wiring:
        return Wiring(self.backends, lambda: self.nodes, self.book, lab=lab)

    def deployed(self, name: str) -> Lab | None:
        """The lab of that name as it was last deployed (its file's text then)."""
        record = self.book.read().labs.get(name)
        return None if record is None else _deployed_copy(record.file, record.text)

    def names(self, *labs: Lab | None) -> dict[tuple[str, str, str], str]:
        """(host, kind, engine name) -> the node's name in the file, for the labs given (the file's
        and the one deployed before)."""
        names: dict[tuple[str, str, str], str] = {}
        for lab in reversed([lab for lab in labs if lab is not None]):
            for node in lab.nodes.values():
                names[(self.host(node), self.node_kind(node), self.engine_name(lab, node))] = node.name
        return names

    def wired(self, lab: Lab) -> dict[frozenset[tuple[str, str]], tuple[LinkRecord, dict[str, str]]]:
        """The lab's wired links by the ends the file gives them (LabLink.ends): each one's record, and
        which of the record's sides each end of the file's link is."""
        names: Names = self.names(lab)
        by_identity = {record_identity(r, names): r for r in self.book.load().values() if r.lab == lab.name}
        return {link.ends: (record, sides(lab, link, record, names)) for link in lab.links
                if (record := by_identity.get(identity(lab, link))) is not None}

    def wired_link(self, lab: Lab, link: LabLink) -> tuple[LinkRecord, dict[str, str]]:
        if (found := self.wired(lab).get(link.ends)) is None:
            raise LabError(f"link {link} is not wired")
        return found


@functools.lru_cache(maxsize=16)
def _deployed_copy(file: str, text: str) -> Lab:
    """A deployed lab's text read once, not at each of the labs screen's refreshes."""
    return read_lab(Path(file), text)
