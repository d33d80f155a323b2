"""The inventory filter: what `/` matches (pure, no UI)."""

from __future__ import annotations

from collections.abc import Iterable

from vtui.format import detail
from vtui.model import Node


def _subsequence(needle: str, hay: str) -> bool:
    it = iter(hay)
    return all(ch in it for ch in needle)


def _haystack(node: Node) -> str:
    return " ".join((node.name, node.host, node.kind, node.state, detail(node), node.image)).lower()


def matches(node: Node, query: str) -> bool:
    """Every word of the query is in the node's fields: `db pau` finds a paused db VM."""
    hay = _haystack(node)
    return all(word in hay for word in query.lower().split())


def fuzzy_matches(node: Node, query: str) -> bool:
    """Every word is a subsequence of the name: `wb1` finds web-1."""
    name = node.name.lower()
    return all(_subsequence(word, name) for word in query.lower().split())


def filter_nodes(nodes: Iterable[Node], query: str) -> list[Node]:
    """Exact word matches; only when there are none, fuzzy matches on the name."""
    nodes = list(nodes)
    if not query.strip():
        return nodes
    exact = [n for n in nodes if matches(n, query)]
    return exact or [n for n in nodes if fuzzy_matches(n, query)]
