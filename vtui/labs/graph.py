"""A lab drawn: as text for a terminal (nodes in layers, each layer's links to the next under it),
or as Mermaid or Graphviz dot source for a document. Link states, when given, are drawn on the links."""

from __future__ import annotations

from collections.abc import Mapping

from vtui.labs.topology import Lab, LabLink, NodeKind

FORMATS = ("ascii", "mermaid", "dot")


def draw(lab: Lab, form: str, states: Mapping[frozenset[tuple[str, str]], str] | None = None) -> str:
    """The lab in one of FORMATS; `states`: a word per link (by LabLink.ends: up, down, …) to draw on it."""
    states = states or {}
    if form == "mermaid":
        return _mermaid(lab, states)
    if form == "dot":
        return _dot(lab, states)
    if form == "ascii":
        return "\n".join(layered(lab, states))
    raise ValueError(f"no graph format {form!r} (formats: {', '.join(FORMATS)})")


def _box(lab: Lab, name: str) -> str:
    node = lab.nodes[name]
    return f"({name})" if node.becomes == NodeKind.SEGMENT else f"[{name}]"


def layers(lab: Lab) -> list[list[str]]:
    """The nodes by distance from the first node of each connected part (breadth first, file order)."""
    neighbours: dict[str, list[str]] = {name: [] for name in lab.nodes}
    for link in lab.links:
        neighbours[link.a.node].append(link.b.node)
        neighbours[link.b.node].append(link.a.node)
    depth: dict[str, int] = {}
    for start in lab.nodes:
        if start in depth:
            continue
        base = max(depth.values(), default=-1) + 1
        depth[start], queue = base, [start]
        while queue:
            current = queue.pop(0)
            for near in neighbours[current]:
                if near not in depth:
                    depth[near] = depth[current] + 1
                    queue.append(near)
    rows: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in lab.nodes:
        rows[depth[name]].append(name)
    return rows


def layered(lab: Lab, states: Mapping[frozenset[tuple[str, str]], str]) -> list[str]:
    """Text lines: each layer's nodes, then the links from it to the next layer or within it."""
    rows = layers(lab)
    level = {name: index for index, row in enumerate(rows) for name in row}
    lines = [f"lab {lab.name}: {len(lab.nodes)} nodes, {len(lab.links)} links"]
    drawn: set[int] = set()
    width = max((len(_box(lab, n)) for n in lab.nodes), default=0)
    for index, row in enumerate(rows):
        lines.append("  " + "   ".join(_box(lab, name) for name in row))
        for name in row:
            for number, link in enumerate(lab.links):
                if number in drawn or name not in (link.a.node, link.b.node):
                    continue
                near, far = (link.a, link.b) if link.a.node == name else (link.b, link.a)
                if level[far.node] < index:
                    continue
                drawn.add(number)
                state = states.get(link.ends)
                impair = "; ".join(f"{side} {i.words()}" for side, i in sorted(link.impair.items()))
                extras = [word for word in (state, "down" if link.down and state is None else None, impair) if word]
                tag = f"  {' · '.join(extras)}" if extras else ""
                lines.append(f"    {_box(lab, name):>{width}} {near.ifname} ──── {far.ifname} {_box(lab, far.node)}"
                             f"{tag}")
    return lines


def _label(link: LabLink, states: Mapping[frozenset[tuple[str, str]], str]) -> str:
    state = states.get(link.ends) or ("down" if link.down else "")
    return f"{link.a.ifname} — {link.b.ifname}" + (f" ({state})" if state else "")


def _mermaid(lab: Lab, states: Mapping[frozenset[tuple[str, str]], str]) -> str:
    ids = {name: f"n{index}" for index, name in enumerate(lab.nodes)}
    lines = ["graph LR"]
    for name, node in lab.nodes.items():
        shape = f'(["{name}"])' if node.becomes == NodeKind.SEGMENT else f'["{name}"]'
        lines.append(f"  {ids[name]}{shape}")
    for link in lab.links:
        lines.append(f'  {ids[link.a.node]} ---|"{_label(link, states)}"| {ids[link.b.node]}')
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(lab: Lab, states: Mapping[frozenset[tuple[str, str]], str]) -> str:
    lines = [f"graph {_quoted(lab.name)} {{", "  node [shape=box];"]
    for name, node in lab.nodes.items():
        shape = " [shape=ellipse]" if node.becomes == NodeKind.SEGMENT else ""
        lines.append(f"  {_quoted(name)}{shape};")
    for link in lab.links:
        state = states.get(link.ends) or ("down" if link.down else "")
        style = ", style=dashed" if state and state != "up" else ""
        lines.append(f"  {_quoted(link.a.node)} -- {_quoted(link.b.node)} [taillabel={_quoted(link.a.ifname)}, "
                     f"headlabel={_quoted(link.b.ifname)}{', label=' + _quoted(state) if state else ''}{style}];")
    lines.append("}")
    return "\n".join(lines)
