"""Links outlive their nodes: a container that starts again gets its links back from vtui (the hub's
events, no user action), addresses and impairments included; a new vtui lists the same links."""

from __future__ import annotations

import asyncio
import subprocess
import time

from tests.conftest import Containers, vtui
from tests.engines.test_links import inside, links_of, soon
from vtui.backends.docker import DockerBackend
from vtui.links.wiring import Wiring
from vtui.model import State
from vtui.net.plan import Impairment
from vtui.services.hub import Hub

SOCKET = "unix:///var/run/docker.sock"


def ping_once(name: str, address: str) -> bool:
    done = subprocess.run(["docker", "exec", name, "ping", "-c", "1", "-W", "1", address],
                          capture_output=True, timeout=30)
    return done.returncode == 0


async def test_a_restarted_container_gets_its_link_back_within_2_s_of_its_start(containers: Containers) -> None:
    a, b = containers.run(), containers.run()
    hub = Hub([DockerBackend("local", SOCKET)], interval=5)
    wiring = Wiring(hub.backends, lambda: hub.inventory.nodes)
    rewired: list[str] = []
    wiring.on_rewired = rewired.append
    started: list[float] = []

    def seen(inventory: object) -> None:
        wiring.follow(hub.inventory.nodes)
        if any(n.name == b.name and n.state is State.RUNNING for n in hub.inventory.nodes) and started == [0.0]:
            started[0] = time.monotonic()  # the start event, as the hub published it

    hub.subscribe(seen)
    hub.start()
    try:
        while not any(n.name == b.name for n in hub.inventory.nodes):
            await asyncio.sleep(0.05)
        record, _ = await wiring.add(a.name, b.name, addresses={"a": ["10.81.0.1/30"], "b": ["10.81.0.2/30"]})
        await wiring.impair(record, ["b"], Impairment(rate_kbit=50_000))
        assert await asyncio.to_thread(ping_once, a.name, "10.81.0.2")

        await asyncio.to_thread(b.handle.stop, timeout=0)
        gone = await asyncio.to_thread(soon, lambda: "eth1" not in links_of(a))
        assert gone  # the peer's end went with the namespace (the kernel cleans up soon after): no blackhole
        started.append(0.0)
        await asyncio.to_thread(b.handle.start)
        while not started[0]:
            await asyncio.sleep(0.01)
        while not await asyncio.to_thread(ping_once, a.name, "10.81.0.2"):
            assert time.monotonic() - started[0] < 5, f"no ping 5 s after the start; {rewired}"
        took = time.monotonic() - started[0]
        print(f"ping passed {took:.3f} s after the start event")
        assert took < 2, f"ping passed {took:.2f} s after the start event"
        assert rewired == [f"link {record} wired again"]
        assert "tbf" in await asyncio.to_thread(inside, b, "tc", "qdisc", "show", "dev", "eth1")

        listed = vtui("link", "ls", "--json", "--no-libvirt")  # another vtui: the same one link
        assert listed.returncode == 0 and listed.stdout.count(f'"id": "{record.id}"') == 1
        await wiring.delete(record)
    finally:
        await hub.stop()
