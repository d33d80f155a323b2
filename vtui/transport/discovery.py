"""Discovery: which addresses of a network range answer on the ports vtui cares about.

Plain asyncio TCP connects, no external scanner. A `Scan` tries every usable address of the range
on every port, at most `concurrency` sockets open at once and at most `rate` connection attempts
per second (fixed spacing: attempt n never starts before start + n/rate). An open SSH port has
its identification line read; an open docker port is asked `GET /_ping` to tell dockerd from
anything else. Refused, timed out and unreachable are all "closed" in the results and are
counted apart in the summary.

    scan = Scan("192.168.1.0/24", on_progress=show)   # ValueError: a sentence naming the input
    found = await scan.run(on_found=add_row)           # sorted by address when complete
    print(scan.summary().sentence())

or, streaming: `async with contextlib.aclosing(scan.stream()) as hosts: async for host in hosts`.
Cancelling the task that runs `run()` (or iterates `stream()`) closes every socket before the
cancellation completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import resource
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from typing import Literal

from vtui.transport.scan_terms import PORTS, Found, IPAddress, IPNetwork, OpenPort, Service, Summary, parse_network

BANNER_LIMIT = 8192  # bytes read at most while looking for a service's identification


Outcome = Literal["open", "refused", "unreachable", "timeout", "failed"]
_RANK: dict[Outcome, int] = {"open": 4, "refused": 3, "unreachable": 2, "timeout": 1, "failed": 0}
# What the network said (an ICMP error, a route): the host cannot be reached. EACCES is a "prohibited"
# answer; EPERM is this machine's own firewall, so a local failure.
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN, errno.EACCES}


class _Pacer:
    """At most `rate` starts per second: each caller gets the next free slot, 1/rate after the last."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(self._next, now)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


class _Host:
    __slots__ = ("best", "open", "remaining")

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.best: Outcome = "failed"
        self.open: list[tuple[int, OpenPort]] = []


class Scan:
    """One scan of one range. No I/O until `run()` or `stream()`; a Scan runs once."""

    def __init__(
        self,
        network: str | IPNetwork,
        ports: Sequence[Service] = PORTS,
        *,
        concurrency: int = 256,
        rate: float = 500.0,
        timeout: float = 1.0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """`rate` is connection attempts per second; `timeout` bounds each connect and each banner
        read. `on_progress(done, total)` is called at the start and after every attempt."""
        self.network = parse_network(network)
        self.ports = tuple(ports)
        if not self.ports:
            raise ValueError("no ports to scan")
        for service in self.ports:
            if not 0 < service.port < 65536:
                raise ValueError(f"port {service.port} ({service.name}) is not a TCP port (1-65535)")
        twice = sorted({s.port for s in self.ports if [p.port for p in self.ports].count(s.port) > 1})
        if twice:
            raise ValueError(f"port {twice[0]} is listed twice: " + ", ".join(str(s.port) for s in self.ports))
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if files != resource.RLIM_INFINITY and concurrency + 64 > files:
            raise ValueError(
                f"concurrency {concurrency} needs more open files than this process may have ({files}); "
                "lower it or raise `ulimit -n`"
            )
        if not rate > 0:
            raise ValueError(f"rate must be a positive number of attempts per second, not {rate}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout}")
        self.concurrency = concurrency
        self.rate = rate
        self.timeout = timeout
        self.on_progress = on_progress
        self.hosts: tuple[IPAddress, ...] = tuple(self.network.hosts())
        self.total = len(self.hosts) * len(self.ports)
        self.done = 0
        self.in_flight = 0  # sockets open now
        self.peak = 0  # most sockets open at once
        self._counts: dict[Outcome, int] = dict.fromkeys(_RANK, 0)
        self._first_failure = ""
        self._pending: dict[IPAddress, _Host] = {}
        self._started: float | None = None
        self._elapsed: float | None = None
        self._complete = False

    @property
    def min_duration(self) -> float:
        """Seconds the rate limit alone makes the scan last (silent hosts add `timeout` per socket)."""
        return max(self.total - 1, 0) / self.rate

    def summary(self) -> Summary:
        if self._elapsed is not None:
            elapsed = self._elapsed
        elif self._started is not None:
            elapsed = asyncio.get_running_loop().time() - self._started
        else:
            elapsed = 0.0
        c = self._counts
        return Summary(
            network=str(self.network), addresses=len(self.hosts), total=self.total, done=self.done,
            answered=c["open"], refused=c["refused"], unreachable=c["unreachable"], no_answer=c["timeout"],
            failed=c["failed"], first_failure=self._first_failure, elapsed=elapsed, complete=self._complete,
        )

    async def run(self, on_found: Callable[[Found], None] | None = None) -> list[Found]:
        """Scan; `on_found` hears of each host as soon as all its ports are tried. Returns the hosts
        that answered, sorted by address. Cancellation closes every socket before it completes."""
        if self._started is not None:
            raise RuntimeError("a Scan runs once; make a new one")
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        found: list[Found] = []

        def emit(host: Found) -> None:
            found.append(host)
            if on_found is not None:
                on_found(host)

        # Address by address, so hosts finish (and show up) while the scan goes on.
        work = ((address, index) for address in self.hosts for index in range(len(self.ports)))
        pacer = _Pacer(self.rate)
        if self.on_progress is not None:
            self.on_progress(0, self.total)
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.concurrency, self.total)):
                    group.create_task(self._worker(work, pacer, emit))
        except BaseExceptionGroup as failure:
            if len(failure.exceptions) == 1:  # a worker's own error (e.g. from a callback), not a group
                raise failure.exceptions[0] from None
            raise
        finally:
            self._elapsed = loop.time() - self._started
        self._complete = True
        return sorted(found, key=lambda host: host.address)

    async def stream(self) -> AsyncGenerator[Found, None]:
        """Yields hosts as they finish (address order, roughly). Leaving the loop early leaves the
        scan running until the generator is closed: use contextlib.aclosing() to stop it at once."""
        queue: asyncio.Queue[Found | None] = asyncio.Queue()
        runner = asyncio.create_task(self.run(on_found=queue.put_nowait))
        runner.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (host := await queue.get()) is not None:
                yield host
            await runner  # its error, if it had one
        finally:
            if not runner.done():
                runner.cancel()
                await asyncio.wait({runner})  # every socket closed before we go on
            if not runner.cancelled():
                runner.exception()  # retrieved: no "exception was never retrieved" noise

    def __aiter__(self) -> AsyncIterator[Found]:
        return self.stream()

    async def _worker(
        self, work: Iterator[tuple[IPAddress, int]], pacer: _Pacer, emit: Callable[[Found], None]
    ) -> None:
        for address, index in work:  # shared: each (address, port) goes to exactly one worker
            await pacer.wait()
            service = self.ports[index]
            outcome, banner = await self._probe(address, service)
            self._record(address, index, service, outcome, banner, emit)

    async def _probe(self, address: IPAddress, service: Service) -> tuple[Outcome, str]:
        loop = asyncio.get_running_loop()
        try:
            sock = socket.socket(socket.AF_INET6 if address.version == 6 else socket.AF_INET, socket.SOCK_STREAM)
        except OSError as problem:
            self._first_failure = self._first_failure or (problem.strerror or str(problem))
            return "failed", ""
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:  # closed in `finally` whatever happens, cancellation included
            sock.setblocking(False)
            try:
                async with asyncio.timeout(self.timeout):
                    await loop.sock_connect(sock, (str(address), service.port))
            except TimeoutError:
                return "timeout", ""
            except ConnectionRefusedError:
                return "refused", ""
            except OSError as problem:
                if problem.errno in _UNREACHABLE:
                    return "unreachable", ""
                if problem.errno == errno.ETIMEDOUT:
                    return "timeout", ""
                self._first_failure = self._first_failure or (problem.strerror or str(problem))
                return "failed", ""
            if service.name == "ssh":
                return "open", await self._ssh_banner(sock)
            if service.name == "docker":
                return "open", await self._docker_ping(sock, address, service.port)
            return "open", ""
        finally:
            sock.close()
            self.in_flight -= 1

    async def _ssh_banner(self, sock: socket.socket) -> str:
        """The server's identification line (RFC 4253 4.2: it may send other lines before it)."""
        loop = asyncio.get_running_loop()
        data = b""
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(self.timeout):
                while len(data) < BANNER_LIMIT and (chunk := await loop.sock_recv(sock, 1024)):
                    data += chunk
                    *lines, _ = data.split(b"\n")
                    for line in lines:
                        if line.startswith(b"SSH-"):
                            return _printable(line)
        return ""

    async def _docker_ping(self, sock: socket.socket, address: IPAddress, port: int) -> str:
        """dockerd answers /_ping with Api-Version and Server headers; "" for anything else."""
        loop = asyncio.get_running_loop()
        host = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
        request = f"GET /_ping HTTP/1.0\r\nHost: {host}\r\nUser-Agent: vtui\r\n\r\n".encode()
        data = b""
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(self.timeout):
                await loop.sock_sendall(sock, request)
                while len(data) < BANNER_LIMIT and b"\r\n\r\n" not in data:
                    chunk = await loop.sock_recv(sock, 4096)
                    if not chunk:
                        break
                    data += chunk
        status, *lines = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        if not status.startswith(b"HTTP/"):
            return ""
        headers = {}
        for line in lines:
            key, colon, value = line.partition(b":")
            if colon:
                headers[key.strip().lower()] = value.strip()
        if b"api-version" not in headers:
            return ""
        server = _printable(headers.get(b"server", b"")) or "dockerd"
        return f"{server} API {_printable(headers[b'api-version'])}"

    def _record(
        self, address: IPAddress, index: int, service: Service, outcome: Outcome, banner: str,
        emit: Callable[[Found], None],
    ) -> None:
        host = self._pending.get(address)
        if host is None:
            host = self._pending[address] = _Host(len(self.ports))
        host.remaining -= 1
        if _RANK[outcome] > _RANK[host.best]:
            host.best = outcome
        if outcome == "open":
            host.open.append((index, OpenPort(service.port, service.name, banner)))
        self.done += 1
        if host.remaining == 0:
            del self._pending[address]
            self._counts[host.best] += 1
            if host.open:
                emit(Found(address, tuple(port for _, port in sorted(host.open))))
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)


def _printable(raw: bytes) -> str:
    """A remote host's words, safe for a terminal: printable ASCII only, at most 255 characters."""
    text = raw.rstrip(b"\r\n").decode("ascii", "replace")
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:255].strip()
