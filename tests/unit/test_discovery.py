"""Discovery over real sockets: listeners on loopback addresses (all of 127.0.0.0/8 is local on
Linux), a real sshd and a real dockerd reached over TCP; nothing leaves the machine."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import types
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import open_fds
from vtui.cli.discover import run_discover
from vtui.transport.discovery import Scan
from vtui.transport.scan_terms import PORTS, Found, OpenPort, Service, parse_network, parse_ports

OPENSSH = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"
DROPBEAR = b"Welcome, stranger\r\nSSH-2.0-dropbear_2022.83\r\n"  # RFC 4253: lines may come first
DOCKER_SOCKET = "/var/run/docker.sock"
TCP_ESTABLISHED = 1  # tcpi_state, the first byte of TCP_INFO


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def closed_ports(count: int) -> list[int]:
    """Ports nothing here listens on (the kernel's choice of free ports, released again)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Gauge:
    """Connections open at once, as the servers see them: at each accept, how many of the
    connections they hold are still ESTABLISHED (a client's close turns its server side to
    CLOSE_WAIT at once on loopback, before that client can open its next one)."""

    def __init__(self) -> None:
        self.conns: set[socket.socket] = set()
        self.peak = 0

    def accepted(self, sock: socket.socket) -> None:
        self.conns.add(sock)
        live = sum(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == TCP_ESTABLISHED for s in self.conns)
        self.peak = max(self.peak, live)


class Listener:
    """A TCP server on one loopback address: says `greeting` (None: nothing) on accept, answers an
    HTTP request with `reply` if given, then waits for the client to hang up."""

    def __init__(self, host: str, port: int = 0, greeting: bytes | None = None, reply: bytes | None = None,
                 gauge: Gauge | None = None) -> None:
        self.host, self.port, self.greeting, self.reply = host, port, greeting, reply
        self.gauge = gauge or Gauge()
        self.accepted = 0
        self.handlers: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> Listener:
        self.server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.handlers:
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        sock = writer.get_extra_info("socket")
        self.accepted += 1
        self.gauge.accepted(sock)
        try:
            if self.greeting:
                writer.write(self.greeting)
            if self.reply:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(self.reply)
                await writer.drain()
                writer.close()
            await reader.read()  # until the client hangs up
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.gauge.conns.discard(sock)
            self.handlers.discard(task)
            writer.close()


@contextlib.asynccontextmanager
async def listening(*listeners: Listener) -> AsyncIterator[list[Listener]]:
    started: list[Listener] = []
    try:
        for listener in listeners:
            started.append(await listener.start())
        yield started
    finally:
        for listener in started:
            await listener.stop()


@contextlib.contextmanager
def silent_listeners(hosts: Sequence[str]) -> Iterator[int]:
    """Listening sockets that never accept: the kernel completes each handshake (backlog) and the
    client then waits for a banner that never comes. No fd in this process per connection."""
    socks: list[socket.socket] = []
    try:
        port = 0
        for host in hosts:
            s = socket.socket()
            socks.append(s)
            s.bind((host, port))
            s.listen(256)
            port = s.getsockname()[1]
        yield port
    finally:
        for s in socks:
            s.close()


@pytest.fixture
async def lab() -> AsyncIterator[tuple[Service, ...]]:
    """127.0.0.3 and .5 say SSH banners on port P, 127.0.0.4 listens silently on port Q; the rest
    of 127.0.0.0/29 (.1, .2, .6) refuses both."""
    ssh3 = await Listener("127.0.0.3", greeting=OPENSSH).start()
    try:
        async with listening(Listener("127.0.0.5", ssh3.port, greeting=DROPBEAR), Listener("127.0.0.4")) as (_, q):
            yield (Service(ssh3.port, "ssh"), Service(q.port, "libvirt"))
    finally:
        await ssh3.stop()


def expected(ports: tuple[Service, ...]) -> list[Found]:
    ssh, plain = ports
    return [
        Found(ip("127.0.0.3"), (OpenPort(ssh.port, "ssh", "SSH-2.0-OpenSSH_9.2p1 Debian-2"),)),
        Found(ip("127.0.0.4"), (OpenPort(plain.port, "libvirt", ""),)),
        Found(ip("127.0.0.5"), (OpenPort(ssh.port, "ssh", "SSH-2.0-dropbear_2022.83"),)),
    ]


async def test_finds_exactly_the_listeners_reads_banners_and_counts_the_rest(lab: tuple[Service, ...]) -> None:
    progress: list[tuple[int, int]] = []
    streamed: list[Found] = []
    s = Scan("127.0.0.0/29", lab, on_progress=lambda done, total: progress.append((done, total)))
    found = await s.run(on_found=streamed.append)

    assert found == expected(lab)
    assert sorted(streamed, key=lambda f: f.address) == found
    summary = s.summary()
    assert (summary.addresses, summary.total, summary.done) == (6, 12, 12)
    assert (summary.answered, summary.refused, summary.unreachable, summary.no_answer) == (3, 3, 0, 0)
    assert summary.complete
    assert summary.sentence().startswith("127.0.0.0/29: 6 addresses, 3 answered, 3 refused, 0 no answer in ")
    assert progress[0] == (0, 12) and progress[-1] == (12, 12)
    assert [done for done, _ in progress] == list(range(13))
    assert s.in_flight == 0


async def test_streaming_yields_hosts_before_the_scan_ends(lab: tuple[Service, ...]) -> None:
    s = Scan("127.0.0.0/29", lab, rate=50)  # 12 attempts, 0.22 s
    seen: list[tuple[Found, int]] = []
    async for host in s:
        seen.append((host, s.done))
    assert [host for host, _ in seen] == expected(lab)  # address order: hosts are tried in turn
    assert seen[0][1] < s.total, "the first host must come while the scan still runs"
    assert s.summary().complete


async def test_a_single_address_and_a_slash_32_are_one_host(lab: tuple[Service, ...]) -> None:
    for text in ("127.0.0.3", "127.0.0.3/32", " 127.0.0.3/32 "):
        s = Scan(text, lab)
        assert await s.run() == expected(lab)[:1]
        assert (s.summary().addresses, s.total) == (1, 2)


async def test_ipv6_loopback() -> None:
    try:
        socket.socket(socket.AF_INET6).close()
        socket.getaddrinfo("::1", 0, flags=socket.AI_NUMERICHOST)
    except OSError:
        pytest.skip("no IPv6 here")
    async with listening(Listener("::1", greeting=OPENSSH)) as (server,):
        found = await Scan("::1", [Service(server.port, "ssh")]).run()
    assert found == [Found(ip("::1"), (OpenPort(server.port, "ssh", "SSH-2.0-OpenSSH_9.2p1 Debian-2"),))]


NETNS_SCAN = """
import asyncio, json
from vtui.transport.discovery import Scan
from vtui.transport.scan_terms import Service
scan = Scan("10.99.0.0/28", [Service(22, "ssh"), Service(2375, "docker")], timeout=0.3)
assert asyncio.run(scan.run()) == []
print(json.dumps(scan.summary().__dict__))
"""


def test_refused_no_answer_and_unreachable_are_counted_apart() -> None:
    """In a network namespace of its own: 10.99.0.1 is local (refused), the rest of a veth link's
    10.99.0.0/24 has nobody to answer ARP (no answer), 10.99.0.5 is prohibited and 10.99.0.8/29 unreachable."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root, unshare and ip")
    setup = ("ip link set lo up && ip link add v0 type veth peer name v1 && ip addr add 10.99.0.1/24 dev v0 && "
             "ip link set v0 up && ip link set v1 up && "
             "ip route add prohibit 10.99.0.5/32 && ip route add unreachable 10.99.0.8/29 && "
             f"exec {sys.executable} -c '{NETNS_SCAN}'")
    result = subprocess.run(["unshare", "--net", "sh", "-c", setup], capture_output=True, text=True, timeout=30,
                            cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["addresses"], summary["answered"], summary["refused"], summary["unreachable"],
            summary["no_answer"], summary["failed"]) == (14, 0, 1, 8, 5, 0)
    assert summary["elapsed"] >= 0.3


async def test_concurrency_bounds_the_sockets_open_at_once() -> None:
    # Twelve silent ssh ports: each attempt holds its socket for the whole banner timeout.
    gauge = Gauge()
    first = await Listener("127.0.0.1", gauge=gauge).start()
    second = await Listener("127.0.0.1", gauge=gauge).start()
    others = [Listener(f"127.0.0.{n}", port, gauge=gauge) for n in range(2, 7) for port in (first.port, second.port)]
    try:
        async with listening(*others):
            s = Scan("127.0.0.0/29", [Service(first.port, "ssh"), Service(second.port, "ssh")],
                     concurrency=3, rate=10_000, timeout=0.15)
            found = await s.run()
    finally:
        await first.stop()
        await second.stop()
    assert len(found) == 6 and all(port.banner == "" for host in found for port in host.services)
    assert s.peak == 3, "three workers, every one of them busy"
    assert gauge.peak <= 3, f"the servers saw {gauge.peak} connections at once"
    assert gauge.peak >= 2
    assert s.summary().elapsed >= 4 * 0.15 * 0.98, "12 attempts of 0.15 s three at a time take four rounds"


async def test_the_rate_limit_spaces_attempts() -> None:
    ports = [Service(p, "tcp") for p in closed_ports(3)]
    times: list[float] = []
    loop = asyncio.get_running_loop()
    s = Scan("127.0.0.0/28", ports, rate=100, on_progress=lambda done, _: times.append(loop.time()))
    start = loop.time()
    assert await s.run() == []
    assert s.total == 42 and s.summary().refused == 14
    # The k-th attempt to finish cannot have started before slot k-1: start + (k-1)/rate.
    for done, at in enumerate(times[1:], 1):
        assert at >= start + (done - 1) / 100 - 1e-3, f"attempt {done} came {start + (done - 1) / 100 - at:.4f} s early"
    elapsed = s.summary().elapsed
    assert 0.41 <= elapsed < 0.41 + 2, elapsed  # above: the pacing; below: not stuck (a loaded machine's margin)


async def wait_for(condition: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    try:
        async with asyncio.timeout(seconds):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"no {what} after {seconds} s") from None


SILENT_HOSTS = [f"127.0.2.{n}" for n in range(1, 31)]


@contextlib.contextmanager
def no_resource_warnings() -> Iterator[None]:
    gc.collect()  # what earlier tests left to the collector is not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize("how", ["run", "stream"])
async def test_cancelling_closes_every_socket_at_once(how: str) -> None:
    with silent_listeners(SILENT_HOSTS) as port, no_resource_warnings():
        baseline = open_fds()
        s = Scan("127.0.2.0/27", [Service(port, "ssh")], concurrency=64, rate=100_000, timeout=30)

        async def consume() -> None:
            if how == "run":
                await s.run()
            else:
                async for _ in s:
                    pass

        task = asyncio.create_task(consume())
        await wait_for(lambda: s.in_flight == 30, "30 sockets waiting for a banner")
        assert open_fds() == baseline + 30
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert s.in_flight == 0
        assert open_fds() == baseline, "every socket closed when the cancellation completes"
        summary = s.summary()
        assert not summary.complete
        assert summary.sentence().startswith("127.0.2.0/27: stopped after 0 of 30 attempts: 30 addresses, 0 answered")


async def test_leaving_the_stream_early_closes_every_socket() -> None:
    with silent_listeners(SILENT_HOSTS) as port, no_resource_warnings():
        async with listening(Listener("127.0.2.31", greeting=OPENSSH)) as (early,):
            # .1-.30 hold port P forever; .31 answers on Q while they wait.
            s = Scan("127.0.2.0/26", [Service(port, "ssh"), Service(early.port, "ssh")],
                     concurrency=64, rate=100_000, timeout=30)
            baseline = open_fds()
            async with contextlib.aclosing(s.stream()) as hosts:
                async for host in hosts:
                    assert str(host.address) == "127.0.2.31"
                    await wait_for(lambda: s.in_flight == 30 and s.done == 124 - 30 and not early.handlers,
                                   "30 sockets left waiting")
                    assert open_fds() == baseline + 30
                    break
            assert s.in_flight == 0
            assert open_fds() == baseline, "closing the stream must close every socket"


@pytest.mark.parametrize(("text", "sentence"), [
    ("10.0.0/33", "'10.0.0/33' is not an address or a network; write it like 192.168.1.0/24 or 192.168.1.7"),
    ("banana", "'banana' is not an address or a network"),
    ("", "'' is not an address or a network"),
    ("10.0.0.0/8", "10.0.0.0/8 has 16777216 addresses; vtui scans at most 65536 (an IPv4 /16) at a time"),
    ("fd00::/64", "fd00::/64 has 18446744073709551616 addresses; vtui scans at most 65536"),
])
def test_bad_ranges_are_refused_with_a_sentence(text: str, sentence: str) -> None:
    with pytest.raises(ValueError, match="^" + sentence.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        Scan(text)


def test_a_slash_16_is_allowed_and_host_bits_are_ignored() -> None:
    assert Scan("10.1.0.0/16").total == 65534 * len(PORTS)
    assert parse_network("192.168.1.77/24") == ipaddress.ip_network("192.168.1.0/24")


def test_bad_settings_are_refused() -> None:
    for kwargs, words in [({"concurrency": 0}, "concurrency must be at least 1"),
                          ({"rate": 0}, "rate must be a positive"),
                          ({"timeout": -1}, "timeout must be a positive"),
                          ({"concurrency": 10**7}, "needs more open files")]:
        with pytest.raises(ValueError, match=words):
            Scan("127.0.0.1", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no ports"):
        Scan("127.0.0.1", [])
    with pytest.raises(ValueError, match="port 22 is listed twice: 22, 23, 22"):
        Scan("127.0.0.1", [Service(22, "ssh"), Service(23, "tcp"), Service(22, "tcp")])
    with pytest.raises(ValueError, match="not a TCP port"):
        Scan("127.0.0.1", [Service(0, "ssh")])


def test_ports_are_spelled_by_name_number_or_both() -> None:
    assert parse_ports("ssh,docker:2377,16509,8080") == (
        Service(22, "ssh"), Service(2377, "docker"), Service(16509, "libvirt"), Service(8080, "tcp"))
    assert parse_ports("docker-tls, libvirt-tls") == (Service(2376, "docker-tls"), Service(16514, "libvirt-tls"))
    with pytest.raises(ValueError, match="'sssh' in ports 'ssh,sssh' is not a port"):
        parse_ports("ssh,sssh")
    with pytest.raises(ValueError, match="'70000' in ports"):
        parse_ports("70000")
    with pytest.raises(ValueError, match="port 22 is listed twice in ports 'ssh,22'"):
        parse_ports("ssh,22")


# --- real engines: sshd and dockerd ---------------------------------------------------------


async def test_a_real_sshd_banner(tmp_path: Path) -> None:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if os.geteuid() != 0 or not os.access(sshd, os.X_OK) or not shutil.which("unshare"):
        pytest.skip("needs root, sshd and unshare")
    key = tmp_path / "host_key"
    keygen = await asyncio.create_subprocess_exec("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
    assert await keygen.wait() == 0
    (port,) = closed_ports(1)
    # sshd wants /run/sshd: give it one in a private mount namespace rather than on the host.
    script = (f"mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec {sshd} -D -e -f /dev/null "
              f"-h {key} -o ListenAddress=127.0.0.6:{port} -o PidFile=none")
    proc = await asyncio.create_subprocess_exec(
        "unshare", "--mount", "--propagation", "private", "sh", "-c", script,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(10):
            while b"Server listening" not in (line := await proc.stderr.readline()):
                assert line, "sshd did not start"
        found = await Scan("127.0.0.0/29", [Service(port, "ssh")]).run()
    finally:
        proc.terminate()
        await proc.wait()
    assert [f.address for f in found] == [ip("127.0.0.6")]
    banner = found[0].services[0].banner
    assert banner.startswith("SSH-2.0-OpenSSH_"), banner


async def relay_to_docker(host: str) -> asyncio.Server:
    """dockerd's unix socket offered over TCP on a loopback address, the way `-H tcp://` would."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(DOCKER_SOCKET)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    return await asyncio.start_server(serve, host, 0)


@pytest.mark.docker
async def test_dockerd_answers_ping_and_other_http_does_not() -> None:
    try:
        probe = socket.socket(socket.AF_UNIX)
        probe.connect(DOCKER_SOCKET)
        probe.close()
    except OSError as problem:
        pytest.skip(f"no dockerd at {DOCKER_SOCKET}: {problem}")
    relay = await relay_to_docker("127.0.0.6")
    port = relay.sockets[0].getsockname()[1]
    not_docker = b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n"
    try:
        async with listening(Listener("127.0.0.2", port, reply=not_docker)):
            found = await Scan("127.0.0.0/29", [Service(port, "docker")]).run()
    finally:
        relay.close()
        await relay.wait_closed()
    assert [str(f.address) for f in found] == ["127.0.0.2", "127.0.0.6"]
    assert found[0].services[0].banner == "", "an HTTP server that is not dockerd is open, unconfirmed"
    docker = await asyncio.create_subprocess_exec(
        "docker", "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}", stdout=asyncio.subprocess.PIPE)
    version = (await docker.communicate())[0].decode().split()
    assert found[1].services[0].banner == f"Docker/{version[0]} (linux) API {version[1]}"


# --- the command ---------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def spelled(ports: tuple[Service, ...]) -> str:
    return ",".join(f"{s.name}:{s.port}" for s in ports)


async def test_command_prints_a_table_and_a_summary(lab: tuple[Service, ...]) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert await run_discover("127.0.0.0/29", ports=spelled(lab), out=out, err=err) == 0
    ssh, plain = lab[0].port, lab[1].port
    rows = [line.split(None, 4) for line in out.getvalue().splitlines()]
    assert rows == [
        ["ADDRESS", "SSH", "LIBVIRT", "DOCKER", "BANNER"],
        ["127.0.0.3", str(ssh), "-", "-", "SSH-2.0-OpenSSH_9.2p1 Debian-2"],
        ["127.0.0.4", "-", str(plain), "-"],
        ["127.0.0.5", str(ssh), "-", "-", "SSH-2.0-dropbear_2022.83"],
    ]
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("127.0.0.0/29: 6 addresses, 3 answered, 3 refused, 0 no answer")
    assert "\r" not in err.getvalue(), "no progress when stderr is not a terminal"


async def test_command_json_and_progress_on_a_terminal(lab: tuple[Service, ...]) -> None:
    out, err = io.StringIO(), Terminal()
    assert await run_discover("127.0.0.0/29", ports=lab, json_out=True, out=out, err=err) == 0
    assert json.loads(out.getvalue()) == [
        {"address": "127.0.0.3", "services": [{"port": lab[0].port, "name": "ssh",
                                               "banner": "SSH-2.0-OpenSSH_9.2p1 Debian-2"}]},
        {"address": "127.0.0.4", "services": [{"port": lab[1].port, "name": "libvirt", "banner": ""}]},
        {"address": "127.0.0.5", "services": [{"port": lab[0].port, "name": "ssh",
                                               "banner": "SSH-2.0-dropbear_2022.83"}]},
    ]
    text = err.getvalue()
    assert "\r\x1b[Kscanning 127.0.0.0/29: 12/12 attempts, 3 answered" in text
    assert text.endswith("\r\x1b[K127.0.0.0/29: 6 addresses, 3 answered, 3 refused, 0 no answer in " +
                         text.rsplit(" in ", 1)[1])


async def test_command_other_ports_get_a_column_and_nothing_answering_is_1() -> None:
    out, err = io.StringIO(), io.StringIO()
    (port,) = closed_ports(1)
    assert await run_discover("127.0.0.0/30", ports=f"ssh:{port},{port + 1}", out=out, err=err) == 1
    assert out.getvalue() == ""
    assert err.getvalue().startswith("127.0.0.0/30: 2 addresses, 0 answered, 2 refused, 0 no answer in ")
    out = io.StringIO()
    assert await run_discover("127.0.0.0/30", ports=f"{port}", json_out=True, out=out, err=err) == 1
    assert json.loads(out.getvalue()) == []
    async with listening(Listener("127.0.0.1", port)):
        out = io.StringIO()
        assert await run_discover("127.0.0.1", ports=f"ssh:{port + 1},{port}", out=out, err=err) == 0
    assert out.getvalue().splitlines()[0].split() == ["ADDRESS", "SSH", "LIBVIRT", "DOCKER", "OTHER", "BANNER"]
    assert out.getvalue().splitlines()[1].split() == ["127.0.0.1", "-", "-", "-", str(port)]


@pytest.mark.parametrize(("cidr", "ports", "sentence"), [
    ("10.0.0/33", "ssh", "vtui: '10.0.0/33' is not an address or a network; write it like 192.168.1.0/24"),
    ("10.0.0.0/8", "ssh", "vtui: 10.0.0.0/8 has 16777216 addresses; vtui scans at most 65536"),
    ("127.0.0.1", "ssh,ssl", "vtui: 'ssl' in ports 'ssh,ssl' is not a port (1-65535), a service (ssh, libvirt"),
])
async def test_command_bad_input_is_2(cidr: str, ports: str, sentence: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert await run_discover(cidr, ports=ports, out=out, err=err) == 2
    assert err.getvalue().startswith(sentence) and out.getvalue() == ""


async def test_command_add_hands_ssh_hosts_to_add_hosts(
    lab: tuple[Service, ...], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The plumbing, against a stand-in with add_hosts' signature (the real one: next test)."""
    present = {f"127.0.0.5:{lab[0].port}"}
    calls: list[tuple[Path | None, list[str]]] = []

    def add_hosts(path: Path | None, targets: Sequence[str]) -> list[str]:
        calls.append((path, list(targets)))
        return [t for t in targets if t not in present]

    stand_in = types.SimpleNamespace(add_hosts=add_hosts, default_path=lambda: tmp_path / "default")
    monkeypatch.setitem(sys.modules, "vtui.config.hosts", stand_in)
    err = io.StringIO()
    hosts = tmp_path / "hosts"
    assert await run_discover("127.0.0.0/29", ports=lab, add=True, hosts_file=hosts, out=io.StringIO(), err=err) == 0
    ssh = lab[0].port
    assert calls == [(hosts, [f"127.0.0.3:{ssh}", f"127.0.0.5:{ssh}"])], "SSH hosts only; 127.0.0.4 has none"
    assert err.getvalue().splitlines()[-1] == f"vtui: added 1 to {hosts}: 127.0.0.3:{ssh} (1 already there)"


async def test_command_add_with_the_real_hosts_file(lab: tuple[Service, ...], tmp_path: Path) -> None:
    hosts_module = pytest.importorskip("vtui.config.hosts")
    if not hasattr(hosts_module, "add_hosts"):
        pytest.skip("vtui.config.hosts has no add_hosts yet")
    hosts = tmp_path / "hosts.toml"
    ssh = lab[0].port
    err = io.StringIO()
    assert await run_discover("127.0.0.0/29", ports=lab, add=True, hosts_file=hosts, out=io.StringIO(), err=err) == 0
    assert err.getvalue().splitlines()[-1] == f"vtui: added 2 to {hosts}: 127.0.0.3:{ssh}, 127.0.0.5:{ssh}"
    err = io.StringIO()
    assert await run_discover("127.0.0.0/29", ports=lab, add=True, hosts_file=hosts, out=io.StringIO(), err=err) == 0
    assert err.getvalue().splitlines()[-1] == f"vtui: all 2 already in {hosts}: nothing added"
    broken = tmp_path / "broken.toml"
    broken.write_text("[[host]\n")
    err = io.StringIO()
    assert await run_discover("127.0.0.0/29", ports=lab, add=True, hosts_file=broken, out=io.StringIO(), err=err) == 1
    assert err.getvalue().splitlines()[-1].startswith("vtui: ") and str(broken) in err.getvalue()


def test_discovery_does_not_import_textual() -> None:
    code = ("import sys, vtui.transport.discovery, vtui.cli.discover; "
            "print(sorted(m for m in sys.modules if 'textual' in m))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
