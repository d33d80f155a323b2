"""The inventory filter: what `/` matches (pure, no UI)."""

from __future__ import annotations

from vtui.format import detail
from vtui.model import Node


def _subsequence(needle: str, hay: str) -> bool:
    it = iter(hay)
    return all(ch in it for ch in needle)


def matches(node: Node, query: str) -> bool:
    """Every word of the query is found in the node's fields, or fuzzily in its name.

    `web` matches web-1; `db pau` matches a paused db VM; `wb1` fuzzily matches web-1.
    """
    hay = " ".join((node.name, node.host, node.kind, node.state, detail(node), node.image)).lower()
    name = node.name.lower()
    return all(word in hay or _subsequence(word, name) for word in query.lower().split())
