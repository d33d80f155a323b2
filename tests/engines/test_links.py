"""Links between containers, in the kernels of real containers: traffic crosses, a second wiring
changes nothing, a failure leaves nothing, removal is complete. Every test runs with both executors
of a plan: netlink on this machine (vtui.net.local) and the sh script of `ip` commands that a remote
host runs (vtui.net.batch), here run by a local sh."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.conftest import Containers, TestContainer, sh
from vtui.backends.base import Capability
from vtui.backends.docker import DockerBackend
from vtui.errors import LinkError, Refused
from vtui.net import batch, local
from vtui.net.executor import LocalExecutor, ShellExecutor
from vtui.net.plan import GROUP, End, Impairment, Veth


async def run_sh(command: str) -> str:
    done = await asyncio.create_subprocess_shell(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await done.communicate()
    return out.decode()


async def no_stream(command: str):  # type: ignore[no-untyped-def]
    raise AssertionError("no capture here")
    yield b""


def pid(box: TestContainer) -> int:
    box.handle.reload()
    return int(box.handle.attrs["State"]["Pid"])


def end(box: TestContainer, ifname: str = "eth1") -> End:
    return End(pid(box), ifname, f"container {box.name!r} on local")


def inside(box: TestContainer, *cmd: str) -> str:
    """A command of the host's, run in the container's network namespace (the image needs nothing)."""
    return sh("nsenter", f"--net=/proc/{pid(box)}/ns/net", *cmd)


def links_of(box: TestContainer) -> dict[str, str]:
    """name -> 'alias group' of each interface but lo."""
    out = inside(box, "ip", "-o", "-d", "link", "show")
    shown: dict[str, str] = {}
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name != "lo":
            shown[name] = line
    return shown


def pings(box: TestContainer, address: str) -> bool:
    done = subprocess.run(["docker", "exec", box.name, "ping", "-c", "1", "-W", "2", address],
                          capture_output=True, text=True, timeout=30)
    return done.returncode == 0


@dataclass(frozen=True)
class Executor:
    wire: Callable[[Veth], bool]
    unwire: Callable[[Veth], bool]
    admin: Callable[[Veth, str, bool], object]
    impair: Callable[[Veth, str, Impairment], object]


def by_script(script: Callable[..., str]) -> Callable[..., bool]:
    def run(veth: Veth, *args: object) -> bool:
        done = subprocess.run(["sh", "-c", script(veth, *args)], capture_output=True, text=True, timeout=30)
        return batch.outcome(veth, done.stdout + done.stderr)

    return run


@pytest.fixture(params=["netlink", "ip-script"])
def ex(request: pytest.FixtureRequest) -> Executor:
    if request.param == "netlink":
        return Executor(local.wire_veth, local.unwire_veth, local.set_admin, local.impair)
    return Executor(by_script(batch.wire_script), by_script(batch.unwire_script), by_script(batch.admin_script),
                    by_script(batch.impair_script))


@pytest.fixture(params=["netlink", "ip-script"])
def executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pair(containers: Containers) -> tuple[TestContainer, TestContainer]:
    return containers.run(), containers.run()


def test_a_veth_link_carries_traffic_and_is_made_once(pair: tuple[TestContainer, TestContainer], ex: Executor) -> None:
    a, b = pair
    link = Veth(uuid.uuid4().hex[:8], end(a), end(b), mtu=9000)
    assert ex.wire(link) is True
    assert ex.wire(link) is False  # already there, as planned: nothing changes
    for box, side, address in ((a, "a", "10.99.0.1/30"), (b, "b", "10.99.0.2/30")):
        line = links_of(box)["eth1"]
        assert f"alias {link.alias(side)}" in line and f"group {GROUP} " in line
        assert "mtu 9000" in line and "state UP" in line
        assert "tx-checksumming: on" in inside(box, "ethtool", "-k", "eth1")  # kernel to kernel: offloads stay
        inside(box, "ip", "addr", "add", address, "dev", "eth1")
    assert pings(a, "10.99.0.2") and pings(b, "10.99.0.1")
    assert ex.unwire(link) is True
    assert "eth1" not in links_of(a) and "eth1" not in links_of(b)
    assert ex.unwire(link) is False


def carrier(box: TestContainer) -> bool:
    return "NO-CARRIER" not in links_of(box)["eth1"]


def soon(predicate: Callable[[], bool], timeout: float = 5) -> bool:
    """The kernel reports a carrier change up to a second later (linkwatch)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_one_end_down_takes_the_peers_carrier_and_up_brings_traffic_back(
    pair: tuple[TestContainer, TestContainer], ex: Executor,
) -> None:
    a, b = pair
    link = Veth(uuid.uuid4().hex[:8], end(a), end(b))
    ex.wire(link)
    inside(a, "ip", "addr", "add", "10.99.0.1/30", "dev", "eth1")
    inside(b, "ip", "addr", "add", "10.99.0.2/30", "dev", "eth1")
    assert soon(lambda: carrier(b)) and pings(a, "10.99.0.2")
    ex.admin(link, "a", False)
    assert "state DOWN" in links_of(a)["eth1"] and soon(lambda: not carrier(b))
    assert not pings(b, "10.99.0.1")
    ex.admin(link, "a", True)
    assert soon(lambda: carrier(b)) and pings(a, "10.99.0.2")
    ex.unwire(link)
    with pytest.raises(LinkError, match=rf"eth1 of container '{a.name}' on local: the link is not wired"):
        ex.admin(link, "a", False)


RECEIVE = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], 5201)); s.listen(1)
print("ready", flush=True)
c, _ = s.accept(); n = 0; first = None
while chunk := c.recv(1 << 20):
    first = first or time.monotonic(); n += len(chunk)
print(n * 8 / (time.monotonic() - first) / 1000)
"""
SEND = """
import socket, sys, time
c = socket.create_connection((sys.argv[1], 5201)); end = time.monotonic() + float(sys.argv[2]); data = bytes(1 << 20)
while time.monotonic() < end:
    c.sendall(data)
c.close()
"""


def throughput_kbit(sender: TestContainer, receiver: TestContainer, address: str, seconds: float = 3) -> float:
    """TCP goodput from sender to receiver, by Python run from the host in each namespace."""
    listen = subprocess.Popen(["nsenter", f"--net=/proc/{pid(receiver)}/ns/net", sys.executable, "-c", RECEIVE,
                               address], stdout=subprocess.PIPE, text=True)
    try:
        assert listen.stdout is not None and listen.stdout.readline().strip() == "ready"
        subprocess.run(["nsenter", f"--net=/proc/{pid(sender)}/ns/net", sys.executable, "-c", SEND, address,
                        str(seconds)], check=True, timeout=seconds + 30)
        return float(listen.communicate(timeout=30)[0])
    finally:
        listen.kill()
        listen.wait()


def test_a_rate_holds_one_direction_within_ten_percent(pair: tuple[TestContainer, TestContainer], ex: Executor) -> None:
    a, b = pair
    link = Veth(uuid.uuid4().hex[:8], end(a), end(b))
    ex.wire(link)
    inside(a, "ip", "addr", "add", "10.99.0.1/30", "dev", "eth1")
    inside(b, "ip", "addr", "add", "10.99.0.2/30", "dev", "eth1")
    ex.impair(link, "a", Impairment(rate_kbit=20_000))
    assert 18_000 <= throughput_kbit(a, b, "10.99.0.2") <= 22_000  # a sends at the rate
    assert throughput_kbit(b, a, "10.99.0.1") > 200_000  # the other direction is not held
    ex.impair(link, "a", Impairment())
    assert throughput_kbit(a, b, "10.99.0.2") > 200_000


def has_netem(box: TestContainer) -> bool:
    """Probed by tc itself on the container's loopback, apart from vtui."""
    ns = f"--net=/proc/{pid(box)}/ns/net"
    probe = subprocess.run(["nsenter", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
                           capture_output=True, text=True, timeout=30)
    subprocess.run(["nsenter", ns, "tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True, timeout=30)
    return probe.returncode == 0


def test_netem_is_set_or_its_absence_named(pair: tuple[TestContainer, TestContainer], ex: Executor) -> None:
    a, b = pair
    link = Veth(uuid.uuid4().hex[:8], end(a), end(b))
    ex.wire(link)
    if not has_netem(a):
        ex.impair(link, "a", Impairment(rate_kbit=20_000))  # then netem over it: another kind of qdisc
        with pytest.raises(LinkError, match=rf"eth1 of container '{a.name}' on local: this kernel has no sch_netem"):
            ex.impair(link, "a", Impairment(delay_ms=20, loss_pct=1))
        ex.impair(link, "a", Impairment(rate_kbit=10_000))  # the rest still works
        assert "tbf" in inside(a, "tc", "qdisc", "show", "dev", "eth1")
        pytest.skip("this kernel has no sch_netem (tc cannot add a netem qdisc): delay and loss are not measurable")
    ex.impair(link, "a", Impairment(delay_ms=20, loss_pct=1))
    shown = inside(a, "tc", "qdisc", "show", "dev", "eth1")
    assert "netem" in shown and "delay 20ms" in shown and "loss 1%" in shown


def test_a_name_taken_in_the_second_namespace_leaves_nothing_behind(
    pair: tuple[TestContainer, TestContainer], ex: Executor,
) -> None:
    a, b = pair
    inside(b, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth9")  # not vtui's
    before_a, before_b = set(links_of(a)), set(links_of(b))
    with pytest.raises(LinkError, match=rf"eth1 of container '{b.name}' on local: that name is taken"):
        ex.wire(Veth(uuid.uuid4().hex[:8], end(a), end(b)))
    assert set(links_of(a)) == before_a and set(links_of(b)) == before_b
    assert "alias" not in links_of(b)["eth1"]  # the user's interface is untouched


@pytest.mark.parametrize(("ifname", "problem"), [
    ("a-name-of-16-ch", None),
    ("a-name-of-16-chr", "an interface name has 1 to 15 characters"),
    ("eth 1", "letters, digits and"),
    ("eth1;reboot", "letters, digits and"),
    ("..", "letters, digits and"),
])
def test_interface_names_the_kernel_or_a_shell_would_refuse_are_refused_first(
    pair: tuple[TestContainer, TestContainer], ifname: str, problem: str | None, ex: Executor,
) -> None:
    a, b = pair
    link = Veth(uuid.uuid4().hex[:8], end(a, ifname), end(b, "eth1"))
    if problem is None:
        assert ex.wire(link) and ifname in links_of(a)
        return
    with pytest.raises(LinkError, match=problem):
        ex.wire(link)
    assert set(links_of(a)) == {"eth0"} and set(links_of(b)) == {"eth0"}


def test_a_stopped_container_is_named(pair: tuple[TestContainer, TestContainer], ex: Executor) -> None:
    a, b = pair
    gone = end(b)
    b.handle.stop(timeout=0)
    with pytest.raises(LinkError, match=rf"container '{b.name}' on local is not running"):
        ex.wire(Veth(uuid.uuid4().hex[:8], end(a), gone))
    assert set(links_of(a)) == {"eth0"}


async def test_the_docker_backend_gives_a_running_containers_namespace(containers: Containers) -> None:
    running, stopped = containers.run(), containers.run()
    stopped.handle.stop(timeout=0)
    backend = DockerBackend("local", "unix:///var/run/docker.sock")
    await backend.connect()
    try:
        nodes = {n.name: n for n in await backend.list_nodes()}
        assert backend.supports(Capability.NETNS)
        assert await backend.netns_pid(nodes[running.name]) == pid(running)
        with pytest.raises(Refused, match=f"'{stopped.name}' is exited: a link needs it running") as refused:
            await backend.netns_pid(nodes[stopped.name])
        assert refused.value.remedy == "start"
    finally:
        await backend.close()


async def test_many_links_are_made_and_removed_in_one_go(pair: tuple[TestContainer, TestContainer],
                                                        executor: str) -> None:
    """wire_many and unwire_many: one command (or one thread) for all; removal by a doomed interface
    group, one kernel call per namespace; a link that is not there is said to be absent."""
    a, b = pair
    ex = LocalExecutor() if executor == "netlink" else ShellExecutor(run_sh, no_stream, "local")
    links = [Veth(uuid.uuid4().hex[:8], end(a, f"m{n}"), end(b, f"m{n}")) for n in range(12)]
    assert await ex.wire_many(links) == [True] * 12
    assert {f"m{n}" for n in range(12)} <= set(links_of(a))
    assert await ex.unwire_many([*links, Veth(uuid.uuid4().hex[:8], end(a, "none"), end(b, "none"))]) == \
        [True] * 12 + [False]
    assert set(links_of(a)) == {"eth0"} and set(links_of(b)) == {"eth0"}
