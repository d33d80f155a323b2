"""VM actions beyond power (managed save, snapshots, autostart, delete) from the CLI against the
real libvirtd, with virsh as the referee.

Every test works on its own copies of the test bed's VM (never on vtui-test-vm itself), so it
can run beside other suites; the copies, their disks and pools are removed afterwards.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import libvirt
import pytest

from tests.conftest import SYSTEM_URI, define_copy, discard, sh, virsh_state, vm_template, vtui
from vtui.actions import ACTIONS
from vtui.backends.libvirt import LibvirtBackend
from vtui.errors import Refused
from vtui.model import Kind

IMAGES = Path("/var/lib/libvirt/images")
def virsh(*args: str) -> str:
    return sh("virsh", "-c", SYSTEM_URI, *args)


def dominfo(name: str, field: str) -> str:
    """One field of `virsh dominfo`, e.g. "Managed save" or "Autostart"."""
    fields = dict(line.split(":", 1) for line in virsh("dominfo", name).splitlines() if ":" in line)
    return fields[field].strip()


def defined() -> set[str]:
    return set(virsh("list", "--all", "--name").splitlines())


def snapshot_names(name: str) -> list[str]:
    return [n for n in virsh("snapshot-list", name, "--name").splitlines() if n]


def rand() -> str:
    return uuid.uuid4().hex[:8]


def file_disk(path: str, dev: str) -> str:
    return (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{path}'/>"
            f"<target dev='{dev}' bus='virtio'/></disk>")


class Vms:
    """Copies of the test bed's VM (new name, no uuid) and the qcow2 files made for them."""

    def __init__(self, conn: libvirt.virConnect) -> None:
        self.conn = conn
        self.base = vm_template()
        self.made: list[libvirt.virDomain] = []
        self.files: list[Path] = []

    def define(self, name: str = "", disks: tuple[str, ...] = ()) -> libvirt.virDomain:
        dom = define_copy(self.conn, self.base, name or f"vtui-t-{rand()}", disks)
        self.made.append(dom)
        return dom

    def qcow2(self) -> str:
        path = IMAGES / f"vtui-t-{rand()}.qcow2"
        self.files.append(path)
        sh("qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M")
        return str(path)

    def remove_all(self) -> None:
        discard(self.made)  # those the test deleted too: their log files
        for path in self.files:
            path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def conn(bed_vm: str) -> Iterator[libvirt.virConnect]:
    connection = libvirt.open(SYSTEM_URI)
    yield connection
    connection.close()


@pytest.fixture
def vms(conn: libvirt.virConnect) -> Iterator[Vms]:
    made = Vms(conn)
    yield made
    made.remove_all()


@pytest.fixture
def pool(conn: libvirt.virConnect) -> Iterator[libvirt.virStoragePool]:
    """A dir storage pool of the test's own, destroyed with its volumes afterwards."""
    name = f"vtui-t-pool-{rand()}"
    made = conn.storagePoolDefineXML(
        f"<pool type='dir'><name>{name}</name><target><path>{IMAGES / name}</path></target></pool>")
    made.build(0)
    made.create(0)
    yield made
    for vol in made.listAllVolumes(0):
        vol.delete(0)
    made.destroy()
    made.delete(0)
    made.undefine()


def volume(pool: libvirt.virStoragePool, name: str) -> str:
    """A small qcow2 volume in the pool; returns its path."""
    vol = pool.createXML(f"<volume><name>{name}</name><capacity unit='M'>16</capacity>"
                         "<target><format type='qcow2'/></target></volume>", 0)
    return str(vol.path())


def ok(*args: str) -> str:
    result = vtui(*args)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def vtui_on_a_terminal(*args: str, typed: str) -> subprocess.CompletedProcess[str]:
    """Run vtui with a terminal as stdin, as a person would, and type a line into it."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "vtui", *args], stdin=follower, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        os.write(leader, typed.encode() + b"\n")
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_the_registry_describes_the_new_vm_actions() -> None:
    new = ["save", "restore", "snapshot-create", "snapshot-revert", "snapshot-delete", "autostart-on",
           "autostart-off", "delete"]
    assert all(ACTIONS[name].kinds == {Kind.VM} for name in new)
    assert [n for n in new if ACTIONS[n].destructive] == ["snapshot-revert", "snapshot-delete", "delete"]
    assert ACTIONS["save"].states == {"running", "paused"} and ACTIONS["delete"].states == {"stopped"}


def test_save_restore_and_delete_a_vm_named_with_shell_metacharacters(
    vms: Vms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    name = f"it's a $(vm) {rand()}"
    vms.define(name).create()
    assert f"saved {name!r} (vm on local): its memory is in a managed save image" in ok("save", name)
    assert virsh("domstate", "--reason", name) == "shut off (saved)"
    assert dominfo(name, "Managed save") == "yes"
    [node] = [n for n in json.loads(ok("ls", "--json", "--no-docker")) if n["name"] == name]
    assert (node["state"], node["reason"]) == ("stopped", "saved")
    again = vtui("save", name)
    assert again.returncode == 1 and "it is stopped (save applies when paused, running)" in again.stderr

    assert "it is running" in ok("restore", name)
    assert virsh_state(name) == "running" and dominfo(name, "Managed save") == "no"
    running = vtui("delete", "--yes", name)
    assert running.returncode == 1
    assert f"delete {name!r}: it is running; force it off first: vtui force-off '" in running.stderr
    assert virsh_state(name) == "running"

    ok("pause", name)
    ok("save", name)  # a paused VM comes back paused
    assert "it is paused" in ok("restore", name)
    assert virsh_state(name) == "paused"
    ok("save", name)
    assert f"deleted {name!r}" in ok("delete", "--yes", name)  # managed save image and all
    assert name not in defined() and not Path(f"/var/lib/libvirt/qemu/save/{name}.save").exists()
    assert os.listdir(tmp_path) == []  # nothing ran through a shell


def test_restore_without_a_managed_save_image_is_refused(vms: Vms) -> None:
    name = vms.define().name()
    result = vtui("restore", name)
    assert result.returncode == 1
    assert f"restore {name!r}: it has no managed save image (saving it makes one; starting boots it afresh)" in (
        result.stderr)
    assert virsh_state(name) == "shut off"


def test_snapshots_of_a_disk_backed_vm(vms: Vms) -> None:
    dom = vms.define(disks=(file_disk(vms.qcow2(), "vda"),))
    name = dom.name()
    assert "snapshot 'cold' of its disks (shutoff)" in ok(
        "snapshot", "create", name, "cold", "--description", "before the first boot")
    assert snapshot_names(name) == ["cold"]
    dom.create()
    assert "snapshot 'warm' of its disks and memory (running)" in ok("snapshot", "create", name, "warm")
    twice = vtui("snapshot", "create", name, "warm")
    assert twice.returncode == 1 and "already exists" in twice.stderr

    listed = json.loads(ok("snapshot", "list", name, "--json"))
    assert [(s["name"], s["state"], s["description"], s["current"]) for s in listed] == [
        ("cold", "shutoff", "before the first boot", False), ("warm", "running", "", True)]
    assert abs(datetime.fromisoformat(listed[1]["created"]).timestamp() - time.time()) < 60
    table = ok("snapshot", "list", name).splitlines()
    assert table[0].split() == ["NAME", "CREATED", "STATE", "CURRENT", "DESCRIPTION"]
    assert table[2].startswith("warm") and "running  *" in table[2]

    unasked = vtui("snapshot", "revert", name, "cold")  # stdin is not a terminal here
    assert unasked.returncode == 2 and "pass --yes" in unasked.stderr and virsh_state(name) == "running"
    assert "to snapshot 'cold'; it is stopped" in ok("snapshot", "revert", name, "cold", "--yes")
    assert virsh_state(name) == "shut off"
    assert "to snapshot 'warm'; it is running" in ok("snapshot", "revert", name, "warm", "--yes")
    assert virsh_state(name) == "running"
    missing = vtui("snapshot", "revert", name, "lukewarm", "--yes")
    assert missing.returncode == 1
    assert "no snapshot is named 'lukewarm' (it has 'cold', 'warm')" in missing.stderr

    dom.managedSave(0)  # newer than any snapshot: reverting must not leave it to be resumed later
    assert "its managed save image was discarded" in ok("snapshot", "revert", name, "cold", "--yes")
    assert dominfo(name, "Managed save") == "no" and virsh_state(name) == "shut off"

    assert ok("snapshot", "delete", name, "cold", "--yes").startswith(f"deleted a snapshot of {name!r}")
    assert snapshot_names(name) == ["warm"]
    assert json.loads(ok("--read-only", "snapshot", "list", name, "--json"))[0]["name"] == "warm"
    refused = vtui("--read-only", "snapshot", "create", name, "never")
    assert refused.returncode == 1 and "read-only mode" in refused.stderr


def test_a_diskless_vm_cannot_be_snapshotted_and_says_why(vms: Vms) -> None:
    name = vms.define().name()
    result = vtui("snapshot", "create", name, "s")
    assert result.returncode == 1
    assert f"snapshot create {name!r}: it has no disk" in result.stderr
    assert f"{name!r} has no snapshots" in ok("snapshot", "list", name)


def test_autostart_on_and_off(vms: Vms) -> None:
    names = [vms.define().name() for _ in range(2)]
    assert ok("autostart", "on", *names).count("enabled autostart of") == 2
    assert [dominfo(n, "Autostart") for n in names] == ["enable", "enable"]
    ok("autostart", "off", names[0])
    assert [dominfo(n, "Autostart") for n in names] == ["disable", "enable"]


def test_delete_a_stopped_vm_keeps_its_disks_but_drops_its_snapshots(vms: Vms) -> None:
    disk = vms.qcow2()
    dom = vms.define(disks=(file_disk(disk, "vda"),))
    name = dom.name()
    ok("snapshot", "create", name, "kept-in-the-image")
    [outcome] = json.loads(ok("delete", "--yes", "--json", name))
    assert outcome["ok"] and outcome["message"] == f"deleted {name!r} (vm on local): kept its disks: {disk}"
    assert name not in defined()
    assert Path(disk).exists() and not Path(f"/var/lib/libvirt/qemu/snapshot/{name}").exists()


def test_delete_storage_removes_pool_volumes_and_leaves_the_rest(
    vms: Vms, pool: libvirt.virStoragePool
) -> None:
    own, shared = volume(pool, "own.qcow2"), volume(pool, "shared.qcow2")
    volume(pool, "by-name.qcow2")
    loose = vms.qcow2()  # /var/lib/libvirt/images is no pool on the test bed
    by_name = (f"<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>"
               f"<source pool='{pool.name()}' volume='by-name.qcow2'/><target dev='vdb' bus='virtio'/></disk>")
    dom = vms.define(disks=(file_disk(own, "vda"), by_name, file_disk(shared, "vdc"), file_disk(loose, "vdd")))
    other = vms.define(disks=(file_disk(shared, "vda"),))
    name = dom.name()
    [outcome] = json.loads(ok("delete", name, "--storage", "--yes", "--json"))
    assert outcome["message"] == (
        f"deleted {name!r} (vm on local): deleted its disks: {own}, {IMAGES / pool.name() / 'by-name.qcow2'}; "
        f"left: {shared} (also used by {other.name()!r}), {loose} (not in a storage pool)")
    assert name not in defined() and other.name() in defined()
    pool.refresh(0)
    assert pool.listVolumes() == ["shared.qcow2"] and Path(loose).exists()


def test_delete_on_a_terminal_asks_for_the_vm_name(vms: Vms) -> None:
    name = vms.define().name()
    unasked = vtui("delete", name)
    assert unasked.returncode == 2 and "delete is destructive and there is no terminal to ask: pass --yes" in (
        unasked.stderr)
    wrong = vtui_on_a_terminal("delete", name, typed="y")
    assert wrong.returncode == 2 and f"that is not {name!r}; nothing was deleted" in wrong.stderr
    assert name in defined()
    right = vtui_on_a_terminal("delete", name, typed=name)
    assert right.returncode == 0, right.stderr
    assert "Type the VM's name to confirm" in right.stdout and name not in defined()


async def test_drivers_without_the_newer_undefine_flags_still_delete() -> None:
    backend = LibvirtBackend("local", "test:///default")  # the test driver knows no NVRAM/TPM/checkpoint flags
    await backend.connect()
    try:
        [node] = await backend.list_nodes()
        with pytest.raises(Refused, match="it is running; force it off first"):
            await backend.perform(node, "delete")
        await backend.perform(node, "force-off")
        [node] = await backend.list_nodes()
        done = await backend.perform(node, "delete")
        assert done == "deleted 'test' (vm on local): kept its disks: /guest/diskimage1"
        assert await backend.list_nodes() == []
    finally:
        await backend.close()
