"""Shared fixtures: the real engines of the test bed (scripts/testbed.sh) and a vtui runner."""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
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
from vtui.backends.base import Backend
from vtui.backends.libvirt import LibvirtBackend
from vtui.backends.libvirt_events import ensure_event_loop
from vtui.config.settings import Config
from vtui.session import Session

TEST_IMAGE = "vtui-test/busybox:latest"
TEST_LABEL = "vtui.test"
SYSTEM_URI = "qemu:///system"
BED_HINT = "run `scripts/testbed.sh up` (make test does)"
VM_TEMPLATE = Path("/var/lib/vtui-testbed/vm.xml")  # written by scripts/testbed.sh
VM_LOG_DIR = Path("/var/log/libvirt/qemu")
# The machine may hold a user's own VMs and containers, under any names: every object a run makes
# has RUN (or a random part) in its name and carries OWNER, so that nothing else is ever touched and
# what a dead run left behind is known as such.
RUN = uuid.uuid4().hex[:6]
TEST_VM = f"vtui-test-vm-{RUN}"  # this run's VM, defined from the template (fixture bed_vm)
RUN_NS = "https://vtui.dev/xmlns/test-run"  # libvirt metadata of the domains tests define


def started(pid: int) -> str | None:
    """A process's start time (clock ticks since boot), which tells it from a later one of the same PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


OWNER = f"{os.getpid()}:{started(os.getpid())}"  # this pytest process
# vtui's state (the links file) of this run, never the user's: removed at the end of the session
STATE_DIR = Path(tempfile.gettempdir()) / f"vtui-test-state-{RUN}"
os.environ["VTUI_STATE_DIR"] = str(STATE_DIR)
TEST_LABELS = {TEST_LABEL: OWNER}  # on every container and network a test makes


# Fixtures every engine-using fixture or test depends on, directly or through another.
ENGINE_FIXTURES = {"docker_client", "bed_vm", "ssh_lab"}


def owner_alive(owner: str) -> bool:
    pid, _, start = owner.partition(":")
    return pid.isdigit() and started(int(pid)) == start


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use a real engine get the `engines` mark: `pytest -m 'not engines'` runs the rest."""
    for item in items:
        marked = any(item.get_closest_marker(name) for name in ("docker", "libvirt"))
        if marked or ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engines)


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
    sweep_dead_runs(client)
    return client


def sweep_dead_runs(client: docker.DockerClient) -> None:
    """Remove the containers and networks of test runs that died; not those of a run going on beside
    this one, nor anything without the test label."""
    stale = time.time() - 30 * 60  # labelled "1" by runs before OWNER: by age
    for leftover in client.containers.list(all=True, filters={"label": TEST_LABEL}):
        owner = leftover.labels.get(TEST_LABEL, "")
        created = calendar.timegm(time.strptime(leftover.attrs["Created"][:19], "%Y-%m-%dT%H:%M:%S"))
        if (owner == "1" and created < stale) or (owner != "1" and not owner_alive(owner)):
            leftover.remove(force=True)
    for network in client.networks.list(filters={"label": TEST_LABEL}):
        if not owner_alive(network.attrs.get("Labels", {}).get(TEST_LABEL, "")):
            with contextlib.suppress(docker.errors.APIError):  # a container of a live run is on it
                network.remove()


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
            TEST_IMAGE, ["sh", "-c", command], name=name, detach=True, labels=TEST_LABELS, **options,
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

def vm_template() -> str:
    try:
        return VM_TEMPLATE.read_text()
    except OSError as err:
        pytest.fail(f"the test bed's VM template is missing ({err}); {BED_HINT}")


@pytest.fixture(scope="session")
def bed_vm() -> Iterator[str]:
    """This run's VM, TEST_VM: the test bed's template defined under the run's name, shut off;
    undefined when the run ends. Domains that dead runs left behind are removed first."""
    ensure_event_loop()
    xml = vm_template()
    try:
        conn = libvirt.open(SYSTEM_URI)
    except libvirt.libvirtError as err:
        pytest.fail(f"the test bed's libvirtd is missing ({err}); {BED_HINT}")
    sweep_dead_vms(conn)
    dom = define_copy(conn, xml, TEST_VM)
    yield TEST_VM
    discard([dom])
    conn.close()


@pytest.fixture
def test_vm(bed_vm: str) -> Iterator[libvirt.virDomain]:
    """This run's VM, left shut off afterwards whatever the test did to it."""
    conn = libvirt.open(SYSTEM_URI)
    dom = conn.lookupByName(bed_vm)
    if dom.isActive():
        dom.destroy()
    yield dom
    if dom.isActive():
        dom.destroy()
    conn.close()


def define_copy(conn: libvirt.virConnect, xml: str, name: str, disks: Sequence[str] = (),
                owner: str = OWNER) -> libvirt.virDomain:
    """The domain described by `xml` defined again under `name` (no uuid), with extra disk elements,
    marked as the run's of `owner` (run_owner)."""
    return conn.defineXML(copy_xml(xml, name, disks, owner))


def copy_xml(xml: str, name: str, disks: Sequence[str] = (), owner: str = OWNER) -> str:
    """The domain XML `xml` under `name`, with no uuid, with extra disk elements, marked as the run's of
    `owner` (what define_copy defines)."""
    tree = ET.fromstring(xml)
    tree.find("name").text = name  # type: ignore[union-attr]
    for uuid_element in tree.findall("uuid"):
        tree.remove(uuid_element)
    for disk in disks:
        tree.find("devices").append(ET.fromstring(disk))  # type: ignore[union-attr]
    metadata = tree.find("metadata")
    if metadata is None:
        metadata = ET.SubElement(tree, "metadata")
    ET.SubElement(metadata, f"{{{RUN_NS}}}run", owner=owner)
    return ET.tostring(tree, encoding="unicode")


def sweep_dead_vms(conn: libvirt.virConnect) -> None:
    """Remove the domains of test runs that died; not those of a run going on beside this one, nor
    any domain that no test run defined."""
    discard([dom for dom in conn.listAllDomains() if (owner := run_owner(dom)) and not owner_alive(owner)])


def run_owner(dom: libvirt.virDomain) -> str | None:
    """The OWNER of the test run that defined `dom`; None for a domain no test run defined."""
    with contextlib.suppress(libvirt.libvirtError):
        mark = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).find(f"metadata/{{{RUN_NS}}}run")
        return None if mark is None else mark.get("owner")
    return None


@pytest.fixture
def copied_vm(bed_vm: str) -> Iterator[Callable[[str], str]]:
    """Copies of the test VM under names of the test's choosing (RUN appended), removed afterwards."""
    conn = libvirt.open(SYSTEM_URI)
    made: list[libvirt.virDomain] = []

    def copy(name: str) -> str:
        made.append(define_copy(conn, vm_template(), f"{name} {RUN}"))
        return f"{name} {RUN}"

    yield copy
    discard(made)
    conn.close()


UNDEFINE_ALL = (libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)


def discard(domains: Sequence[libvirt.virDomain]) -> None:
    """Destroy and undefine the domains a test made, with their snapshots, saved state and log file;
    one the test removed itself is skipped."""
    for dom in domains:
        name = dom.name()
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(UNDEFINE_ALL)
        (VM_LOG_DIR / f"{name}.log").unlink(missing_ok=True)


@pytest.fixture
async def libvirt_backend(bed_vm: str) -> AsyncIterator[LibvirtBackend]:
    """A backend connected to the test bed's libvirtd."""
    backend = LibvirtBackend("local", SYSTEM_URI)
    await backend.connect()
    yield backend
    await backend.close()


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
    return VtuiApp(Session(Config(), backends, demo=demo))


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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(STATE_DIR, ignore_errors=True)
