"""A lab written back as plain containerlab files, one per host: what `containerlab deploy` takes on
each host to make the same lab without vtui. A link between hosts becomes a containerlab `vxlan` link
on each side, with the VNI, port and addresses of the tunnel vtui made; vtui's own keys (host:,
impair:, state:) are left out, and so are VMs (containerlab has no kind for an existing libvirt VM):
each omission is said in the file's head."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import yaml

from vtui.labs.topology import Lab, LabLink, LabNode, NodeKind
from vtui.net.vxlan import PORT

# a link between two hosts: (VNI, MTU, underlay address of each link side's host by node name)
Tunnel = tuple[int, int, Mapping[str, str]]


def clab_files(lab: Lab, host_of: Callable[[LabNode], str], tunnels: Mapping[frozenset[tuple[str, str]], Tunnel]
               ) -> dict[str, str]:
    """Each host's containerlab file (its text), by the host's name."""
    files = {}
    for host in dict.fromkeys(host_of(n) for n in lab.nodes.values()):
        mine = {name: n for name, n in lab.nodes.items() if host_of(n) == host}
        left: list[str] = [f"{n.name} (a VM)" for n in mine.values() if n.becomes == NodeKind.VM]
        left += [f"nothing: but containerlab's bridge {n.name} must exist before it deploys (ip link add {n.name} "
                 "type bridge)" for n in mine.values() if n.becomes == NodeKind.SEGMENT]
        nodes = {name: _node(n) for name, n in mine.items() if n.becomes != NodeKind.VM}
        links: list[dict[str, Any]] = []
        for link in lab.links:
            here = [e for e in (link.a, link.b) if e.node in nodes]
            if not here:
                continue
            if link.impair or link.down:
                left.append(f"the impairment and state of {link} (set them with `containerlab tools netem`)")
            if len(here) == 2:
                links.append(_brief(link))
            elif (tunnel := tunnels.get(link.ends)) is not None:
                links.append(_vxlan(link, here[0].node, tunnel))
            else:
                left.append(f"{link} (its other end is a VM)")
        data: dict[str, Any] = {"name": lab.name}
        if lab.prefix is not None:
            data["prefix"] = lab.prefix
        data["topology"] = {"nodes": nodes} | ({"links": links} if links else {})
        head = [f"# lab {lab.name} on {host}, exported by vtui from {lab.path or 'its deployed copy'}"]
        head += [f"# left out: {what}" for what in left]
        files[host] = "\n".join(head) + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return files


def _node(node: LabNode) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": node.kind}
    for key, value in (("image", node.image), ("cmd", node.cmd), ("entrypoint", node.entrypoint),
                       ("user", node.user), ("env", dict(node.env)), ("binds", list(node.binds)),
                       ("labels", dict(node.labels)), ("exec", list(node.exec)), ("cap-add", list(node.cap_add)),
                       ("privileged", node.privileged), ("sysctls", dict(node.sysctls))):
        if value:
            out[key] = value
    return out


def _brief(link: LabLink) -> dict[str, Any]:
    out: dict[str, Any] = {"endpoints": [str(link.a), str(link.b)]}
    if link.mtu is not None:
        out["mtu"] = link.mtu
    for family, v6 in (("ipv4", False), ("ipv6", True)):
        pair = [next((a for a in end.addresses if (":" in a) == v6), "") for end in (link.a, link.b)]
        if any(pair):
            out[family] = pair
    return out


def _vxlan(link: LabLink, node: str, tunnel: Tunnel) -> dict[str, Any]:
    vni, mtu, addresses = tunnel
    end = link.a if link.a.node == node else link.b
    far = link.b if end is link.a else link.a
    out: dict[str, Any] = {"type": "vxlan", "endpoint": {"node": end.node, "interface": end.ifname},
                           "remote": addresses[far.node], "vni": vni, "dst-port": PORT, "mtu": mtu}
    address = next(iter(end.addresses), "")
    if address and ":" not in address:
        out["endpoint"]["ipv4"] = address
    return out
