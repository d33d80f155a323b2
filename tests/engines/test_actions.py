"""Lifecycle actions from the CLI against the real engines; virsh and docker are the referees."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import libvirt
import pytest

from tests.conftest import SYSTEM_URI, TEST_VM, Containers, docker_status, virsh_state, vtui
from vtui.backends.docker import DockerBackend
from vtui.backends.libvirt import LibvirtBackend
from vtui.errors import Refused

SOCKET = "unix:///var/run/docker.sock"


def test_container_lifecycle(containers: Containers) -> None:
    web = containers.run()
    steps = [("pause", "paused"), ("resume", "running"), ("stop", "exited"), ("start", "running"),
             ("restart", "running"), ("kill", "exited")]
    for verb, status in steps:
        args = [verb, web.name, "--yes"] if verb == "kill" else [verb, web.name]
        if verb in ("stop", "restart"):
            args += ["--timeout", "1"]
        result = vtui(*args)
        assert result.returncode == 0, (verb, result.stderr)
        assert docker_status(web.name) == status, verb
    result = vtui("remove", web.name, "--yes", "--json")
    assert result.returncode == 0
    [outcome] = json.loads(result.stdout)
    assert outcome == {"host": "local", "kind": "container", "name": web.name, "id": web.id, "action": "remove",
                       "ok": True, "message": f"removed '{web.name}' (container on local)"}
    assert web.name not in vtui("ls").stdout


def test_vm_lifecycle(test_vm: libvirt.virDomain) -> None:
    steps = [("start", "running"), ("pause", "paused"), ("resume", "running"), ("reboot", "running"),
             ("reset", "running"), ("force-off", "shut off")]
    for verb, state in steps:
        result = vtui(verb, TEST_VM, "--yes") if verb in ("reset", "force-off") else vtui(verb, TEST_VM)
        assert result.returncode == 0, (verb, result.stderr)
        assert virsh_state(TEST_VM) == state, verb


def test_shutdown_of_a_guest_that_ignores_acpi_points_to_force_off(test_vm: libvirt.virDomain) -> None:
    test_vm.create()
    result = vtui("shutdown", "--timeout", "3", TEST_VM)
    assert result.returncode == 1
    assert "still running after 3 s (the guest may ignore ACPI)" in result.stderr
    assert f"vtui force-off {TEST_VM}" in result.stderr
    assert virsh_state(TEST_VM) == "running"
    assert vtui("force-off", "--yes", TEST_VM).returncode == 0
    assert virsh_state(TEST_VM) == "shut off"


@pytest.fixture(params=["evil;touch pwned", "it's a $(vm)", "with space & `tick`"])
def odd_vm(request: pytest.FixtureRequest, copied_vm: Callable[[str], str]) -> str:
    """A copy of the test VM under a name full of shell metacharacters."""
    return copied_vm(str(request.param))


def test_names_with_shell_metacharacters_are_acted_on_and_nothing_else_runs(
    odd_vm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for verb, state in (("start", "running"), ("pause", "paused"), ("force-off", "shut off")):
        result = vtui(verb, odd_vm, "--yes") if verb == "force-off" else vtui(verb, odd_vm)
        assert result.returncode == 0, result.stderr
        assert virsh_state(odd_vm) == state
    assert os.listdir(tmp_path) == []  # no `pwned`, no `vm` output: nothing was run by a shell


def test_an_ambiguous_name_lists_the_candidates(containers: Containers, test_vm: libvirt.virDomain) -> None:
    twin = containers.run(name=TEST_VM)  # a container named like the VM
    result = vtui("pause", TEST_VM)
    assert result.returncode == 2
    assert f"'{TEST_VM}' is ambiguous: local/container/{TEST_VM}, local/vm/{TEST_VM}" in result.stderr
    assert docker_status(twin.name) == "running"
    assert vtui("pause", f"local/container/{TEST_VM}").returncode == 0
    assert docker_status(twin.name) == "paused"


def test_one_unknown_name_means_nothing_is_done(containers: Containers) -> None:
    web = containers.run()
    result = vtui("pause", web.name, "no-such-node")
    assert result.returncode == 2
    assert "no VM or container is named 'no-such-node'" in result.stderr
    assert docker_status(web.name) == "running"


def test_bulk_with_one_member_that_does_not_fit(containers: Containers) -> None:
    a, b = containers.run(), containers.run()
    stopped = containers.run("exit 0")
    stopped.handle.wait()
    result = vtui("pause", "--json", a.name, stopped.name, b.name)
    assert result.returncode == 1
    outcomes = {o["name"]: o for o in json.loads(result.stdout)}
    assert outcomes[a.name]["ok"] and outcomes[b.name]["ok"]
    assert not outcomes[stopped.name]["ok"]
    assert "it is stopped (pause applies when running)" in outcomes[stopped.name]["message"]
    assert [docker_status(c.name) for c in (a, b, stopped)] == ["paused", "paused", "exited"]


def test_destructive_actions_need_yes_without_a_terminal(containers: Containers) -> None:
    web = containers.run()
    result = vtui("kill", web.name)  # stdin is not a terminal here
    assert result.returncode == 2
    assert "kill is destructive and there is no terminal to ask: pass --yes" in result.stderr
    assert docker_status(web.name) == "running"


async def test_read_only_is_enforced_in_the_backend(containers: Containers, test_vm: libvirt.virDomain) -> None:
    web = containers.run()
    backends = (DockerBackend("local", SOCKET, read_only=True), LibvirtBackend("local", SYSTEM_URI, read_only=True))
    for backend in backends:
        await backend.connect()
        try:
            node = next(n for n in await backend.list_nodes() if n.name in (web.name, TEST_VM))
            action = "pause" if node.kind == "container" else "start"
            with pytest.raises(Refused, match="read-only mode: refused to"):
                await backend.perform(node, action)
        finally:
            await backend.close()
    assert docker_status(web.name) == "running" and virsh_state(TEST_VM) == "shut off"
    result = vtui("--read-only", "pause", web.name)
    assert result.returncode == 1 and "read-only mode" in result.stderr
    assert docker_status(web.name) == "running"
