"""Shared fixtures: the real engines of the test bed (scripts/testbed.sh) and a vtui runner."""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import libvirt
import pytest
from docker.models.containers import Container
from textual.command import CommandList
from textual.pilot import Pilot

from vtui.app import VtuiApp
from vtui.backends import Backend
from vtui.backends.libvirt_events import ensure_event_loop

TEST_IMAGE = "vtui-test/busybox:latest"
TEST_VM = "vtui-test-vm"
TEST_LABEL = "vtui.test"
SYSTEM_URI = "qemu:///system"
BED_HINT = "run `scripts/testbed.sh up` (make test does)"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own config or writes to their state dir."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("VTUI_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)


def vtui(
    *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the vtui CLI as a user would, in a subprocess."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "vtui", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )


def vtui_json(*args: str) -> list[dict[str, Any]]:
    result = vtui("ls", "--json", *args)
    assert result.returncode == 0, result.stderr
    nodes: list[dict[str, Any]] = json.loads(result.stdout)
    return nodes


def open_fds() -> int:
    """This process's open file descriptors."""
    return len(os.listdir("/proc/self/fd"))


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout.strip()


# --- docker -----------------------------------------------------------------

@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
        client.images.get(TEST_IMAGE)
    except (docker.errors.DockerException, OSError) as err:
        pytest.fail(f"the test bed's dockerd or image is missing ({err}); {BED_HINT}")
    # leftovers of runs that died; not the containers of a run going on beside this one
    stale = time.time() - 30 * 60
    for leftover in client.containers.list(all=True, filters={"label": TEST_LABEL}):
        created = calendar.timegm(time.strptime(leftover.attrs["Created"][:19], "%Y-%m-%dT%H:%M:%S"))
        if created < stale:
            leftover.remove(force=True)
    return client


@dataclass(frozen=True)
class TestContainer:
    __test__ = False  # not a pytest test class
    name: str
    id: str
    handle: Container

    @property
    def key(self) -> str:
        return f"local/container/{self.id}"

    def pause(self) -> None:
        self.handle.pause()

    def remove(self) -> None:
        self.handle.remove(force=True)


class Containers:
    """Creates labelled test containers and removes them afterwards."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.made: list[Container] = []

    def run(self, command: str = "sleep 3600", name: str | None = None, **options: Any) -> TestContainer:
        """A container running `sh -c command`; `options` as docker-py's (tty=True, stdin_open=True…)."""
        name = name or f"vtui-t-{uuid.uuid4().hex[:8]}"
        container = self.client.containers.run(
            TEST_IMAGE, ["sh", "-c", command], name=name, detach=True, labels={TEST_LABEL: "1"}, **options,
        )
        self.made.append(container)
        return TestContainer(name, str(container.id), container)

    def remove_all(self) -> None:
        for container in self.made:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


@pytest.fixture
def containers(docker_client: docker.DockerClient) -> Iterator[Containers]:
    made = Containers(docker_client)
    yield made
    made.remove_all()


def one_core(percent: float | None) -> bool:
    """A busy loop's CPU: a full core, or somewhat less while the 2-core machine runs the tests beside
    it; never half of one (a figure divided by the core count) nor well over one."""
    return percent is not None and 60 <= percent <= 115


def a_run_of(part: Sequence[str], whole: Sequence[str]) -> bool:
    """`part` appears in `whole` as consecutive lines (a log read before the file grew further)."""
    n = len(part)
    return n > 0 and any(list(whole[i:i + n]) == list(part) for i in range(len(whole) - n + 1))


def docker_status(name: str) -> str:
    return sh("docker", "inspect", "-f", "{{.State.Status}}", name)


# --- libvirt ----------------------------------------------------------------

@pytest.fixture
def test_vm() -> Iterator[libvirt.virDomain]:
    """The test bed's VM, left shut off afterwards whatever the test did to it."""
    ensure_event_loop()
    try:
        conn = libvirt.open(SYSTEM_URI)
        dom = conn.lookupByName(TEST_VM)
    except libvirt.libvirtError as err:
        pytest.fail(f"the test bed's libvirtd or VM is missing ({err}); {BED_HINT}")
    if dom.isActive():
        dom.destroy()
    yield dom
    if dom.isActive():
        dom.destroy()
    conn.close()


def define_copy(conn: libvirt.virConnect, xml: str, name: str, disks: Sequence[str] = ()) -> libvirt.virDomain:
    """The domain described by `xml` defined again under `name` (no uuid), with extra disk elements."""
    tree = ET.fromstring(xml)
    tree.find("name").text = name  # type: ignore[union-attr]
    for uuid_element in tree.findall("uuid"):
        tree.remove(uuid_element)
    for disk in disks:
        tree.find("devices").append(ET.fromstring(disk))  # type: ignore[union-attr]
    return conn.defineXML(ET.tostring(tree, encoding="unicode"))


@pytest.fixture
def copied_vm(test_vm: libvirt.virDomain) -> Iterator[Callable[[str], str]]:
    """Copies of the test VM under names of the test's choosing, removed afterwards."""
    conn = libvirt.open(SYSTEM_URI)
    made: list[libvirt.virDomain] = []

    def copy(name: str) -> str:
        made.append(define_copy(conn, test_vm.XMLDesc(), name))
        return name

    yield copy
    discard(made)
    conn.close()


def discard(domains: Sequence[libvirt.virDomain]) -> None:
    """Destroy and undefine the domains a test made; one the test removed itself is skipped."""
    for dom in domains:
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
            dom.undefine()


def virsh_state(name: str) -> str:
    return sh("virsh", "-c", SYSTEM_URI, "domstate", name)


def write_test_driver_xml(path: Path, count: int, prefix: str = "vm") -> str:
    """A libvirt test-driver inventory of `count` VMs in rotating states; returns its URI."""
    states = [1, 3, 5, 1, 6]  # running, paused, shut off, running, crashed
    domains = "".join(
        f"<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        f"<name>{prefix}-{i:04d}</name><memory unit='MiB'>{256 * (1 + i % 8)}</memory><vcpu>{1 + i % 4}</vcpu>"
        f"<os><type>hvm</type></os><test:runstate>{states[i % len(states)]}</test:runstate></domain>"
        for i in range(count)
    )
    path.write_text(f"<node>{domains}</node>")
    return f"test://{path}"


# --- TUI --------------------------------------------------------------------

def make_app(backends: list[Backend], demo: bool = False) -> VtuiApp:
    return VtuiApp(backends, demo=demo)


async def run_from_palette(pilot: Pilot[None], typed: str, offered: str) -> None:
    """Types into the command palette, waits until its highlighted command reads `offered`, runs it."""
    app = pilot.app
    await pilot.press("ctrl+p", *typed)

    def offers() -> bool:
        commands = next(iter(app.screen.query(CommandList)), None)
        at = commands.highlighted if commands else None
        return commands is not None and at is not None and offered in str(commands.get_option_at_index(at).prompt)

    await wait_for(pilot, offers)
    await pilot.press("enter")


async def wait_for(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 20.0) -> float:
    """Wait until predicate() holds; returns the seconds it took, fails the test on timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        await pilot.pause(0.02)
    return time.monotonic() - start
