"""Naming nodes on the command line: NAME, HOST/NAME or HOST/KIND/NAME (no UI)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from vtui.errors import NotFound
from vtui.model import Node


def qualified(node: Node) -> str:
    return f"{node.host}/{node.kind}/{node.name}"


def resolve(spec: str, nodes: Sequence[Node]) -> Node:
    """The one node `spec` names. Names are taken verbatim (spaces, quotes and `$(…)` are just characters)."""
    *qualifiers, name = spec.split("/")
    found = [n for n in nodes if n.name == name and all(q in (n.host, n.kind) for q in qualifiers)]
    if len(found) == 1:
        return found[0]
    if found:
        listed = ", ".join(sorted(qualified(n) for n in found))
        raise NotFound(f"{spec!r} is ambiguous: {listed}; name one as HOST/NAME or HOST/KIND/NAME")
    close = difflib.get_close_matches(name, sorted({n.name for n in nodes}), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise NotFound(f"no VM or container is named {spec!r}{hint}")
