"""Remote hosts over SSH, against the lab (tests/support/sshlab.py): sshd in network namespaces, h1 with a
dockerd of its own; the lab hosts share the test bed's libvirtd (and h2/h3 its dockerd) through the
machine's filesystem, so a VM started on h2 is the test bed's."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import docker
import pytest

from tests.conftest import TEST_IMAGE, TEST_LABEL, TEST_LABELS, TEST_VM, a_run_of, vtui
from tests.engines.test_console import answer
from tests.engines.test_console_vm import PROMPT, Copy, read_until, vm_copy  # noqa: F401
from tests.support.sshlab import JUMPED, SshLab, ssh_lab  # noqa: F401
from vtui.backends.base import Backend
from vtui.backends.registry import remote_backends
from vtui.cli.ls import list_all
from vtui.config.hosts import HostSpec, engines
from vtui.model import HostState, HostStatus, Inventory, Kind, Node, State
from vtui.services.hub import Hub
from vtui.transport.hostkeys import HostKeyProblem
from vtui.transport.ssh import SshLink


@pytest.fixture
def lab(ssh_lab: SshLab, monkeypatch: pytest.MonkeyPatch) -> SshLab:
    """The lab, seen from a user whose HOME holds its ~/.ssh (config with ProxyCommand, key, known_hosts)."""
    monkeypatch.setenv("HOME", str(ssh_lab.home))
    return ssh_lab


def spec(lab: SshLab, name: str, *, docker: bool = True) -> HostSpec:
    """A host of the lab by its ~/.ssh/config alias; h1's docker is its own dockerd."""
    socket = lab.host(name).docker_socket
    if not docker:
        return HostSpec(name, name, engines(docker=None))
    return HostSpec(name, name, engines(docker=socket) if socket else engines())


@pytest.fixture
def h1_docker(lab: SshLab) -> Iterator[docker.DockerClient]:
    """h1's own dockerd; the containers a test makes there are removed afterwards."""
    client = docker.DockerClient(base_url=f"unix://{lab.host('h1').docker_socket}")
    yield client
    for container in client.containers.list(all=True, filters={"label": TEST_LABEL}):
        container.remove(force=True)
    client.close()


def run_on_h1(client: docker.DockerClient, command: str) -> tuple[str, str]:
    name = f"vtui-r-{uuid.uuid4().hex[:6]}"
    made = client.containers.run(TEST_IMAGE, ["sh", "-c", command], name=name, detach=True, labels=TEST_LABELS)
    return name, str(made.id)


@pytest.fixture
async def hub_of(lab: SshLab) -> AsyncIterator[Callable[..., Hub]]:
    """Starts a hub over the named hosts (HostSpecs); stopped afterwards."""
    hubs: list[Hub] = []

    def start(*specs: HostSpec, interval: float = 0.5) -> Hub:
        hub = Hub(remote_backends(specs), interval=interval)
        hub.start()
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        await hub.stop()


async def until(hub: Hub, check: Callable[[Inventory], object], timeout: float = 20) -> Inventory:
    deadline = time.monotonic() + timeout
    while not check(hub.inventory):
        if time.monotonic() > deadline:
            hosts = "\n".join(f"  {h}" for h in hub.inventory.hosts)
            pytest.fail(f"not reached within {timeout:g} s; hosts:\n{hosts}\nengines: {hub.inventory.engines}")
        await asyncio.sleep(0.1)
    return hub.inventory


def host(inventory: Inventory, name: str) -> HostStatus:
    return next(h for h in inventory.hosts if h.name == name)


def node(inventory: Inventory, host_name: str, name: str) -> Node | None:
    return next((n for n in inventory.nodes if n.host == host_name and n.name == name), None)


async def test_inventory_stats_and_an_action_over_ssh(lab: SshLab, hub_of: Callable[..., Hub],
                                                      h1_docker: docker.DockerClient, bed_vm: str) -> None:
    busy, busy_id = run_on_h1(h1_docker, "while :; do :; done")
    hub = hub_of(spec(lab, "h1"), spec(lab, "h2", docker=False))
    inventory = await until(hub, lambda i: node(i, "h1", busy) and node(i, "h2", TEST_VM))
    # h1's own dockerd: its container is there and nowhere else; h2 shows the test bed's VM over libvirt
    assert [n.name for n in inventory.nodes if n.kind is Kind.CONTAINER] == [busy]
    assert {h.name: h.state for h in inventory.hosts} == {"h1": HostState.UP, "h2": HostState.UP}
    # container counters from one command per poll over h1's connection: the busy loop shows
    key = f"h1/container/{busy_id}"
    inventory = await until(hub, lambda i: (s := i.stats.get(key)) and (s.cpu_percent or 0) > 30)
    assert inventory.stats[key].mem_bytes
    assert all(h.latency is not None and h.latency < 2 for h in inventory.hosts)  # a busy loop beside it
    # a lifecycle action over the forwarded docker socket; the engine's event updates the inventory
    target = node(inventory, "h1", busy)
    assert target is not None
    said = await hub.perform(target, "pause")
    assert "h1" in said
    await until(hub, lambda i: (n := node(i, "h1", busy)) is not None and n.state is State.PAUSED)
    assert h1_docker.containers.get(busy).status == "paused"


async def test_container_shell_and_vm_serial_console_over_ssh(
        lab: SshLab, h1_docker: docker.DockerClient, vm_copy: Copy) -> None:
    shell, _ = run_on_h1(h1_docker, "sleep 600")
    dom = vm_copy("remote")
    backends = remote_backends([spec(lab, "h1"), spec(lab, "h2", docker=False)])
    try:
        for backend in backends:
            await backend.connect()
        container = next(n for n in await backends[1].list_nodes() if n.name == shell)
        session = await backends[1].open_console(container)
        try:
            await answer(session, b"echo $((6*7))\r", b"42")
        finally:
            await session.close()
        vm = next(n for n in await backends[2].list_nodes() if n.name == dom.name())
        console = await backends[2].open_console(vm)
        try:
            await read_until(console, PROMPT, timeout=30)
            await console.write(b"echo $((6*7))\r")
            await read_until(console, b"42")
        finally:
            await console.close()
    finally:
        await close_all(backends)


async def close_all(backends: list[Backend]) -> None:
    for backend in backends:
        await backend.close()
    for link in {b.transport.link for b in backends if b.transport}:
        await link.close()


async def test_a_dead_host_turns_unreachable_the_others_keep_updating_and_it_comes_back(
        lab: SshLab, hub_of: Callable[..., Hub]) -> None:
    hub = hub_of(*(spec(lab, name, docker=False) for name in ("h1", "h2", "h3")))
    await until(hub, lambda i: all(h.state is HostState.UP and h.latency for h in i.hosts) and len(i.hosts) == 3)
    lab.stop_sshd("h2")
    try:
        stopped = time.monotonic()
        inventory = await until(hub, lambda i: host(i, "h2").state is HostState.UNREACHABLE, timeout=10)
        took = time.monotonic() - stopped
        assert took < 5, f"h2 was seen unreachable only after {took:.1f} s"
        assert "refused" in host(inventory, "h2").reason.lower() or "lost" in host(inventory, "h2").reason
        assert not [n for n in inventory.nodes if n.host == "h2"]
        # the others go on: their round trips are measured again and again meanwhile
        seen = {name: host(inventory, name).latency for name in ("h1", "h3")}
        await until(hub, lambda i: all(host(i, n).latency != seen[n] for n in seen), timeout=6)
        assert host(hub.inventory, "h1").state is HostState.UP
    finally:
        lab.start_sshd("h2")
    started = time.monotonic()
    await until(hub, lambda i: host(i, "h2").state is HostState.UP and node(i, "h2", TEST_VM), timeout=20)
    print(f"h2 unreachable after {took:.2f} s; back {time.monotonic() - started:.1f} s after sshd returned")


async def test_a_changed_host_key_is_refused_and_nothing_is_recorded(lab: SshLab) -> None:
    before = lab.known_hosts.read_text()
    lab.rekey("h3")
    try:
        listing = await list_all(remote_backends([spec(lab, "h3")]))
        assert not listing.nodes
        reasons = {f.reason for f in listing.failures}
        assert len(reasons) == 1
        (reason,) = reasons
        assert reason.startswith("WARNING: the host key of h3 (10.77.0.13) has CHANGED")
        assert "ssh-keygen -f" in reason and "-R '10.77.0.13'" in reason
        assert lab.known_hosts.read_text() == before
    finally:
        lab.write_known_hosts()


def home_without(lab: SshLab, home: Path, *unknown: str) -> Path:
    """A user who holds the lab's key, and whose known_hosts lacks the keys of the `unknown` hosts."""
    shutil.copytree(lab.home, home)
    config = home / ".ssh/config"
    config.write_text(config.read_text().replace(str(lab.home), str(home)))
    known = home / ".ssh/known_hosts"
    known.write_text("".join(f"{h.known_hosts_line()}\n" for h in lab.hosts if h.name not in unknown))
    return home


@pytest.fixture
def stranger_home(lab: SshLab, tmp_path: Path) -> Path:
    """A user whose known_hosts lacks h3's key."""
    return home_without(lab, tmp_path / "home", "h3")


def test_cli_without_a_terminal_refuses_an_unknown_key_and_trust_records_it(stranger_home: Path) -> None:
    known = stranger_home / ".ssh/known_hosts"
    before = known.read_text()
    env = {"HOME": str(stranger_home)}
    listed = vtui("ls", "--host", "h3", "--no-docker", env=env)
    assert listed.returncode == 1
    m = re.search(r"the host key of h3 \(10\.77\.0\.13\) is unknown: ssh-ed25519 (SHA256:\S+)\. .*"
                  r"vtui trust h3 --fingerprint (SHA256:\S+)", listed.stderr)
    assert m and m.group(1) == m.group(2), listed.stderr
    assert known.read_text() == before  # nothing written without consent
    wrong = vtui("trust", "h3", "--fingerprint", "SHA256:not-it", env=env)
    assert wrong.returncode == 1 and "nothing was recorded" in wrong.stderr
    assert known.read_text() == before
    trusted = vtui("trust", "h3", "--fingerprint", m.group(1), env=env)
    assert trusted.returncode == 0, trusted.stderr
    assert known.read_text().startswith(before) and known.read_text().endswith("\n")
    assert known.read_text()[len(before):].startswith("10.77.0.13 ssh-ed25519 AAAA")
    listed = vtui("ls", "--host", "h3", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert {n["host"] for n in json.loads(listed.stdout)} == {"h3"}


async def test_errors_name_the_host_and_the_cause(lab: SshLab, stranger_home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = [
        HostSpec("gone", "10.77.0.99", engines(docker=None)),  # nobody at that address
        HostSpec("closed", "10.77.0.12:2222", engines(docker=None)),  # a host, but no sshd on that port
        HostSpec("nodocker", "h3", engines(libvirt=None, docker="/run/no-such-dockerd.sock")),
        HostSpec("denied", f"vtuilab@{lab.host('h2').address}", engines(libvirt=None)),
        HostSpec("dns", "no-such-host.invalid", engines(docker=None)),
    ]
    listing = await list_all(remote_backends(hosts), connect_timeout=20)
    reasons = {f.host: f.reason for f in listing.failures}
    assert "no route" in reasons["gone"].lower() or "no answer" in reasons["gone"], reasons["gone"]
    assert "refused" in reasons["closed"].lower(), reasons["closed"]
    assert reasons["nodocker"] == "dockerd is not running there (no socket at /run/no-such-dockerd.sock)"
    assert reasons["denied"].startswith("permission denied on /var/run/docker.sock for user 'vtuilab'")
    assert "no-such-host.invalid" in reasons["dns"] and "bad address" in reasons["dns"], reasons["dns"]
    # a key the host does not know
    config = stranger_home / ".ssh/config"
    config.write_text(config.read_text().replace("id_ed25519", "stranger_ed25519"))
    monkeypatch.setenv("HOME", str(stranger_home))
    refused = await list_all(remote_backends([HostSpec("h1", "h1", engines(docker=None))]))
    (failure,) = refused.failures
    assert failure.reason.startswith("authentication failed for user 'root' at 10.77.0.11:22"), failure.reason


def test_discovery_finds_exactly_the_hosts_that_listen(lab: SshLab) -> None:
    lab.stop_sshd("h3")
    try:
        done = lab.lab_run(*vtui_argv("discover", "10.77.0.0/24", "--json", "--rate", "2000"))
    finally:
        lab.start_sshd("h3")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [(h["address"], [s["name"] for s in h["services"]]) for h in found] == [
        ("10.77.0.11", ["ssh"]), ("10.77.0.12", ["ssh"])]
    assert all(h["services"][0]["banner"].startswith("SSH-2.0-OpenSSH") for h in found)
    assert "254 addresses, 2 answered" in done.stderr


def vtui_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "vtui", *args]


def test_cli_lists_and_acts_on_a_remote_host(lab: SshLab, h1_docker: docker.DockerClient) -> None:
    name, _ = run_on_h1(h1_docker, "sleep 600")
    env = {"HOME": str(lab.home)}
    hosts = lab.home / "hosts.toml"
    hosts.write_text(f'[[host]]\ntarget = "h1"\nlibvirt = false\ndocker = "{lab.host("h1").docker_socket}"\n')
    env["VTUI_HOSTS"] = str(hosts)
    listed = vtui("ls", "--json", "--host", "h1", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [(n["host"], n["name"], n["state"]) for n in json.loads(listed.stdout)] == [("h1", name, "running")]
    stopped = vtui("stop", f"h1/{name}", "--timeout", "1", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert h1_docker.containers.get(name).status == "exited"


def test_a_remote_vms_log_is_read_over_ssh(lab: SshLab, vm_copy: Copy) -> None:
    dom = vm_copy("log")
    env = {"HOME": str(lab.home)}
    read = vtui("logs", f"h2/{dom.name()}", "--tail", "3", "--host", "h2", env=env)
    assert read.returncode == 0, read.stderr
    local = Path(f"/var/log/libvirt/qemu/{dom.name()}.log").read_text().splitlines()  # read after: it may grow
    tail = read.stdout.splitlines()
    assert len(tail) == 3 and a_run_of(tail, local), (tail, local[-5:])
    never_ran = vm_copy("nolog", start=False)
    missing = vtui("logs", f"h2/{never_ran.name()}", "--host", "h2", env=env)
    assert missing.returncode == 1
    assert f"cannot read /var/log/libvirt/qemu/{never_ran.name()}.log: no such file on h2" in missing.stderr


def test_a_key_held_by_the_agent_is_used(lab: SshLab, stranger_home: Path, tmp_path: Path) -> None:
    """No key file and no IdentityFile: the agent's key logs in (as ssh would)."""
    config = stranger_home / ".ssh/config"
    config.write_text("\n".join(line for line in config.read_text().splitlines() if "IdentityFile" not in line))
    for key in (stranger_home / ".ssh").glob("id_*"):
        key.unlink()
    socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {"HOME": str(stranger_home), "SSH_AUTH_SOCK": str(socket)}
        without = vtui("ls", "--host", "h1", "--json", env={"HOME": str(stranger_home), "SSH_AUTH_SOCK": ""})
        assert without.returncode == 1 and "authentication failed for user 'root'" in without.stderr
        subprocess.run(["ssh-add", "-q", str(lab.client_key)], env={**os.environ, **env}, check=True, timeout=10)
        listed = vtui("ls", "--host", "h1", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        assert {n["host"] for n in json.loads(listed.stdout)} == {"h1"}
    finally:
        agent.terminate()
        agent.wait(timeout=10)


async def test_a_host_behind_a_proxyjump_is_reached_through_it(lab: SshLab, bed_vm: str) -> None:
    (backend,) = remote_backends([HostSpec("h2j", JUMPED, engines(docker=None))])
    assert backend.transport
    link = backend.transport.link
    try:
        await backend.connect()
        client = b"".join([chunk async for chunk in link.stream("echo $SSH_CONNECTION")]).split()[0].decode()
        assert client == lab.host("h1").address, "h2 sees the connection come from h1"
        assert TEST_VM in {n.name for n in await backend.list_nodes()}
    finally:
        await backend.close()
    lab.stop_sshd("h1")
    try:
        gone = await list_all(remote_backends([HostSpec("h2j", JUMPED, engines(docker=None))]))
        (failure,) = gone.failures
        assert failure.reason.startswith("jump host h1: "), failure.reason
        assert failure.reason.endswith("nc 10.77.0.11 22 said: nc: can't connect to remote host (10.77.0.11): "
                                       "Connection refused"), failure.reason  # the lab's ProxyCommand to h1
    finally:
        lab.start_sshd("h1")
    closed = await list_all(remote_backends([HostSpec("h2j", f"{JUMPED}:2222", engines(docker=None))]))
    (failure,) = closed.failures
    assert failure.reason == "jump host h1 could not reach 10.77.0.12:2222: Connection refused", failure.reason


def test_an_unknown_jump_host_key_is_shown_with_its_fingerprint_and_trusted_by_name(
        lab: SshLab, tmp_path: Path, bed_vm: str) -> None:
    home = home_without(lab, tmp_path / "home", "h1")
    known = home / ".ssh/known_hosts"
    before = known.read_text()
    env = {"HOME": str(home)}
    listed = vtui("ls", "--host", JUMPED, "--no-docker", env=env)
    assert listed.returncode == 1
    m = re.search(rf"the host key of jump host h1 \(10\.77\.0\.11\) on the way to {JUMPED} is unknown: "
                  r"ssh-ed25519 (SHA256:\S+)\. .*vtui trust h1 --fingerprint (SHA256:\S+)", listed.stderr)
    assert m and m.group(1) == m.group(2), listed.stderr
    assert known.read_text() == before
    assert vtui("trust", "h1", "--fingerprint", m.group(1), env=env).returncode == 0
    listed = vtui("ls", "--host", JUMPED, "--no-docker", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert TEST_VM in {n["name"] for n in json.loads(listed.stdout)}


async def test_each_unknown_key_on_the_way_is_asked_about_in_turn(
        lab: SshLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = home_without(lab, tmp_path / "home", "h1", "h2")
    monkeypatch.setenv("HOME", str(home))
    (backend,) = remote_backends([HostSpec("h2j", JUMPED, engines(docker=None))])
    assert backend.transport
    link = backend.transport.link
    asked: list[str] = []

    async def yes(problem: HostKeyProblem) -> bool:
        asked.append(problem.sentence().split(" is unknown")[0])
        return True

    link.trust = yes
    try:
        await link.connect()
    finally:
        await link.close()
    assert asked == ["the host key of jump host h1 (10.77.0.11) on the way to h2j",
                     "the host key of h2j (10.77.0.12)"]
    recorded = (home / ".ssh/known_hosts").read_text().splitlines()[-2:]
    assert [line.split()[0] for line in recorded] == ["10.77.0.11", "10.77.0.12"]


async def test_aes_gcm_is_preferred_unless_the_config_names_ciphers(lab: SshLab, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async def cipher() -> str:
        (backend,) = remote_backends([HostSpec("h1", "h1", engines(docker=None))])
        assert backend.transport
        link = backend.transport.link
        assert isinstance(link, SshLink)
        try:
            await link.connect()
            assert link._conn is not None  # the negotiated cipher is only on the connection
            return str(link._conn.get_extra_info("send_cipher"))
        finally:
            await link.close()

    assert await cipher() == "aes256-gcm@openssh.com"
    home = home_without(lab, tmp_path / "home")
    config = home / ".ssh/config"
    config.write_text(config.read_text().replace("Host h1\n", "Host h1\n    Ciphers chacha20-poly1305@openssh.com\n"))
    monkeypatch.setenv("HOME", str(home))
    assert await cipher() == "chacha20-poly1305@openssh.com"


async def test_a_proxyjump_loop_a_bad_jump_host_or_a_broken_ssh_config_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused from ~/.ssh/config alone, before any connection (no lab needed)."""
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh/config").write_text("Host a\n    ProxyJump b\nHost b\n    ProxyJump a\n"
                                          "Host c\n    ProxyJump root@bad:99999\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    listing = await list_all(remote_backends([HostSpec("a", "a", engines(docker=None)),
                                              HostSpec("c", "c", engines(docker=None))]))
    reasons = {f.host: f.reason for f in listing.failures}
    assert reasons["a"] == ("more than 8 ProxyJump hosts on the way to a: do the jump hosts in ~/.ssh/config "
                            "lead to each other?")
    assert reasons["c"] == "ProxyJump on the way to c: 'root@bad:99999': port 99999 is out of range"
    (tmp_path / ".ssh/config").write_text("Host a\n    ProxyJump two words\n")
    listing = await list_all(remote_backends([HostSpec("a", "a", engines(docker=None))]))
    (failure,) = listing.failures
    assert failure.reason == (f"cannot use ~/.ssh/config for a: {tmp_path}/.ssh/config line 2: "
                              "Extra data at end: words")
