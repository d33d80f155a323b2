"""VXLAN ends in real kernels: two underlays (network namespaces this test makes, joined by a veth,
standing for two hosts) and a container's end on each; traffic crosses, the device is what the
plan says, removal is complete. Both executors: netlink, and the sh script a remote host runs."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import RUN, Containers, sh
from tests.engines.test_links import links_of, pid, pings
from vtui.net.executor import Executor, LocalExecutor, ShellExecutor
from vtui.net.plan import End
from vtui.net.vxlan import PORT, MakeEnd, RemoveEnd, VxlanEnd


@pytest.fixture
def underlays() -> Iterator[tuple[str, str]]:
    """Two namespaces joined by a veth, 10.96.0.1 and .2: the two hosts' own networks."""
    names = (f"vtui-ul-{RUN}-a", f"vtui-ul-{RUN}-b")
    for name in names:
        sh("ip", "netns", "add", name)
    try:
        sh("ip", "link", "add", "ul0", "netns", names[0], "type", "veth", "peer", "name", "ul0", "netns", names[1])
        for n, name in enumerate(names):
            sh("ip", "-n", name, "addr", "add", f"10.96.0.{n + 1}/24", "dev", "ul0")
            sh("ip", "-n", name, "link", "set", "ul0", "up")
        yield names[0], names[1]
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


async def no_stream(command: str):  # type: ignore[no-untyped-def]
    raise AssertionError("no capture here")
    yield b""


def in_underlay(name: str) -> ShellExecutor:
    """The script executor, run by a shell in the underlay's namespace (as on a remote host)."""
    async def run(command: str) -> str:
        done = await asyncio.create_subprocess_exec("ip", "netns", "exec", name, "sh", "-c", command,
                                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await done.communicate()
        return out.decode()

    return ShellExecutor(run, no_stream, name)


@pytest.mark.parametrize("executor", ["netlink", "ip-script"])
async def test_two_containers_talk_through_a_vxlan_tunnel(
    containers: Containers, underlays: tuple[str, str], executor: str,
) -> None:
    a, b = containers.run(), containers.run()
    link_id = uuid.uuid4().hex[:8]
    ends = [VxlanEnd(link_id, side, End(pid(box), "eth1", f"container {box.name!r}", (f"10.97.0.{n + 1}/30",)),
                     f"10.96.0.{n + 1}", f"10.96.0.{2 - n}", 1450,
                     underlay=f"/run/netns/{ul}" if executor == "netlink" else "")
            for n, (side, box, ul) in enumerate((("a", a, underlays[0]), ("b", b, underlays[1])))]
    exs: list[Executor] = ([LocalExecutor(), LocalExecutor()] if executor == "netlink"
                           else [in_underlay(u) for u in underlays])
    for ex, end in zip(exs, ends, strict=True):
        assert await ex.run(MakeEnd(end)) is True
        assert await ex.run(MakeEnd(end)) is False
    shown = links_of(a)["eth1"]
    assert f"vxlan id {ends[0].vni} remote 10.96.0.2 local 10.96.0.1" in shown and f"dstport {PORT}" in shown
    assert "nolearning" in shown and "mtu 1450" in shown and f"alias vtui:{link_id}:a" in shown
    assert await asyncio.to_thread(pings, a, "10.97.0.2") and await asyncio.to_thread(pings, b, "10.97.0.1")
    for ex, end in zip(exs, ends, strict=True):
        assert await ex.run(RemoveEnd(end)) is True
        assert await ex.run(RemoveEnd(end)) is False
    assert "eth1" not in links_of(a) and "eth1" not in links_of(b)


async def test_the_route_to_another_host_names_the_source_or_none(underlays: tuple[str, str]) -> None:
    ex = in_underlay(underlays[0])
    assert await ex.route_source("10.96.0.2") == "10.96.0.1"
    assert await ex.route_source("192.0.2.7") is None  # no route: TEST-NET-1, never on this network
    assert await ex.addresses() == ["10.96.0.1"]
