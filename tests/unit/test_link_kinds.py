"""The seam between the links service and the kinds of link: a kind defined in one test module
(tests/support/fake_kind.py) and registered through vtui.net.kinds alone is added, listed, taken
down and up, impaired, wired again and removed by the service, and its records round-trip through
the links file. The VMs are libvirt's test driver's (no engine, no kernel objects)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import libvirt
import pytest

from tests.support import fake_kind
from vtui.backends.libvirt import LibvirtBackend
from vtui.cli.main import main
from vtui.errors import LinkError
from vtui.links.wiring import Wiring
from vtui.model import Node
from vtui.net.book import LinkBook
from vtui.net.kinds import NodeEnd, kind_for, kind_named, kinds, register, unregister
from vtui.net.plan import Impairment

URI = "test:///default"


@pytest.fixture
def fake() -> Iterator[None]:
    register(fake_kind.KIND)
    fake_kind.WIRED.clear()
    fake_kind.calls.clear()
    yield
    unregister(fake_kind.NAME)


@pytest.fixture
def vms() -> Iterator[list[str]]:
    """Two running VMs of the test driver (its state is the process's while a connection is open)."""
    conn = libvirt.open(URI)
    names = [f"vtk-{uuid.uuid4().hex[:6]}-{n}" for n in range(2)]
    domains = [conn.defineXML(f"<domain type='test'><name>{name}</name><memory>8192</memory>"
                              "<os><type>hvm</type></os></domain>") for name in names]
    for domain in domains:
        domain.create()
    yield names
    for domain in domains:
        domain.destroy()
        domain.undefine()
    conn.close()


@pytest.fixture
async def wiring(vms: list[str], fake: None, tmp_path: Path) -> AsyncIterator[Wiring]:
    backend = LibvirtBackend("local", URI)
    await backend.connect()
    nodes: list[Node] = await backend.list_nodes()
    yield Wiring([backend], lambda: nodes, LinkBook(tmp_path / "links.json"))
    await backend.close()


def test_the_registry_holds_the_kinds_in_order_and_refuses_a_second_of_one_name(fake: None) -> None:
    assert [k.name for k in kinds()] == ["veth", "vm", "segment", "vxlan", "fake"]
    assert kind_named("fake") is fake_kind.KIND
    class Other(fake_kind.FakeKind):
        name = "veth"

    with pytest.raises(LinkError, match="'veth' is registered already"):
        register(Other())
    assert kind_named("veth") is not fake_kind.KIND
    with pytest.raises(LinkError, match="a link of kind 'nope': this vtui knows veth, vm, segment, vxlan, fake"):
        kind_named("nope")


def test_vtui_link_kinds_lists_the_registry_with_a_kind_added_alone(fake: None,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["link", "kinds", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["name"] for k in listed] == ["veth", "vm", "segment", "vxlan", "fake"]
    assert [k["by_add"] for k in listed] == [True, True, False, True, fake_kind.KIND.by_add]
    assert main(["link", "kinds"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["KIND", "BY", "LINK", "ADD", "TAKEN"] and table[1].startswith("veth ")
    assert table[-1].startswith("fake ") and fake_kind.KIND.about in table[-1]


async def test_a_kind_registered_alone_is_driven_by_the_links_service(wiring: Wiring, vms: list[str],
                                                                      tmp_path: Path) -> None:
    a, b = (wiring.node_and_ifname(name)[0] for name in vms)
    ends = NodeEnd(a, None, (), nic=True), NodeEnd(b, None, (), nic=True)
    assert kind_for(*ends).name == "vm"  # the first kind that fits, unless another is named
    assert kind_for(*ends, "fake") is fake_kind.KIND
    with pytest.raises(LinkError, match=r"--kind veth: .* take a vm link: a VM is an end"):
        await wiring.add(vms[0], vms[1], kind="veth")

    record, made = await wiring.add(vms[0], vms[1], kind="fake")
    assert made and record.kind == "fake" and (str(record.a), str(record.b)) == (f"{vms[0]}:f0", f"{vms[1]}:f1")
    assert record.id in fake_kind.WIRED and fake_kind.calls == [("make", record.id)]
    again, made = await wiring.add(vms[0], vms[1], kind="fake")
    assert (again, made) == (record, False) and fake_kind.calls[-1] == ("rewire", record.id)

    [view] = await wiring.views()
    assert (view.record, view.state, view.ends["a"].up) == (record, "up", True)
    assert wiring.links_of(a) == [f"f0 → fake {vms[1]}"]

    record = await wiring.set_admin(record, ["a"], False)
    assert record.down == {"a"} and fake_kind.WIRED[record.id]["a"][0] is False
    assert [v.state for v in await wiring.views()] == ["down"]
    record = await wiring.impair(record, ["b"], Impairment(delay_ms=20))
    assert fake_kind.WIRED[record.id]["b"][1] == Impairment(delay_ms=20)

    stored = json.loads((tmp_path / "links.json").read_text())["links"]
    assert [(s["kind"], s["down"], s["impair"]) for s in stored] == [("fake", ["a"], {"b": {"delay_ms": 20}})]
    assert LinkBook(tmp_path / "links.json").load() == {record.id: record}  # a new reader: the same record

    fake_kind.WIRED.pop(record.id)  # as if a node restarted: the kind's objects are gone
    assert [v.state for v in await wiring.views()] == ["unwired"]
    assert await wiring.rewire(record) is True  # made again, with the state and impairment it had
    assert fake_kind.WIRED[record.id] == {"a": (False, Impairment()), "b": (True, Impairment(delay_ms=20))}
    record = await wiring.set_admin(record, ["a"], True)
    assert [v.state for v in await wiring.views()] == ["up"] and not record.down

    assert await wiring.delete(record) is True
    assert record.id not in fake_kind.WIRED and wiring.book.load() == {} and await wiring.views() == []
    other, _ = await wiring.add(vms[1], vms[0], kind="fake")
    assert await wiring.delete_many([other]) == [True] and wiring.book.load() == {}


async def test_a_link_of_a_kind_this_vtui_lacks_is_listed_as_waiting(wiring: Wiring, vms: list[str]) -> None:
    record, _ = await wiring.add(vms[0], vms[1], kind="fake")
    unregister(fake_kind.NAME)  # a links file written by a vtui that had the kind
    [view] = await wiring.views()
    assert (view.state, view.reason) == ("waiting", "a link of kind 'fake': this vtui knows veth, vm, segment, vxlan")
    with pytest.raises(LinkError, match="a link of kind 'fake'"):
        await wiring.delete(record)
    assert list(wiring.book.load()) == [record.id]  # kept: nothing was removed
