"""One asyncssh connection per remote host: it carries everything vtui does there.

The remote libvirtd and dockerd sockets are forwarded to local unix sockets in a private (0700)
runtime directory, so the backends use them as if they were local; commands (container counters,
log tails, socket checks) run as channels of the same connection. ~/.ssh/config (User, Port,
IdentityFile, ProxyJump, ProxyCommand) and known_hosts are honoured; an unknown host key is
never accepted here, only reported with its fingerprint (see hostkeys.py for accepting one).

Runs on the event loop (asyncssh is asyncio-native), never in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shlex
import socket
import tempfile
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from vtui.errors import CommandFailed, HostError
from vtui.model import HostState
from vtui.transport import HostKeyError, Trust
from vtui.transport.hostkeys import judge_host_key, record
from vtui.transport.proxy import ProxyCommandTunnel
from vtui.transport.target import SshTarget, parse_target

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds for TCP, handshake and authentication
PING_EVERY = 2.0  # seconds between round-trip probes of a connection that is up
PING_TIMEOUT = 4.0  # a probe unanswered this long: the connection is taken as dead
COMMAND_TIMEOUT = 15.0
MAX_JUMPS = 8  # ProxyJump hosts on the way to one host


def runtime_dir() -> Path:
    """A directory only this user can enter, for the forwarded sockets of this process."""
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"vtui-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    info = base.lstat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077 or not base.is_dir():
        raise OSError(errno.EPERM, f"{base} must be a directory of yours that only you can enter (mode 0700)")
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=base))


@dataclass(frozen=True, slots=True)
class Forward:
    """A remote engine's unix socket, reachable at `local` while the link is up."""

    link: SshLink
    engine: str  # the daemon's name for sentences: "libvirtd", "dockerd"
    remote: str
    local: Path

    @property
    def where(self) -> str:
        return f"{self.link.target}:{self.remote}"

    async def ready(self) -> None:
        """The link is up and the socket is there and usable; HostError otherwise, naming the cause."""
        await self.link.connect()
        await self.link.check_socket(self)


class SshLink:
    """The connection to one host, made and remade on demand (`connect()` is cheap when it is up)."""

    def __init__(self, name: str, target: str, sockets: Path, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.name = name
        self.target = target
        self.parsed: SshTarget = parse_target(target)
        self.connect_timeout = connect_timeout
        self.state = HostState.CONNECTING
        self.reason = ""
        self.latency: float | None = None
        self.on_change: Callable[[], None] = lambda: None
        self.trust: Trust | None = None  # asked about an unknown host key; without it, the key is refused
        self.forwards: list[Forward] = []
        self._sockets = sockets
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._up = asyncio.Event()
        self._retry = asyncio.Event()

    def forward(self, engine: str, remote: str) -> Forward:
        """Register a socket to forward on every connection; returns where it will be."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)[:40]
        forward = Forward(self, engine, remote, self._sockets / f"{safe}.{engine}.sock")
        self.forwards.append(forward)
        return forward

    @property
    def connected(self) -> bool:
        return self._conn is not None

    async def wait_connected(self) -> None:
        await self._up.wait()

    async def connect(self) -> None:
        """Connect unless connected; raises HostError (HostKeyError for a key to accept or a changed one)."""
        async with self._lock:
            if self._conn is not None:
                return
            self._set(HostState.CONNECTING, self.reason)
            try:
                conn = await self._open_trusting()
                for forward in self.forwards:
                    with contextlib.suppress(FileNotFoundError):
                        forward.local.unlink()
                    await conn.forward_local_path(str(forward.local), forward.remote)
            except HostError as err:
                self._set(err.state, err.reason)
                raise
            except (asyncssh.Error, OSError) as err:  # the connection broke while the forwards were set up
                self._set(HostState.UNREACHABLE, str(err))
                raise HostError(HostState.UNREACHABLE, self.reason) from err
            self._conn = conn
            self._up.set()
            self._set(HostState.UP)
            log.info("connected to %s (%s)", self.name, self.target)

    async def _open_trusting(self) -> asyncssh.SSHClientConnection:
        """Connect; an unknown host key goes to `trust`, and is recorded only if it says yes. Behind a
        ProxyJump that can be one question per host on the way."""
        asked: set[tuple[str, int]] = set()
        while True:
            try:
                return await self._dial(self.name, self.parsed)
            except HostKeyError as err:
                problem = err.problem
                if problem.changed or self.trust is None or (problem.host, problem.port) in asked:
                    raise
                asked.add((problem.host, problem.port))
                self._set(HostState.UNTRUSTED, err.reason)
                if not await self.trust(problem):
                    raise HostKeyError(problem) from None
                await asyncio.get_running_loop().run_in_executor(None, record, problem)
                log.info("recorded the host key of %s (%s %s) in %s", problem.name, problem.algorithm,
                         problem.fingerprint, problem.known_hosts)

    async def _dial(self, name: str, target: SshTarget, via: Hop | None = None,
                    jump_of: str = "", depth: int = 0) -> asyncssh.SSHClientConnection:
        """One SSH connection, to the host itself or (`jump_of` set) to a ProxyJump host on its way.
        asyncssh would open ProxyJump hosts itself, but then their unknown keys come without a
        fingerprint to accept and their errors without the jump host's name; so they are opened here."""
        try:
            options = await asyncssh.SSHClientConnectionOptions.construct(
                config=_ssh_config(), host=target.host, port=target.port or (),
                username=target.user or (), connect_timeout=self.connect_timeout)
        except (asyncssh.ConfigParseError, ValueError) as err:  # e.g. a line it cannot parse, an unknown cipher
            raise HostError(HostState.UNREACHABLE, f"cannot use ~/.ssh/config for {name}: {err}") from err
        if via is None and isinstance(options.tunnel, str):
            via = await self._jump(options.tunnel, jump_of or name, depth + 1)
        tunnel = ProxyCommandTunnel(options.proxy_command) if options.proxy_command and not via else None
        witness = _Witness(self)
        extra: dict[str, Any] = {}  # connect()'s arguments beyond the options
        if options.config.get("Ciphers") is None:  # ~/.ssh/config's choice stands
            extra["encryption_algs"] = _gcm_first(options.encryption_algs)
        if via:
            extra["tunnel"] = via.conn
        elif tunnel:
            extra.update(tunnel=tunnel, proxy_command=None)
        try:
            conn = await asyncssh.connect(target.host, options=options, client_factory=lambda: witness, **extra)
        except BaseException as err:
            on_the_way = [part for part in (via.conn if via else None, tunnel) if part is not None]
            for part in on_the_way:
                part.close()
            if not isinstance(err, Exception):
                raise
            await _ended(on_the_way)  # no ProxyCommand left running after a failed attempt
            if isinstance(err, asyncssh.HostKeyNotVerifiable) and witness.presented:
                host, port, key = witness.presented
                raise HostKeyError(judge_host_key(name, host, port, key, options.known_hosts, jump_of)) from err
            state, reason = (HostState.UNTRUSTED, str(err)) if isinstance(err, asyncssh.HostKeyNotVerifiable) \
                else explain(options, err, tunnel, via)
            raise HostError(state, f"jump host {name}: {reason}" if jump_of else reason) from err
        if via or tunnel:
            conn.set_tunnel(via.conn if via else tunnel)  # closed with it; its wait_closed() waits for it too
        return conn

    async def _jump(self, hops: str, jump_of: str, depth: int) -> Hop:
        """ProxyJump's hosts (`a,b`), each reached through the one before, as `ssh -J` does; a jump
        host's own ProxyJump is followed too."""
        if depth > MAX_JUMPS:
            raise HostError(HostState.UNREACHABLE, f"more than {MAX_JUMPS} ProxyJump hosts on the way to "
                                 f"{jump_of}: do the jump hosts in ~/.ssh/config lead to each other?")
        via: Hop | None = None
        for hop in hops.split(","):
            try:
                target = parse_target(hop.removeprefix("ssh://"))
            except ValueError as err:
                raise HostError(HostState.UNREACHABLE, f"ProxyJump on the way to {jump_of}: {err}") from err
            via = Hop(hop, await self._dial(hop, target, via, jump_of, depth))
        assert via is not None  # split() gives at least one
        return via

    async def run(self, command: str, *, limit: float = COMMAND_TIMEOUT) -> str:
        """A command line's stdout; CommandFailed when it exits non-zero, HostError when the link fails."""
        conn = self._current()
        try:
            # asyncio.timeout, not run(timeout=): asyncssh's wait_for (Python 3.11) can swallow a
            # cancellation arriving as the command ends, and the hub's stop() then waits forever
            async with asyncio.timeout(limit):
                result = await conn.run(command)
        except TimeoutError as err:
            raise CommandFailed(f"no answer from {self.name} within {limit:g} s") from err
        except (asyncssh.Error, OSError) as err:
            raise HostError(HostState.UNREACHABLE, str(err)) from err
        if result.exit_status != 0:
            stderr = str(result.stderr or "").strip()
            status = stderr or f"exit status {result.exit_status}"
            raise CommandFailed(f"{shlex.split(command)[0]} on {self.name}: {status}")
        return str(result.stdout or "")

    async def stream(self, command: str) -> AsyncGenerator[bytes, None]:
        """A long-running command's stdout as it comes (e.g. `tail -F`); closing the generator ends the
        command. CommandFailed with its stderr when it exits non-zero."""
        conn = self._current()
        try:
            process = await conn.create_process(command, encoding=None)
        except (asyncssh.Error, OSError) as err:
            raise HostError(HostState.UNREACHABLE, str(err)) from err
        errors = asyncio.ensure_future(process.stderr.read())  # read beside stdout: it may come first
        try:
            while chunk := await process.stdout.read(1 << 16):
                yield chunk
            await process.wait()
            if process.exit_status:
                stderr = (await errors).decode("utf-8", "replace").strip()
                raise CommandFailed(stderr or f"{shlex.split(command)[0]} exited with {process.exit_status}")
        finally:
            errors.cancel()
            process.close()

    def _current(self) -> asyncssh.SSHClientConnection:
        if self._conn is None:
            raise HostError(self.state, self.reason or "not connected")
        return self._conn

    async def check_socket(self, forward: Forward) -> None:
        """Is the engine's socket there, a socket, and ours to use? A sentence naming the host if not."""
        path = shlex.quote(forward.remote)
        answer = (await self.run(
            f"if [ ! -e {path} ]; then echo absent; elif [ ! -S {path} ]; then echo other; "
            f"elif [ ! -w {path} ]; then echo denied; else echo ok; fi; id -un")).split()
        verdict, user = [*answer, "", ""][:2]
        sentences = {
            "absent": f"{forward.engine} is not running there (no socket at {forward.remote})",
            "other": f"{forward.remote} there is not a socket",
            "denied": f"permission denied on {forward.remote} for user {user!r} "
                      f"({'join the docker group or ' if forward.engine == 'dockerd' else ''}log in as root)",
        }
        if verdict in sentences:
            raise HostError(HostState.DEGRADED, sentences[verdict])

    async def keep_alive(self) -> None:
        """While connected: measure the round trip every PING_EVERY s. Returns when the connection is
        lost, or closes it when a probe goes unanswered for PING_TIMEOUT s."""
        conn = self._conn
        while conn is not None and self._conn is conn:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(PING_TIMEOUT):
                    await _ping(conn)
            except TimeoutError:
                self.lost(f"no answer for {PING_TIMEOUT:g} s (the connection is taken as dead)")
                return
            except (asyncssh.Error, OSError):
                break
            self.latency = time.perf_counter() - started
            self.on_change()
            closed = asyncio.ensure_future(conn.wait_closed())
            await asyncio.wait([closed], timeout=PING_EVERY)
            closed.cancel()
        self.lost("the connection was closed")

    def dropped(self, conn: asyncssh.SSHClientConnection | None, reason: str) -> None:
        """That connection has ended: forget it if it is the current one."""
        if conn is not None and conn is self._conn:
            self.lost(reason)

    def lost(self, reason: str) -> None:
        """The connection is gone (or given up): drop it, so the next connect() makes a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()
            self._up.clear()
            self.latency = None
            self._set(HostState.UNREACHABLE, reason)

    async def wait_retry(self, delay: float) -> None:
        """Sleep `delay` s before the next attempt, or less when retry_now() is called."""
        self._retry.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._retry.wait()

    def retry_now(self) -> None:
        self._retry.set()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        self._up.clear()
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await conn.wait_closed()
        for forward in self.forwards:
            with contextlib.suppress(FileNotFoundError):
                forward.local.unlink()

    def _set(self, state: HostState, reason: str = "") -> None:
        if (state, reason) != (self.state, self.reason):
            self.state, self.reason = state, reason
            self.on_change()


@dataclass(frozen=True, slots=True)
class Hop:
    """A connection to a ProxyJump host, and its name as ProxyJump gave it."""

    name: str
    conn: asyncssh.SSHClientConnection


class _Witness(asyncssh.SSHClient):
    """Sees the host key asyncssh could not verify (it never accepts one), and the connection's end."""

    def __init__(self, link: SshLink) -> None:
        self.link = link
        self.presented: tuple[str, int, asyncssh.SSHKey] | None = None
        self.conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = (host, port, key)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.dropped(self.conn, "the connection was lost" + (f" ({exc})" if exc else ""))


async def _ping(conn: asyncssh.SSHClientConnection) -> None:
    """One round trip: the keepalive request OpenSSH's own client sends (asyncssh sends it for its
    keepalive, but offers no public call that waits for the answer)."""
    await conn._make_global_request(b"keepalive@openssh.com")


async def _ended(parts: Sequence[asyncssh.SSHClientConnection | ProxyCommandTunnel], limit: float = 2) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit):
            for part in parts:
                await part.wait_closed()


def _gcm_first(algorithms: Sequence[bytes]) -> list[str]:
    """AES-GCM before asyncssh's first choice, chacha20-poly1305: GCM is one OpenSSL call per packet,
    where asyncssh's chacha20-poly1305 makes several from Python. Measured on a counter command:
    1.65 ms of vtui's CPU with AES-GCM, 2.16 ms with chacha20-poly1305."""
    return sorted((alg.decode() for alg in algorithms), key=lambda alg: not alg.startswith("aes") or "-gcm" not in alg)


def _ssh_config() -> list[str]:
    path = Path("~/.ssh/config").expanduser()
    return [str(path)] if os.access(path, os.R_OK) else []


def explain(options: Any, err: BaseException, tunnel: ProxyCommandTunnel | None,
            via: Hop | None = None) -> tuple[HostState, str]:
    """Why connecting to a host failed, as a sentence."""
    where = f"{options.host}:{options.port}"
    said = f"; {tunnel} said: {tunnel.complaint}" if tunnel and tunnel.complaint else ""
    if isinstance(err, asyncssh.ChannelOpenError) and via:  # the jump host could not open the way on
        return HostState.UNREACHABLE, f"jump host {via.name} could not reach {where}: {err.reason}"
    if isinstance(err, asyncssh.PermissionDenied):
        return HostState.AUTH_FAILED, (
            f"authentication failed for user {options.username!r} at {where} "
            "(no key of yours, from ~/.ssh or the agent, was accepted)")
    if isinstance(err, socket.gaierror):
        return HostState.UNREACHABLE, f"cannot resolve {options.host!r} ({err.strerror})"
    if isinstance(err, ConnectionRefusedError):
        return HostState.UNREACHABLE, f"{where} refused the connection (is sshd running there?)"
    if isinstance(err, TimeoutError | asyncio.TimeoutError):
        return HostState.UNREACHABLE, f"no answer from {where} within {options.connect_timeout:g} s{said}"
    if isinstance(err, OSError) and err.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return HostState.UNREACHABLE, f"no route to {where}"
    if isinstance(err, asyncssh.ConnectionLost | asyncssh.DisconnectError | BrokenPipeError | ConnectionResetError):
        return HostState.UNREACHABLE, f"the connection to {where} closed during the SSH handshake{said}"
    if isinstance(err, OSError):
        return HostState.UNREACHABLE, f"cannot connect to {where}: {err.strerror or err}{said}"
    return HostState.UNREACHABLE, f"{err}{said}"
