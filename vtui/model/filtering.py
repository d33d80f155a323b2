"""The inventory filter: what `/` matches (pure, no UI)."""

from __future__ import annotations

from collections.abc import Iterable

from vtui.model import Node
from vtui.model.format import detail


def _subsequence(needle: str, hay: str) -> bool:
    it = iter(hay)
    return all(ch in it for ch in needle)


def _haystack(node: Node) -> str:
    return " ".join((node.name, node.host, node.kind, node.state, detail(node), node.image, node.lab)).lower()


HOST_PREFIX = "host:"
LAB_PREFIX = "lab:"


def _split(query: str) -> tuple[set[str], set[str], list[str]]:
    """`host:NAME` words (exact host names, any of them), `lab:NAME` words (labs), and the other words."""
    words = query.lower().split()
    hosts = {w.removeprefix(HOST_PREFIX) for w in words if w.startswith(HOST_PREFIX) and w != HOST_PREFIX}
    labs = {w.removeprefix(LAB_PREFIX) for w in words if w.startswith(LAB_PREFIX) and w != LAB_PREFIX}
    return hosts, labs, [w for w in words if not w.startswith((HOST_PREFIX, LAB_PREFIX))]


def _placed(node: Node, hosts: set[str], labs: set[str]) -> bool:
    return (not hosts or node.host.lower() in hosts) and (not labs or node.lab.lower() in labs)


def matches(node: Node, query: str) -> bool:
    """Every word of the query is in the node's fields: `db pau` finds a paused db VM;
    `host:lab1` keeps the nodes of that host only, `lab:NAME` those a lab made."""
    hosts, labs, words = _split(query)
    hay = _haystack(node)
    return _placed(node, hosts, labs) and all(word in hay for word in words)


def fuzzy_matches(node: Node, query: str) -> bool:
    """Every word is a subsequence of the name: `wb1` finds web-1 (host: and lab: words still exact)."""
    hosts, labs, words = _split(query)
    name = node.name.lower()
    return _placed(node, hosts, labs) and all(_subsequence(word, name) for word in words)


def filter_nodes(nodes: Iterable[Node], query: str) -> list[Node]:
    """Exact word matches; only when there are none, fuzzy matches on the name."""
    nodes = list(nodes)
    if not query.strip():
        return nodes
    exact = [n for n in nodes if matches(n, query)]
    return exact or [n for n in nodes if fuzzy_matches(n, query)]
