"""The hub reconnects with backoff when an engine comes back."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.conftest import Containers
from vtui import hub as hub_module
from vtui.backends.docker import DockerBackend
from vtui.hub import Hub
from vtui.model import EngineState, Inventory


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
