"""Segments in real kernels: a bridge in the host's namespace with three containers as members;
every member reaches every other, a second wiring changes nothing, removal leaves nothing. Each
test runs with both executors (netlink here, the sh scripts a remote host runs)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import Containers, sh
from tests.engines.test_links import inside, links_of, no_stream, pid, pings, run_sh, soon
from vtui.errors import LinkError
from vtui.net.bridge import Bridge, JoinPort, MakeBridge, RemoveBridge
from vtui.net.executor import Executor, LocalExecutor, ShellExecutor
from vtui.net.plan import End, Veth


@pytest.fixture(params=["netlink", "ip-script"])
def ex(request: pytest.FixtureRequest) -> Executor:
    return LocalExecutor() if request.param == "netlink" else ShellExecutor(run_sh, no_stream, "local")


def segment(bridge: Bridge, *args: str) -> str:
    """`ip` inside the segment's own namespace."""
    return subprocess.run(["ip", "-n", bridge.namespace, *args], capture_output=True, text=True, check=True).stdout


NF_CALL_IPTABLES = "/proc/sys/net/bridge/bridge-nf-call-iptables"


def br_netfilter_loaded() -> bool:
    return Path(NF_CALL_IPTABLES).exists()


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


def host_links() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout


async def test_three_members_of_a_segment_reach_each_other(containers: Containers, ex: Executor) -> None:
    boxes = [containers.run() for _ in range(3)]
    bridge = Bridge(uuid.uuid4().hex[:8])
    assert await ex.run(MakeBridge(bridge)) is True
    assert await ex.run(MakeBridge(bridge)) is False
    ports = [Veth(f"{bridge.id}.{n}", End(pid(box), "eth1", f"container {box.name!r}", (f"10.88.0.{n + 1}/24",)),
                  bridge.port(n)) for n, box in enumerate(boxes)]
    try:
        for port in ports:
            assert await ex.run(JoinPort(port, bridge)) is True
        assert await ex.run(JoinPort(ports[0], bridge)) is False
        shown = segment(bridge, "-d", "link", "show", bridge.ifname)
        assert "stp_state 0" in shown and "forward_delay 0" in shown and f"alias {bridge.alias}" in shown
        if br_netfilter_loaded():  # bridged frames skip the IP hooks in the segment's namespace
            assert sh("ip", "netns", "exec", bridge.namespace, "cat", NF_CALL_IPTABLES) == "0"
        for n in range(3):
            assert f"master {bridge.ifname}" in segment(bridge, "link", "show", bridge.port(n).ifname)
        assert soon(lambda: all("NO-CARRIER" not in links_of(box)["eth1"] for box in boxes))
        assert pings(boxes[0], "10.88.0.2") and pings(boxes[0], "10.88.0.3") and pings(boxes[1], "10.88.0.3")
    finally:
        for port in ports:
            await ex.unwire(port)
        assert await ex.run(RemoveBridge(bridge)) is True
    assert bridge.namespace not in namespaces()  # bridge and ports went with it
    assert all(set(links_of(box)) == {"eth0"} for box in boxes)
    assert await ex.run(RemoveBridge(bridge)) is False


async def test_a_port_without_its_bridge_leaves_nothing(containers: Containers, ex: Executor) -> None:
    box = containers.run()
    bridge = Bridge(uuid.uuid4().hex[:8])
    port = Veth(f"{bridge.id}.0", End(pid(box), "eth1", f"container {box.name!r}"), bridge.port(0))
    with pytest.raises(LinkError, match=rf"segment {bridge.id} on local"):
        await ex.run(JoinPort(port, bridge))
    assert set(links_of(box)) == {"eth0"} and "port0" not in host_links()
    assert "eth0" in inside(box, "ip", "-o", "link")
