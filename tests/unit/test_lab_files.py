"""containerlab topology files read as containerlab reads them, with vtui's additions; what is wrong
is named by file, line and key, and nothing is deployed from a file that has it."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtui.cli.main import main
from vtui.errors import ConfigError
from vtui.labs.clab import read_lab
from vtui.labs.graph import draw, layers
from vtui.labs.topology import CLAB_MTU, NodeKind
from vtui.net.plan import Impairment

# containerlab's own example (lab-examples/srl01-like, with a linux kind), as its users write it
CLAB = """\
name: demo
prefix: ""
topology:
  kinds:
    linux:
      image: alpine:3
      env: {ROLE: host}
  defaults:
    labels: {team: net}
  groups:
    edge:
      labels: {tier: edge}
  nodes:
    srl:
      kind: nokia_srlinux
      image: ghcr.io/nokia/srlinux
      startup-config: srl.cfg
    h1:
      kind: linux
      group: edge
      exec: ["ip addr add 10.0.0.1/24 dev eth1"]
      binds: ["./data:/data:ro", "named:/var/lib"]
    h2: {kind: linux, env: {ROLE: peer}}
    br0: {kind: bridge}
  links:
    - endpoints: ["srl:e1-1", "h1:eth1"]
    - type: veth
      endpoints:
        - {node: h2, interface: eth1, ipv4: 10.0.1.2/24}
        - {node: br0, interface: p1}
      mtu: 1500
    - endpoints: ["h1:eth2", "h2:eth2"]
      ipv4: [10.0.2.1/30, 10.0.2.2/30]
      impair: {a: 10mbit 20ms, b: loss 1%}
      state: down
"""


def write(tmp_path: Path, text: str, name: str = "lab.clab.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        read_lab(write(tmp_path, text))
    return str(caught.value)


def test_a_containerlab_file_is_read_as_containerlab_reads_it(tmp_path: Path) -> None:
    lab = read_lab(write(tmp_path, CLAB))
    assert (lab.name, list(lab.nodes)) == ("demo", ["srl", "h1", "h2", "br0"])
    h1, h2, srl = lab.nodes["h1"], lab.nodes["h2"], lab.nodes["srl"]
    assert (h1.image, h1.env, h1.labels) == ("alpine:3", {"ROLE": "host"}, {"team": "net", "tier": "edge"})
    assert h2.env == {"ROLE": "peer"}  # the node's own value over its kind's
    assert h1.binds == (f"{tmp_path}/data:/data:ro", "named:/var/lib")  # relative to the file; a volume stays
    assert h1.exec == ("ip addr add 10.0.0.1/24 dev eth1",)
    assert (srl.becomes, lab.nodes["br0"].becomes) == (NodeKind.CONTAINER, NodeKind.SEGMENT)
    assert lab.container_name("h1") == "h1"  # prefix ""
    assert any("srl: startup-config" in note for note in lab.notes)
    assert any("kind nokia_srlinux runs as a plain container" in note for note in lab.notes)
    first, veth, third = lab.links
    assert (str(first), first.mtu, first.line) == ("srl:e1-1 — h1:eth1", None, 26)
    assert (veth.a.addresses, veth.mtu) == (("10.0.1.2/24",), 1500)
    assert (third.a.addresses, third.b.addresses, third.down) == (("10.0.2.1/30",), ("10.0.2.2/30",), True)
    assert third.impair == {"a": Impairment(rate_kbit=10000, delay_ms=20.0), "b": Impairment(loss_pct=1.0)}


def test_container_names_follow_containerlabs_prefix(tmp_path: Path) -> None:
    base = "topology:\n  nodes:\n    r1: {kind: linux, image: x}\n"
    assert read_lab(write(tmp_path, "name: l1\n" + base)).container_name("r1") == "clab-l1-r1"
    assert read_lab(write(tmp_path, "name: l1\nprefix: lab\n" + base)).container_name("r1") == "lab-l1-r1"
    assert read_lab(write(tmp_path, "name: l1\nprefix: __lab-name\n" + base)).container_name("r1") == "l1-r1"
    assert CLAB_MTU == 9500


@pytest.mark.parametrize(("text", "said"), [
    ("name: x\ntopology:\n  nodes:\n    r1: {kind: linux, imgae: y}\n",
     "line 4: topology.nodes.r1.imgae: unknown key (did you mean image?)"),
    ("name: x\ntopologie: {}\n", "line 2: topologie: unknown key"),
    ("name: x\ntopology:\n  nodes:\n    r1: {kind: linux, image: y}\n  links:\n    - endpoints: [r1:eth1, r9:eth1]\n",
     "line 6: topology.links #1.endpoints #2: unknown node 'r9' (the file's nodes: r1)"),
    ("name: x\ntopology:\n  nodes:\n    r1: {kind: linux, image: y}\n    r2: {kind: linux, image: y}\n"
     "  links:\n    - endpoints: [r1:eth1, r2:eth1]\n    - endpoints: [r1:eth1, r2:eth2]\n",
     "line 8: topology.links #2.endpoints #1: r1:eth1 is an end of link #1 (line 7) already"),
    ("name: x\ntopology:\n  nodes:\n    r1: {kind: linux}\n", "topology.nodes.r1.image: is required for a linux node"),
    ("name: x\ntopology:\n  nodes:\n    r1: {image: y}\n", "topology.nodes.r1.kind: is required"),
    ("name: x\ntopology:\n  nodes:\n    r1: {kind: linux, image: y}\n  links:\n"
     "    - type: dummy\n      endpoint: {node: r1, interface: d0}\n",
     "line 6: topology.links #1.type: links of type dummy are not supported"),
    ("name: x\ntopology:\n  nodes:\n    r1: {kind: linux, image: y}\n    r2: {kind: linux, image: y}\n  links:\n"
     "    - endpoints: [r1:eth1, r2:eth1]\n      impair: 10 furlongs\n",
     "line 8: topology.links #1.impair: '10': write a rate"),
    ("name: x\ntopology:\n  nodes:\n    r1: {kind: linux, image: y}\n    r2: {kind: linux, image: y}\n  links:\n"
     "    - endpoints: [r1:eth1, r2:eth1]\n      mtu: 40\n", "line 8: topology.links #1.mtu: MTU 40"),
    ("name: x\ntopology:\n  nodes:\n    r1: {kind: linux, image: y}\n    r2: {kind: linux, image: y}\n  links:\n"
     "    - endpoints: [r1:eth1, 'r2:e th1']\n", "'e th1' on node r2: an interface name has letters"),
    ("name: x\ntopology:\n  nodes:\n    b1: {kind: bridge}\n    b2: {kind: bridge}\n  links:\n"
     "    - endpoints: [b1:p1, b2:p1]\n", "line 7: topology.links #1: links two bridges"),
    ("name: x\ntopology:\n  nodes:\n    v: {kind: libvirt}\n", "topology.nodes.v: a libvirt node names an existing VM"),
    ("name: x y\ntopology:\n  nodes: {}\n", "line 1: name: letters, digits"),
    ("name: x\ntopology:\n  nodes:\n    r1: {kind: linux, image: y\n", "not YAML"),
    ("- just\n- a list\n", "a lab file is a YAML mapping"),
])
def test_what_is_wrong_is_named_by_line_and_key(tmp_path: Path, text: str, said: str) -> None:
    message = refused(tmp_path, text)
    assert message.startswith(str(tmp_path / "lab.clab.yml")) and said in message, message


def test_a_libvirt_node_of_a_domain_xml_takes_the_domains_name(tmp_path: Path) -> None:
    write(tmp_path, "<domain type='qemu'><name>lab-vm</name></domain>", "vm.xml")
    lab = read_lab(write(tmp_path, "name: x\ntopology:\n  nodes:\n    v: {kind: libvirt, xml: vm.xml, host: h2}\n"))
    node = lab.nodes["v"]
    assert (node.becomes, node.domain, node.host, node.made_by_lab) == (NodeKind.VM, "lab-vm", "h2", True)
    missing = refused(tmp_path, "name: x\ntopology:\n  nodes:\n    v: {kind: libvirt, xml: none.xml}\n")
    assert "line 4: topology.nodes.v.xml: cannot read" in missing


def test_a_lab_is_drawn_in_layers_and_as_mermaid_and_dot(tmp_path: Path) -> None:
    lab = read_lab(write(tmp_path, CLAB))
    assert layers(lab) == [["srl"], ["h1"], ["h2"], ["br0"]]
    text = draw(lab, "ascii")
    assert "[h1] eth2 ──── eth2 [h2]  down · a 10000kbit 20ms; b loss 1%" in text
    assert "[h2] eth1 ──── p1 (br0)" in text
    assert 'n1 ---|"eth2 — eth2 (down)"| n2' in draw(lab, "mermaid")
    dot = draw(lab, "dot", {frozenset({("srl", "e1-1"), ("h1", "eth1")}): "up"})
    assert '"srl" -- "h1" [taillabel="e1-1", headlabel="eth1", label="up"];' in dot
    assert 'style=dashed' in dot.splitlines()[-2]


def test_vtui_lab_graph_refuses_a_format_it_does_not_draw(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, CLAB)
    assert main(["lab", "graph", str(path), "--format", "svg"]) == 2
    assert capsys.readouterr().err.strip() == "vtui: no graph format 'svg' (formats: ascii, mermaid, dot)"
    assert main(["lab", "graph", str(path), "--format", "mermaid"]) == 0
    assert capsys.readouterr().out.startswith("graph")
