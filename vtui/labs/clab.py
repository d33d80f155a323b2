"""containerlab topology files (`*.clab.yml`) as they are, and vtui's additions in the same file.

    lab = read_lab(Path("line.clab.yml"))   # ConfigError: "FILE, line N: topology.links #2.endpoints: …"

Read as containerlab does: `name`, `prefix`, `topology.{defaults,kinds,groups,nodes,links}`, a node's
values taken from the node, else its group, else its kind, else the defaults (env and labels merged);
links in the brief form (`endpoints: ["r1:eth1", "r2:eth1"]`) and the extended form of `type: veth`.
vtui's additions: a node's `host:` (a hosts.toml name or an SSH target), `kind: libvirt` with
`domain:` (a VM that exists) or `xml:` (a domain XML file vtui defines), a link's `impair:` (what
`vtui link impair` takes: "10mbit 50ms loss 1%", or per end `{a: …, b: …}`) and `state: down`.
Keys containerlab knows and vtui does not carry out are told (Lab.notes), not refused; keys neither
knows are refused, with the file, line and key.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from vtui.config.schema import Invalid, Key, KeyPath, array_of, boolean, check_table, read_yaml, table_of, text
from vtui.errors import ConfigError, LinkError
from vtui.labs.topology import Lab, LabEnd, LabLink, LabNode, NodeKind
from vtui.model import LOCAL_HOST
from vtui.net.plan import Impairment, check_address, check_ifname, check_mtu, parse_impairment

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")  # a lab's or node's name, as containerlab allows
# Kinds that are not network OS images: what vtui makes of them.
_KINDS = {"linux": NodeKind.CONTAINER, "ext-container": NodeKind.EXTERNAL, "bridge": NodeKind.SEGMENT,
          "libvirt": NodeKind.VM}
# containerlab's node keys that vtui does not carry out (told, not refused).
_CLAB_ONLY = ("license", "type", "startup-config", "startup-delay", "enforce-startup-config",
              "suppress-startup-config", "auto-remove", "volumes", "ports", "credentials", "env-files", "hostname",
              "runtime", "network-mode", "link-apply-mode", "cpu", "memory", "cpu-set", "extras", "config", "stages",
              "dns", "certificate", "healthcheck", "components", "aliases", "shm-size",
              "cgroupns-mode", "cgroup-parent", "pid-mode", "tmpfs", "security-opts", "devices",
              "image-pull-policy", "restart-policy", "mgmt-ipv4", "mgmt-ipv6")
_UNSUPPORTED_LINKS = {
    "veth-stitch": "a veth stitched to a VM's tap is made by itself when a VM is an end (vtui link add)",
    "mgmt-net": "vtui leaves the management network to docker", "macvlan": "not built in vtui",
    "host": "vtui links nodes to nodes, not to the host's own namespace",
    "vxlan": "links between hosts become VXLAN by themselves: give the nodes their host:",
    "vxlan-stitch": "links between hosts become VXLAN by themselves: give the nodes their host:",
    "dummy": "vtui makes no dummy interfaces (and this kernel may lack them)",
}


def _word(value: object) -> str:
    """A scalar as containerlab takes it for env and labels (strings, numbers, booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise Invalid("must be a string or a number")


def _strings(value: object) -> tuple[str, ...]:
    return tuple(array_of(text())(value))


def _anything(value: object) -> object:
    return value


def _user(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return text()(value)


_NODE_KEYS: dict[str, Key[Any]] = {
    "kind": Key(text()), "group": Key(text()), "image": Key(text()), "cmd": Key(text()),
    "entrypoint": Key(text()), "user": Key(_user), "exec": Key(_strings), "binds": Key(_strings),
    "env": Key(table_of(_word)), "labels": Key(table_of(_word)),
    "cap-add": Key(_strings), "privileged": Key(boolean), "sysctls": Key(table_of(_word)),
    "host": Key(text()), "domain": Key(text()), "xml": Key(text()),  # vtui's
}
_NODE_KEYS.update({name: Key(_anything) for name in _CLAB_ONLY})
_TOPOLOGY_KEYS: dict[str, Key[Any]] = {
    "nodes": Key(_anything, required=True), "groups": Key(_anything), "kinds": Key(_anything),
    "defaults": Key(_anything), "links": Key(_anything),
}
_TOP_KEYS: dict[str, Key[Any]] = {
    "name": Key(text(), required=True), "prefix": Key(_anything), "topology": Key(_anything, required=True),
    "mgmt": Key(_anything), "settings": Key(_anything), "debug": Key(_anything),
}


def _mtu(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("must be a whole number of bytes")
    try:
        check_mtu(value)
    except LinkError as err:
        raise Invalid(str(err)) from None
    return value


def _state(value: object) -> bool:
    if value not in ("up", "down"):
        raise Invalid("must be up or down")
    return value == "down"


def _impairment_words(value: object) -> Impairment:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise Invalid("must be words such as '10mbit 50ms loss 1%'")
    try:
        sides, impairment = parse_impairment(str(value))
    except LinkError as err:
        raise Invalid(str(err)) from None
    if sides is not None:
        raise Invalid("name the end by a key (impair: {a: …, b: …}), not in the words")
    return impairment


def _impair(value: object) -> dict[str, Impairment]:
    if isinstance(value, dict):
        per_end = check_table(value, {"a": Key(_impairment_words), "b": Key(_impairment_words)})
        return {side: i for side, i in per_end.items() if i is not None and not i.none}
    impairment = _impairment_words(value)
    return {} if impairment.none else {"a": impairment, "b": impairment}


def _addresses(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 2:
        raise Invalid("must be a list of one or two addresses, one per end ('' for none)")
    return tuple(_address(v) if v != "" else "" for v in value)


def _address(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("must be an address with its prefix length, e.g. 10.0.0.1/30")
    try:
        return check_address(value.strip())
    except LinkError as err:
        raise Invalid(str(err)) from None


_LINK_COMMON: dict[str, Key[Any]] = {
    "mtu": Key(_mtu), "vars": Key(_anything), "labels": Key(table_of(_word)),
    "impair": Key(_impair), "state": Key(_state, False),  # vtui's
}
_BRIEF_KEYS = _LINK_COMMON | {"endpoints": Key(_anything, required=True), "ipv4": Key(_addresses),
                              "ipv6": Key(_addresses)}
_VETH_KEYS = _BRIEF_KEYS | {"type": Key(text())}
_ENDPOINT_KEYS: dict[str, Key[Any]] = {
    "node": Key(text(), required=True), "interface": Key(text(), required=True), "mac": Key(_anything),
    "ipv4": Key(_address), "ipv6": Key(_address), "vars": Key(_anything),
}


def read_lab(path: Path, text: str | None = None) -> Lab:
    """The lab of a containerlab file (or of its text as read before); ConfigError naming the file,
    line and key of what is wrong."""
    text = _read(path) if text is None else text
    data, lines = read_yaml(path, text)
    try:
        return replace(_lab(data, path, lines), text=text)
    except Invalid as bad:
        raise bad.located(path, lines) from bad


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err


def _lab(data: dict[str, object], path: Path, lines: Callable[[KeyPath], int | None]) -> Lab:
    top = check_table(data, _TOP_KEYS)
    name = top["name"]
    if not _NAME.match(name):
        raise Invalid("letters, digits and . _ - only, starting with a letter or digit", ("name",))
    prefix = top["prefix"]
    if prefix is not None and not isinstance(prefix, str):
        raise Invalid("must be a string ('' names containers after their nodes)", ("prefix",))
    topo = check_table(top["topology"], _TOPOLOGY_KEYS, ("topology",))
    notes: list[str] = []
    if top["mgmt"] is not None:
        notes.append("mgmt: vtui puts the containers on docker's default network")
    defaults = _node_values(topo["defaults"] or {}, ("topology", "defaults"))
    kinds = {k: _node_values(v, ("topology", "kinds", k)) for k, v in _table(topo["kinds"], ("topology", "kinds"))}
    groups = {g: _node_values(v, ("topology", "groups", g))
              for g, v in _table(topo["groups"], ("topology", "groups"))}
    nodes: dict[str, LabNode] = {}
    for node_name, raw in _table(topo["nodes"], ("topology", "nodes")):
        where = ("topology", "nodes", node_name)
        if not _NAME.match(node_name):
            raise Invalid("a node's name has letters, digits and . _ - only", where)
        node = _node_values(raw or {}, where)
        nodes[node_name] = _node(node_name, node, defaults, kinds, groups, where, path, notes)
    links = _links(topo["links"], nodes, lines)
    return Lab(name, nodes, tuple(links), prefix, path, tuple(notes))


def _table(value: object, path: KeyPath) -> list[tuple[str, object]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise Invalid("must be a mapping", path)
    return [(str(k), v) for k, v in value.items()]


def _node_values(raw: object, path: KeyPath) -> dict[str, Any]:
    values = check_table(raw, _NODE_KEYS, path)
    return {k: v for k, v in values.items() if v is not None}


def _node(name: str, own: Mapping[str, Any], defaults: Mapping[str, Any], kinds: Mapping[str, Mapping[str, Any]],
          groups: Mapping[str, Mapping[str, Any]], where: KeyPath, path: Path, notes: list[str]) -> LabNode:
    kind = own.get("kind") or (groups.get(own.get("group", ""), {}).get("kind")) or defaults.get("kind")
    if not kind:
        raise Invalid("is required (linux, bridge, ext-container, libvirt, or a containerlab kind with an image)",
                      (*where, "kind"))
    group = own.get("group")
    if group is not None and group not in groups:
        raise Invalid(f"no group {group!r} in topology.groups", (*where, "group"))
    layers = [defaults, kinds.get(kind, {}), groups.get(group or "", {}), own]  # the last one given wins

    def value(key: str) -> Any:
        return next((layer[key] for layer in reversed(layers) if key in layer), None)

    def merged(key: str) -> dict[str, str]:
        return {k: v for layer in layers for k, v in layer.get(key, {}).items()}

    becomes = _KINDS.get(kind, NodeKind.CONTAINER)
    told = sorted({k for layer in layers for k in layer if k in _CLAB_ONLY})
    if told:
        notes.append(f"node {name}: {', '.join(told)}: not carried out by vtui")
    if kind not in _KINDS:
        notes.append(f"node {name}: kind {kind} runs as a plain container of its image")
    image = value("image") or "" if becomes == NodeKind.CONTAINER else ""  # a default image is for containers
    if becomes == NodeKind.CONTAINER and not image:
        raise Invalid(f"is required for a {kind} node (here, in its kind, group or the defaults)", (*where, "image"))
    domain, xml = value("domain") or "", value("xml") or ""
    if becomes == NodeKind.VM:
        if bool(domain) == bool(xml):
            raise Invalid("a libvirt node names an existing VM (domain:) or a domain XML file (xml:), one of them",
                          where)
        if xml:
            xml = _read_xml(path.parent / xml, (*where, "xml"))
            domain = _domain_name(xml, (*where, "xml"))
    elif domain or xml:
        raise Invalid(f"only a libvirt node takes domain: or xml: (this one is {kind})", where)
    binds = tuple(_bind(b, path.parent) for b in value("binds") or ())
    return LabNode(name, kind, becomes, value("host") or LOCAL_HOST, image, value("cmd") or "",
                   value("entrypoint") or "", value("user") or "", merged("env"), binds,
                   merged("labels"), tuple(value("exec") or ()), domain, xml, tuple(value("cap-add") or ()),
                   bool(value("privileged")), merged("sysctls"))


def _bind(bind: str, base: Path) -> str:
    """SRC:DST[:OPTIONS] with SRC made absolute (containerlab reads it from the file's folder); a
    named volume (no slash, no dot) stays as it is."""
    source, colon, rest = bind.partition(":")
    if colon and (source.startswith((".", "~")) or "/" in source) and not source.startswith("/"):
        source = str((base / Path(source).expanduser()).resolve())
    return f"{source}{colon}{rest}"


def _domain_name(xml: str, where: KeyPath) -> str:
    try:
        name = ET.fromstring(xml).findtext("name")
    except ET.ParseError as err:
        raise Invalid(f"the domain XML is not XML: {err}", where) from None
    if not name or not name.strip():
        raise Invalid("the domain XML has no <name>", where)
    return name.strip()


def _read_xml(file: Path, where: KeyPath) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except OSError as err:
        raise Invalid(f"cannot read {file}: {err.strerror}", where) from None


def _links(raw: object, nodes: Mapping[str, LabNode], lines: Callable[[KeyPath], int | None]) -> list[LabLink]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise Invalid("must be a list of links", ("topology", "links"))
    links: list[LabLink] = []
    used: dict[tuple[str, str], int] = {}  # an end -> the index of its link
    for index, item in enumerate(raw):
        where: KeyPath = ("topology", "links", index)
        link = _link(item, where, lines(where))
        for position, end in enumerate((link.a, link.b)):
            at = (*where, "endpoints", position)
            node = nodes.get(end.node)
            if node is None:
                raise Invalid(f"unknown node {end.node!r} (the file's nodes: {', '.join(nodes) or 'none'})", at)
            if node.becomes != NodeKind.SEGMENT:
                try:
                    check_ifname(end.ifname, f"node {end.node}")
                except LinkError as err:
                    raise Invalid(str(err), at) from None
            if (end.node, end.ifname) in used:
                other = used[(end.node, end.ifname)]
                line = lines(("topology", "links", other))
                raise Invalid(f"{end} is an end of link #{other + 1}{f' (line {line})' if line else ''} already: "
                              "an interface takes one link", at)
            used[(end.node, end.ifname)] = index
        if all(nodes[e.node].becomes == NodeKind.SEGMENT for e in (link.a, link.b)):
            raise Invalid("links two bridges: a link has a container or VM at one end at least", where)
        links.append(link)
    return links


def _link(item: object, where: KeyPath, line: int | None) -> LabLink:
    if isinstance(item, dict) and "type" in item:
        kind = item["type"]
        if kind != "veth":
            why = _UNSUPPORTED_LINKS.get(str(kind), "containerlab has no such link type")
            raise Invalid(f"links of type {kind} are not supported: {why} (vtui takes veth)", (*where, "type"))
        values = check_table(item, _VETH_KEYS, where)
        ends = _endpoint_objects(values["endpoints"], (*where, "endpoints"))
    else:
        values = check_table(item, _BRIEF_KEYS, where)
        ends = _endpoint_words(values["endpoints"], (*where, "endpoints"))
    for family in ("ipv4", "ipv6"):
        for position, address in enumerate(values[family] or ()):
            if address:
                end = ends[position]
                ends[position] = LabEnd(end.node, end.ifname, (*end.addresses, address))
    return LabLink(ends[0], ends[1], values["mtu"], values["impair"] or {}, values["state"], line)


def _endpoint_words(value: object, where: KeyPath) -> list[LabEnd]:
    if not isinstance(value, list) or len(value) != 2:
        raise Invalid('must be two ends, e.g. ["r1:eth1", "r2:eth1"]', where)
    ends = []
    for position, word in enumerate(value):
        node, colon, ifname = str(word).partition(":") if isinstance(word, str) else ("", "", "")
        if not (node and colon and ifname):
            raise Invalid(f"{word!r}: an end is NODE:INTERFACE, e.g. r1:eth1", (*where, position))
        ends.append(LabEnd(node.strip(), ifname.strip()))
    return ends


def _endpoint_objects(value: object, where: KeyPath) -> list[LabEnd]:
    if not isinstance(value, list) or len(value) != 2:
        raise Invalid("must be two ends, each {node: …, interface: …}", where)
    ends = []
    for position, raw in enumerate(value):
        end = check_table(raw, _ENDPOINT_KEYS, (*where, position))
        addresses = tuple(a for a in (end["ipv4"], end["ipv6"]) if a)
        ends.append(LabEnd(end["node"], end["interface"], addresses))
    return ends
