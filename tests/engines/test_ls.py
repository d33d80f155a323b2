"""`vtui ls` against the demo, the real engines (virsh and docker as referees) and broken ones."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from tests.conftest import TEST_VM, Containers, docker_status, virsh_state, vtui, vtui_json, write_test_driver_xml

# virsh domstate words -> vtui's normalised states
VIRSH_TO_VTUI = {"running": "running", "paused": "paused", "shut off": "stopped"}


def test_demo_lists_vms_in_different_states() -> None:
    nodes = vtui_json("--demo")
    assert {n["host"] for n in nodes} == {"demo"}
    assert {n["kind"] for n in nodes} == {"vm"}
    states = {n["name"]: n["state"] for n in nodes}
    assert states["db-replica"] == "paused"
    assert states["build-runner"] == "stopped"
    assert states["legacy-mail"] == "crashed"
    assert states["laptop-image"] == "suspended"
    assert states["web-1"] == "running"
    for key in ("host", "kind", "name", "id", "state", "native_state"):
        assert all(key in n for n in nodes)


def test_demo_table_is_readable() -> None:
    result = vtui("ls", "--demo")
    assert result.returncode == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["HOST", "KIND", "NAME", "STATE", "DETAIL", "IMAGE", "VCPUS", "MEMORY"]
    assert any(r.split()[:4] == ["demo", "vm", "db-replica", "paused"] for r in rows)


def by_name(nodes: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {n["name"]: n for n in nodes}


def wait_docker_status(name: str, status: str) -> None:
    deadline = time.monotonic() + 15
    while docker_status(name) != status:
        assert time.monotonic() < deadline, f"{name} never became {status}"
        time.sleep(0.1)


def test_containers_match_docker(containers: Containers) -> None:
    running = containers.run()
    paused = containers.run()
    paused.pause()
    exited = containers.run("exit 3")
    wait_docker_status(exited.name, "exited")

    nodes = by_name(vtui_json("--no-libvirt"))
    for container, state in ((running, "running"), (paused, "paused"), (exited, "stopped")):
        node = nodes[container.name]
        assert node["state"] == state
        assert node["native_state"] == docker_status(container.name)
        assert node["host"] == "local" and node["kind"] == "container"
        assert node["id"] == container.id
    assert nodes[exited.name]["reason"] == "exit code 3"


def test_vm_states_match_virsh(test_vm: libvirt.virDomain) -> None:
    def vtui_state() -> str:
        node = by_name(vtui_json("--no-docker"))[TEST_VM]
        assert node["kind"] == "vm" and node["host"] == "local"
        return str(node["state"])

    assert vtui_state() == VIRSH_TO_VTUI[virsh_state(TEST_VM)] == "stopped"
    test_vm.create()
    assert vtui_state() == VIRSH_TO_VTUI[virsh_state(TEST_VM)] == "running"
    test_vm.suspend()
    assert vtui_state() == VIRSH_TO_VTUI[virsh_state(TEST_VM)] == "paused"
    test_vm.destroy()
    node = by_name(vtui_json("--no-docker"))[TEST_VM]
    assert (node["state"], node["native_state"], node["reason"]) == ("stopped", "shutoff", "destroyed")


def test_large_test_driver_inventory(tmp_path: Path) -> None:
    uri = write_test_driver_xml(tmp_path / "big.xml", 1000)
    nodes = vtui_json("--libvirt", uri, "--no-docker")
    assert len(nodes) == 1000
    assert {n["state"] for n in nodes} == {"running", "paused", "stopped", "crashed"}


def test_unreachable_engines_are_named_and_exit_1(tmp_path: Path) -> None:
    result = vtui("ls", "--json", "--libvirt", f"qemu+unix:///system?socket={tmp_path}/libvirt-sock",
                  "--docker", f"unix://{tmp_path}/docker.sock")
    assert result.returncode == 1
    assert json.loads(result.stdout) == []
    assert f"libvirt on local: libvirtd is not running (no socket at {tmp_path}/libvirt-sock)" in result.stderr
    assert f"docker on local: dockerd is not running (no socket at {tmp_path}/docker.sock)" in result.stderr


def test_unknown_libvirt_uri_still_lists_the_rest(containers: Containers) -> None:
    running = containers.run()
    result = vtui("ls", "--json", "--libvirt", "nosuchdriver:///x")
    assert result.returncode == 1
    assert "libvirt on local: libvirt has no driver for the URI 'nosuchdriver:///x'" in result.stderr
    assert running.name in {n["name"] for n in json.loads(result.stdout)}


@pytest.fixture
def forbidden_socket(tmp_path: Path) -> Iterator[Path]:
    """A listening unix socket with mode 000: root in a user namespace is refused by the kernel."""
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        path.chmod(0)
        yield path


def test_permission_denied_on_docker_socket(forbidden_socket: Path) -> None:
    result = vtui("ls", "--no-libvirt", "--docker", f"unix://{forbidden_socket}", prefix=("unshare", "--user"))
    assert result.returncode == 1
    assert f"docker on local: permission denied on {forbidden_socket} (run as root or join the docker group)" \
        in result.stderr


ODD_NAMES = ["evil;touch pwned", "it's a $(vm)", "with space", "[bold]markup [red]", 'quote"d `tick`']


def odd_names_uri(tmp_path: Path) -> str:
    from xml.sax.saxutils import escape

    domains = "".join(
        f"<domain type='test'><name>{escape(n)}</name><memory>524288</memory><os><type>hvm</type></os></domain>"
        for n in ODD_NAMES
    )
    (tmp_path / "odd.xml").write_text(f"<node>{domains}</node>")
    return f"test://{tmp_path}/odd.xml"


def test_names_with_shell_and_markup_characters_list_verbatim(tmp_path: Path) -> None:
    nodes = vtui_json("--libvirt", odd_names_uri(tmp_path), "--no-docker")
    assert sorted(n["name"] for n in nodes) == sorted(ODD_NAMES)
    assert not Path("pwned").exists() and not (tmp_path / "pwned").exists()
    table = vtui("ls", "--libvirt", odd_names_uri(tmp_path), "--no-docker").stdout
    assert all(name in table for name in ODD_NAMES)
