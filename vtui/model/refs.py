"""Naming nodes as people do: NAME, HOST/NAME or HOST/KIND/NAME. A name is parsed once, where it
enters (a CLI argument, a lab file, a key press), into a NodeRef that travels as that object and
is looked up among the nodes listed (no UI)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from vtui.errors import NotFound
from vtui.model import Node


def qualified(node: Node) -> str:
    return f"{node.host}/{node.kind}/{node.name}"


@dataclass(frozen=True)
class NodeRef:
    """A node by its name and what qualifies it (its host and/or kind). Names are taken verbatim:
    spaces, quotes and `$(…)` are just characters, and a VM or container name has no '/'."""

    name: str
    qualifiers: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> NodeRef:
        *qualifiers, name = spec.split("/")
        return cls(name, tuple(qualifiers))

    @classmethod
    def of(cls, node: Node) -> NodeRef:
        """The reference that names exactly this node."""
        return cls(node.name, (node.host, str(node.kind)))

    def __str__(self) -> str:
        return "/".join((*self.qualifiers, self.name))

    def matches(self, node: Node) -> bool:
        return node.name == self.name and all(q in (node.host, node.kind) for q in self.qualifiers)

    def find(self, nodes: Sequence[Node]) -> Node:
        """The one node this names; NotFound with the candidates (or the close names) otherwise."""
        found = [n for n in nodes if self.matches(n)]
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(sorted(qualified(n) for n in found))
            raise NotFound(f"{str(self)!r} is ambiguous: {listed}; name one as HOST/NAME or HOST/KIND/NAME")
        close = difflib.get_close_matches(self.name, sorted({n.name for n in nodes}), n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise NotFound(f"no VM or container is named {str(self)!r}{hint}")


def resolve(spec: str | NodeRef, nodes: Sequence[Node]) -> Node:
    """The one node `spec` names (a NodeRef, or its text, parsed here)."""
    return (spec if isinstance(spec, NodeRef) else NodeRef.parse(spec)).find(nodes)
