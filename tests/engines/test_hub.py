"""The hub reconnects with backoff when an engine comes back."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from tests.conftest import Containers
from vtui.backends.docker import DockerBackend
from vtui.model import EngineState, Inventory
from vtui.services import hub as hub_module
from vtui.services.hub import Hub


async def until(hub: Hub, predicate: object, timeout: float = 10.0) -> Inventory:
    assert callable(predicate)
    async with asyncio.timeout(timeout):
        while not predicate(hub.inventory):
            await asyncio.sleep(0.02)
    return hub.inventory


async def test_engine_that_appears_later_is_picked_up(
    tmp_path: Path, containers: Containers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "RETRY_FIRST", 0.1)
    running = containers.run()
    socket_path = tmp_path / "docker.sock"
    hub = Hub([DockerBackend("local", f"unix://{socket_path}")])
    hub.start()
    try:
        down = await until(hub, lambda inv: inv.engines[0].state is EngineState.UNAVAILABLE)
        assert "dockerd is not running" in down.engines[0].reason and not down.nodes
        os.symlink("/var/run/docker.sock", socket_path)  # the daemon "starts"
        up = await until(hub, lambda inv: inv.engines[0].state is EngineState.UP)
        assert running.id in {n.id for n in up.nodes}
    finally:
        await hub.stop()


async def test_warm_up_lists_before_docker_py_and_an_action_at_once_waits_for_the_connection(
    containers: Containers,
) -> None:
    """The TUI lists this machine's containers with one GET on the socket while it loads (warm_up),
    before docker-py is imported: they are in the hub's first snapshot, and an action on one of them
    taken at once waits for the connection instead of failing with "not connected"."""
    running = containers.run()
    backend = DockerBackend("local", "unix:///var/run/docker.sock")
    backend.warm_up()
    async with asyncio.timeout(10):
        while backend._first is not None and not backend._first.done():  # the listing's thread
            await asyncio.sleep(0.01)
    hub = Hub([backend])
    assert running.id in {n.id for n in hub.inventory.nodes}
    assert hub.inventory.engines[0].state is EngineState.UP
    node = next(n for n in hub.inventory.nodes if n.id == running.id)
    asked = asyncio.create_task(backend.netns_pid(node))  # the user is quicker than docker-py's import
    await asyncio.sleep(0.1)
    hub.start()
    try:
        running.handle.reload()
        assert await asked == running.handle.attrs["State"]["Pid"]
    finally:
        await hub.stop()


class SocketRelay:
    """A unix socket relaying to dockerd, which the test can cut and restore: a real lost connection."""

    def __init__(self, path: Path, target: str = "/var/run/docker.sock") -> None:
        self.path, self.target = path, target
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._serve, str(self.path))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()
        self.path.unlink(missing_ok=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        docker_r, docker_w = await asyncio.open_unix_connection(self.target)
        self.writers += [client_w, docker_w]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(client_r, docker_w), pipe(docker_r, client_w))


async def test_engine_lost_mid_session_is_reported_then_recovered(
    tmp_path: Path, containers: Containers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "RETRY_FIRST", 0.1)
    running = containers.run()
    relay = SocketRelay(tmp_path / "relay.sock")
    await relay.start()
    hub = Hub([DockerBackend("local", f"unix://{relay.path}")])
    hub.start()
    try:
        up = await until(hub, lambda inv: inv.engines[0].state is EngineState.UP)
        assert running.id in {n.id for n in up.nodes}
        await relay.cut()
        lost = await until(hub, lambda inv: inv.engines[0].state is EngineState.UNAVAILABLE)
        assert lost.engines[0].reason == "lost the connection to dockerd (its event stream ended)"
        assert not lost.nodes
        await relay.start()
        back = await until(hub, lambda inv: inv.engines[0].state is EngineState.UP)
        assert running.id in {n.id for n in back.nodes}
    finally:
        await hub.stop()
        await relay.cut()


async def test_a_slow_poll_delays_the_next_and_never_overlaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stats call slower than the interval (a fault real engines do not give on demand)."""
    from tests.conftest import write_test_driver_xml
    from vtui.backends.libvirt import LibvirtBackend
    from vtui.model import Node
    from vtui.model.stats import Sample

    class SlowSampler(LibvirtBackend):
        running = 0
        most = 0
        starts: ClassVar[list[float]] = []

        async def sample(self, nodes: Sequence[Node]) -> dict[str, Sample]:
            SlowSampler.running += 1
            SlowSampler.most = max(SlowSampler.most, SlowSampler.running)
            SlowSampler.starts.append(asyncio.get_running_loop().time())
            await asyncio.sleep(0.3)
            SlowSampler.running -= 1
            return {}

    hub = Hub([SlowSampler("local", write_test_driver_xml(tmp_path / "vms.xml", 3))], interval=0.1)
    hub.start()
    try:
        async with asyncio.timeout(10):
            while len(SlowSampler.starts) < 4:
                await asyncio.sleep(0.05)
    finally:
        await hub.stop()
    assert SlowSampler.most == 1
    gaps = [b - a for a, b in zip(SlowSampler.starts, SlowSampler.starts[1:], strict=False)]
    assert all(gap >= 0.29 for gap in gaps), gaps  # each waited for the previous one


async def test_rapid_state_changes_are_all_seen(containers: Containers) -> None:
    """Each pause/unpause shows up: a refresh after an event must not read dockerd's lagging list."""
    web = containers.run()
    hub = Hub([DockerBackend("local", "unix:///var/run/docker.sock")])
    hub.start()

    def state() -> str | None:
        return next((str(n.state) for n in hub.inventory.nodes if n.id == web.id), None)

    try:
        await until(hub, lambda _inv: state() == "running")
        for _ in range(6):
            for change, wanted in ((web.handle.pause, "paused"), (web.handle.unpause, "running")):
                await asyncio.to_thread(change)
                await until(hub, lambda _inv, w=wanted: state() == w, timeout=15)
    finally:
        await hub.stop()
