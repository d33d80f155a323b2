"""A container and a VM linked in the kernel: the VM gets a virtio NIC hot-plugged (live and in its
definition) on a tap vtui owns, stitched to the container's veth by tc. The guest's side is driven
over its serial console; the test bed's VM loads virtio-net at boot."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import libvirt
import pytest

from tests.conftest import SYSTEM_URI, Containers, sh, vtui
from tests.engines.test_actions import odd_vm  # noqa: F401
from tests.engines.test_console_vm import FORCE, Copy, node_of, prompt, read_until, vm_copy  # noqa: F401
from tests.engines.test_links import pid, pings
from vtui.backends.docker import DockerBackend
from vtui.backends.libvirt import LibvirtBackend
from vtui.console.session import ConsoleSession
from vtui.links.wiring import Wiring
from vtui.model import Inventory, State
from vtui.net.book import LinkBook
from vtui.services.hub import Hub


async def guest(session: ConsoleSession, command: str, marker: str = "DONE") -> bytes:
    """Run a shell command in the guest; its output up to `marker` (printed only when it ran)."""
    half = len(marker) // 2
    await session.write(f"{command}; echo {marker[:half]}''{marker[half:]}\r".encode())
    return await read_until(session, marker.encode(), timeout=30)


async def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(vtui, "link", *args, env=env)


# the hot-plugged NIC appears once the guest's PCI hotplug and virtio-net have seen it
UP = ("until ip link show eth0 >/dev/null 2>&1; do sleep 0.2; done; "
      "ip link set eth0 up; ip addr add 10.94.0.2/24 dev eth0")


def nics(dom: libvirt.virDomain, flags: int = 0) -> int:
    return int(dom.XMLDesc(flags).count("<interface "))


def taps(link_id: str) -> str:
    shown = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return "\n".join(line for line in shown.splitlines() if f"vt{link_id}" in line)


async def test_a_container_and_a_vm_ping_through_a_hot_plugged_nic(
    vm_copy: Copy, libvirt_backend: LibvirtBackend, containers: Containers, tmp_path: Path,
) -> None:
    dom = vm_copy("link")
    box = containers.run()
    env = {"VTUI_STATE_DIR": str(tmp_path)}
    session = await libvirt_backend.open_console(await node_of(libvirt_backend, dom), FORCE)
    try:
        await prompt(session)
        made = await cli(env, "add", box.name, dom.name(), "--ip-a", "10.94.0.1/24", "--mtu", "1400")
        assert made.returncode == 0, made.stderr
        link_id = made.stdout.split("link ")[1].split()[0]
        assert nics(dom) == 1 and nics(dom, libvirt.VIR_DOMAIN_XML_INACTIVE) == 1  # live, and for good
        assert "mtu 1400" in taps(link_id)
        ethtool = await asyncio.to_thread(sh, "nsenter", f"--net=/proc/{pid(box)}/ns/net", "ethtool", "-k", "eth1")
        assert "tx-checksumming: off" in ethtool  # the guest's emulated NIC checks real sums
        await guest(session, UP)
        assert await asyncio.to_thread(pings, box, "10.94.0.2")
        assert b"PINGOK" in await guest(session, "ping -c 1 -W 2 10.94.0.1 && echo PING''OK", "DONE")

        assert (await cli(env, "set", link_id, "--down")).returncode == 0
        assert b"carrier 0" in await guest(session, "echo carrier $(cat /sys/class/net/eth0/carrier)")
        assert not await asyncio.to_thread(pings, box, "10.94.0.2")
        assert (await cli(env, "set", link_id, "--up")).returncode == 0
        assert b"carrier 1" in await guest(session, "echo carrier $(cat /sys/class/net/eth0/carrier)")
        assert await asyncio.to_thread(pings, box, "10.94.0.2")

        # the container restarts: its veth is gone, and `repair` (what a running vtui does on the
        # start event) makes it and the stitch anew, address included
        await asyncio.to_thread(box.handle.restart, timeout=0)
        repaired = await cli(env, "repair", link_id)
        assert repaired.returncode == 0 and "wired again" in repaired.stdout, repaired.stderr
        assert await asyncio.to_thread(pings, box, "10.94.0.2")
    finally:
        await session.close()

    # the VM restarts: its NIC comes from its definition, on the same tap
    await asyncio.to_thread(dom.destroy)
    await asyncio.to_thread(dom.create)
    session = await libvirt_backend.open_console(await node_of(libvirt_backend, dom), FORCE)
    try:
        await prompt(session)
        await guest(session, UP)
        assert await asyncio.to_thread(pings, box, "10.94.0.2")
    finally:
        await session.close()

    removed = await cli(env, "del", link_id, "--yes")
    assert removed.returncode == 0, removed.stderr
    assert nics(dom) == 0 and nics(dom, libvirt.VIR_DOMAIN_XML_INACTIVE) == 0 and taps(link_id) == ""


async def test_a_vm_end_takes_no_interface_name_or_address(
    vm_copy: Copy, containers: Containers, tmp_path: Path,
) -> None:
    dom = vm_copy("link-bad", start=False)
    box = containers.run()
    env = {"VTUI_STATE_DIR": str(tmp_path)}
    named = await cli(env, "add", box.name, f"{dom.name()}:eth3")
    assert named.returncode == 1 and "its end is a new NIC, named inside the guest" in named.stderr
    addressed = await cli(env, "add", box.name, dom.name(), "--ip-b", "10.0.0.2/24")
    assert addressed.returncode == 1 and "set its NIC's address inside the guest" in addressed.stderr
    assert nics(dom, libvirt.VIR_DOMAIN_XML_INACTIVE) == 0


async def test_two_vms_ping_through_two_stitched_taps(
    vm_copy: Copy, libvirt_backend: LibvirtBackend, tmp_path: Path,
) -> None:
    one, two = vm_copy("link-1"), vm_copy("link-2")
    env = {"VTUI_STATE_DIR": str(tmp_path)}
    sessions = [await libvirt_backend.open_console(await node_of(libvirt_backend, d), FORCE) for d in (one, two)]
    try:
        for session in sessions:
            await prompt(session)
        made = await cli(env, "add", one.name(), two.name())
        assert made.returncode == 0, made.stderr
        link_id = made.stdout.split("link ")[1].split()[0]
        assert len(taps(link_id).splitlines()) == 2  # a tap each, nothing else
        for n, session in enumerate(sessions):
            await guest(session, UP.replace("10.94.0.2", f"10.95.0.{n + 1}"))
        assert b"PINGOK" in await guest(sessions[0], "ping -c 2 -W 2 10.95.0.2 && echo PING''OK")
        impaired = await cli(env, "impair", link_id, "--dir", "a", "--rate", "2mbit")
        assert impaired.returncode == 0, impaired.stderr
        shown = await asyncio.to_thread(sh, "tc", "qdisc", "show", "dev", f"vt{link_id}b")
        assert "tbf" in shown  # what VM a sends leaves the host toward VM b through b's tap
        removed = await cli(env, "del", link_id, "--yes")
        assert removed.returncode == 0 and taps(link_id) == "", removed.stderr
        assert nics(one) == 0 and nics(two, libvirt.VIR_DOMAIN_XML_INACTIVE) == 0
    finally:
        for session in sessions:
            await session.close()


async def test_the_vm_sees_no_carrier_while_its_container_is_stopped_and_ping_returns_after_its_start(
    vm_copy: Copy, libvirt_backend: LibvirtBackend, containers: Containers, tmp_path: Path,
) -> None:
    """No blackhole (containerlab #3379): with the container gone, the guest's NIC loses carrier;
    when it starts again, the running vtui (hub events) wires the veth and the stitch anew."""
    dom = vm_copy("link-park")
    box = containers.run()
    hub = Hub([DockerBackend("local", "unix:///var/run/docker.sock"), LibvirtBackend("local", SYSTEM_URI)],
              interval=5)
    wiring = Wiring(hub.backends, lambda: hub.inventory.nodes, LinkBook(tmp_path / "links.json"))
    started = [0.0]

    def seen(inventory: Inventory) -> None:
        wiring.follow(inventory.nodes)
        if started[0] < 0 and any(n.name == box.name and n.state is State.RUNNING for n in inventory.nodes):
            started[0] = time.monotonic()

    hub.subscribe(seen)
    hub.start()
    session = await libvirt_backend.open_console(await node_of(libvirt_backend, dom), FORCE)
    try:
        while not {box.name, dom.name()} <= {n.name for n in hub.inventory.nodes if n.state is State.RUNNING}:
            await asyncio.sleep(0.05)
        await prompt(session)
        record, _ = await wiring.add(box.name, dom.name(), addresses={"a": ["10.94.0.1/24"]})
        await guest(session, UP)
        assert await asyncio.to_thread(pings, box, "10.94.0.2")

        await asyncio.to_thread(box.handle.stop, timeout=0)
        seen_down = b""
        for _ in range(50):
            seen_down = await guest(session, "echo carrier $(cat /sys/class/net/eth0/carrier)")
            if b"carrier 0" in seen_down:
                break
            await asyncio.sleep(0.1)
        assert b"carrier 0" in seen_down

        started[0] = -1.0
        await asyncio.to_thread(box.handle.start)
        while started[0] <= 0:
            await asyncio.sleep(0.01)
        while not await asyncio.to_thread(pings, box, "10.94.0.2"):
            assert time.monotonic() - started[0] < 5, "no ping 5 s after the start event"
        took = time.monotonic() - started[0]
        print(f"ping passed {took:.3f} s after the container's start event")
        assert took < 2
        assert b"carrier 1" in await guest(session, "echo carrier $(cat /sys/class/net/eth0/carrier)")
        await wiring.delete(record)
    finally:
        await session.close()
        await hub.stop()


@pytest.mark.parametrize("odd_vm", ["it's a $(touch pwned)"], indirect=True)
def test_a_vm_with_shell_metacharacters_in_its_name_is_linked_and_unlinked(
    odd_vm: str, containers: Containers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    box = containers.run()
    env = {"VTUI_STATE_DIR": str(tmp_path / "state")}
    made = vtui("link", "add", box.name, odd_vm, env=env)  # the VM is shut off: its definition gets the NIC
    assert made.returncode == 0, made.stderr
    dom = libvirt.open(SYSTEM_URI).lookupByName(odd_vm)
    assert nics(dom, libvirt.VIR_DOMAIN_XML_INACTIVE) == 1
    [shown] = json.loads(vtui("link", "ls", "--json", env=env).stdout)
    assert shown["b"]["node"] == odd_vm and shown["state"] == "waiting"  # the VM does not run
    removed = vtui("link", "del", "--all", "--yes", env=env)
    assert removed.returncode == 0, removed.stderr
    assert nics(dom, libvirt.VIR_DOMAIN_XML_INACTIVE) == 0
    assert sorted(os.listdir(tmp_path)) == ["state"]  # no `pwned`: nothing was run by a shell
