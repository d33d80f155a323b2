"""Live figures checked against ground truth on the real engines."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import libvirt
import pytest

from tests.conftest import TEST_IMAGE, TEST_LABELS, TEST_VM, Containers, one_core, vtui
from vtui.backends.cgroups import LocalCounters, find_layout
from vtui.backends.docker import DockerBackend
from vtui.model.stats import StatsBook

SOCKET = "unix:///var/run/docker.sock"


def ls_stats(*args: str) -> dict[str, dict[str, Any]]:
    result = vtui("ls", "--json", "--stats", *args)
    assert result.returncode == 0, result.stderr
    return {n["name"]: n for n in json.loads(result.stdout)}


def test_busy_loop_reads_one_core_and_idle_reads_near_zero(containers: Containers) -> None:
    busy = containers.run("yes > /dev/null")
    idle = containers.run()
    time.sleep(1)  # let the loop get going
    nodes = ls_stats("--no-libvirt", "--interval", "2")
    assert one_core(nodes[busy.name]["cpu_percent"]), nodes[busy.name]["cpu_percent"]
    assert nodes[idle.name]["cpu_percent"] < 5
    for key in ("mem_bytes", "mem_limit_bytes", "disk_read_bps", "disk_write_bps", "net_rx_bps", "net_tx_bps"):
        assert nodes[busy.name][key] is not None, key


def cgroup_memory_used(container_id: str) -> int:
    """The kernel's own figure, read independently of vtui: usage minus inactive file cache."""
    layout = find_layout(Path("/"), container_id)
    assert layout is not None
    if layout.version == 1:
        usage = int((layout.memory / "memory.usage_in_bytes").read_text())
        key = "total_inactive_file"
    else:
        usage = int((layout.memory / "memory.current").read_text())
        key = "inactive_file"
    stat = dict(line.split() for line in (layout.memory / "memory.stat").read_text().splitlines())
    return usage - int(stat[key])


async def test_memory_matches_the_cgroup(containers: Containers) -> None:
    hog = containers.run("head -c 41943040 /dev/zero > /dev/shm/fill && sleep 3600")  # 40 MiB in tmpfs
    backend = DockerBackend("local", SOCKET, LocalCounters())
    await backend.connect()
    try:
        deadline = time.monotonic() + 15
        while True:
            node = next(n for n in await backend.list_nodes() if n.id == hog.id)
            sample = (await backend.sample([node]))[node.key]
            truth = cgroup_memory_used(hog.id)
            assert sample.mem_bytes is not None
            if sample.mem_bytes >= 40 << 20 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await backend.close()
    assert sample.mem_bytes >= 40 << 20
    assert sample.mem_bytes == pytest.approx(truth, rel=0.02)


@pytest.fixture
def test_network(docker_client: docker.DockerClient, containers: Containers) -> Iterator[str]:
    """A bridge network of the test's own, internal: nothing leaves this machine."""
    name = f"vtui-t-net-{uuid.uuid4().hex[:6]}"
    network = docker_client.networks.create(name, internal=True, labels=TEST_LABELS)
    yield name
    containers.remove_all()  # detach them first
    network.remove()


def test_traffic_between_two_containers_shows_on_both(
    docker_client: docker.DockerClient, containers: Containers, test_network: str
) -> None:
    def on_network(command: str) -> Any:
        container = docker_client.containers.run(
            TEST_IMAGE, ["sh", "-c", command], detach=True, network=test_network,
            name=f"vtui-t-{uuid.uuid4().hex[:8]}", labels=TEST_LABELS)
        containers.made.append(container)
        return container

    server = on_network("mkdir /www && head -c 5000000 /dev/zero > /www/blob && httpd -f -p 8080 -h /www")
    server.reload()
    address = server.attrs["NetworkSettings"]["Networks"][test_network]["IPAddress"]
    # ~5 MB every 0.2 s: a steady flow from server to client
    client = on_network(f"while :; do wget -q -O /dev/null http://{address}:8080/blob; sleep 0.2; done")
    time.sleep(1.5)
    nodes = ls_stats("--no-libvirt", "--interval", "2")
    sent, received = nodes[server.name]["net_tx_bps"], nodes[client.name]["net_rx_bps"]
    assert sent > 1_000_000 and received > 1_000_000  # several MB/s flow
    assert received == pytest.approx(sent, rel=0.25)  # what one sends the other receives


def test_booting_vm_shows_cpu(test_vm: libvirt.virDomain) -> None:
    test_vm.create()
    nodes = ls_stats("--no-docker", "--interval", "1")
    vm = nodes[TEST_VM]
    assert vm["state"] == "running"
    assert vm["cpu_percent"] > 10  # a software-emulated kernel boot keeps a core busy
    assert vm["mem_bytes"] > 0 and vm["mem_limit_bytes"] == 192 << 20


async def test_restart_gives_no_negative_rate(containers: Containers) -> None:
    busy = containers.run("yes > /dev/null")
    backend = DockerBackend("local", SOCKET, LocalCounters())
    book = StatsBook(history_length=10)
    await backend.connect()
    try:
        node = next(n for n in await backend.list_nodes() if n.id == busy.id)
        for _ in range(2):
            book.record(await backend.sample([node]), owned=[node.key])
            await asyncio.sleep(0.5)
        assert book.current[node.key].cpu_percent is not None
        busy.handle.restart(timeout=0)
        book.record(await backend.sample([node]), owned=[node.key])
        after = book.current[node.key]
        assert after.cpu_percent is None or after.cpu_percent >= 0
        await asyncio.sleep(2)  # the restarted loop is read from its new cgroup, not stale files
        book.record(await backend.sample([node]), owned=[node.key])
        assert one_core(book.current[node.key].cpu_percent), book.current[node.key].cpu_percent
    finally:
        await backend.close()


async def test_unreadable_cgroup_files_fall_back_to_the_api_with_a_note(
    containers: Containers, tmp_path: Path
) -> None:
    busy = containers.run("yes > /dev/null")
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/meminfo").write_text("MemTotal: 1000 kB\n")
    backend = DockerBackend("local", SOCKET, LocalCounters(tmp_path))  # files out of reach
    await backend.connect()
    try:
        node = next(n for n in await backend.list_nodes() if n.id == busy.id)
        first = await backend.sample([node])
        await asyncio.sleep(2)  # long against the API's own latency, which skews the window
        second = await backend.sample([node])
    finally:
        await backend.close()
    assert "come from the Docker API" in backend.stats_note
    book = StatsBook(10)
    book.record(first)
    book.record(second)
    assert one_core(book.current[node.key].cpu_percent), book.current[node.key].cpu_percent
