"""The interface every engine backend implements."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from vtui.actions import ACTIONS, Options
from vtui.console.session import SHELL, ConsoleRequest, ConsoleSession
from vtui.errors import ConsoleError, EngineError, HostError, LogsUnavailable, Refused
from vtui.model import Kind, Node, SnapshotInfo, node_key
from vtui.model.stats import Sample
from vtui.transport import HostLink, Transport

T = TypeVar("T")




@dataclass(frozen=True, slots=True)
class Reset:
    """The complete list of this backend's nodes."""

    nodes: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Upsert:
    node: Node


@dataclass(frozen=True, slots=True)
class Removed:
    key: str


Change = Reset | Upsert | Removed


def backend_for(backends: Iterable[Backend], node: Node) -> Backend:
    """The backend a node belongs to: the one of its host and engine."""
    for backend in backends:
        if backend.host == node.host and backend.engine == node.engine:
            return backend
    raise EngineError(node.host, node.engine, "no such engine in this session")


def host_links(backends: Iterable[Backend]) -> dict[str, HostLink]:
    """Each remote host's one connection, by host name (its engines' backends share it)."""
    return {b.host: b.transport.link for b in backends if b.transport is not None}


class Capability(StrEnum):
    """What a backend may do beyond every backend's list, act, sample, watch, logs and console."""

    SNAPSHOTS = "snapshots"  # snapshots(): listed (and the snapshot-* actions)
    EXIT_STATE = "exit state"  # exit_state(): how a stopped node ended (exit code, OOM kill)
    NETNS = "network namespace"  # netns_pid(): where a link's end of the node goes
    NICS = "hot-plugged NICs"  # attach_nic(), detach_nic(), nic_link(): a link's end is a NIC on a host tap
    CREATE = "create nodes"  # create(), discard(), run_in(): what labs make and remove


@dataclass(frozen=True)
class NodeSpec:
    """A node for a backend to make: a container of an image (docker), or a VM of a domain XML (libvirt)."""

    name: str
    image: str = ""
    cmd: str = ""  # the container's command, split as a shell would (no shell runs it)
    entrypoint: str = ""
    user: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    binds: tuple[str, ...] = ()  # SRC:DST[:OPTIONS], SRC absolute
    labels: Mapping[str, str] = field(default_factory=dict)
    xml: str = ""
    cap_add: tuple[str, ...] = ()
    privileged: bool = False
    sysctls: Mapping[str, str] = field(default_factory=dict)


class Backend(ABC):
    """One engine on one host.

    The constructor only records where to connect: all I/O happens in
    `connect()` and later calls. Blocking library calls run in the backend's
    own thread pool, never on the event loop. A backend advertises its optional
    methods in `capabilities`; the others raise NotImplementedError.
    """

    engine: ClassVar[str]
    kind: ClassVar[Kind]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, host: str, target: str, *, read_only: bool = False, transport: Transport | None = None) -> None:
        """`target` is where the engine answers (a URI, a socket); `transport`, given for an engine on
        another host, makes it reachable there first (e.g. an SSH-forwarded socket)."""
        self.host = host
        self.target = target
        self.read_only = read_only
        self.transport = transport
        self.stats_note = ""  # how stats are read, when the user should know (e.g. a slow fallback)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"vtui-{self.engine}")

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking call in this backend's threads."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    @property
    def where(self) -> str:
        """The engine's address as the user knows it."""
        return self.transport.where if self.transport else self.target

    def unavailable(self, reason: str) -> EngineError:
        return EngineError(self.host, self.engine, reason)

    def node_key(self, engine_id: str) -> str:
        return node_key(self.host, self.kind, engine_id)

    async def connect(self) -> None:
        """Open the connection (the transport's first); raises EngineError with the reason."""
        if self.transport is not None:
            try:
                await self.transport.ready()
            except HostError as err:
                raise self.unavailable(err.reason) from err
        await self._connect()

    @abstractmethod
    async def _connect(self) -> None:
        """Open the engine's own connection."""

    def warm_up(self) -> None:
        """Start, in this backend's threads, a listing cheaper than connect() (none of the engine's
        library loaded), before the event loop runs: the TUI calls it before loading Textual, and
        the hub takes the result when it is made. Most backends have none."""
        return

    def first_listing(self) -> list[Node] | None:
        """warm_up()'s nodes if they have come (it never waits); None when there are none yet or it
        failed (connect() then lists, or says why)."""
        return None

    @abstractmethod
    async def close(self) -> None:
        """Close the connection; safe to call more than once or unconnected."""

    @abstractmethod
    async def list_nodes(self) -> list[Node]:
        """Every node of this engine, in one round of calls."""

    async def perform(self, node: Node, action: str, options: Options | None = None) -> str:
        """Carry out a registered action on one node; returns what was done, in words.

        Read-only mode is enforced here, where actions are executed, not only in
        the UI. Raises Refused (with the engine's reason) or EngineError.
        """
        known = ACTIONS.get(action)
        if known is None or node.kind not in known.kinds:
            raise Refused(f"{action} is not an action for a {node.kind}")
        self.check_writable(f"{action} {node.name!r}")
        if not known.applies_to(node):
            states = ", ".join(sorted(known.states))
            raise Refused(f"cannot {action} {node.name!r}: it is {node.state} ({action} applies when {states})")
        detail = await self._call(self._perform, node, action, options or Options())
        return f"{known.done} {node.name!r} ({node.kind} on {node.host})" + (f": {detail}" if detail else "")

    @abstractmethod
    def _perform(self, node: Node, action: str, options: Options) -> str | None:
        """The engine calls of one action (in a backend thread); returns a detail worth telling, if any."""

    @abstractmethod
    async def sample(self, nodes: Sequence[Node]) -> dict[str, Sample]:
        """Counters of the given (running or paused) nodes, by node key, in one pass."""

    @abstractmethod
    def watch(self) -> AsyncGenerator[Change, None]:
        """Yield a Reset first, then changes as the engine reports them.

        Subscribes to engine events before listing so nothing falls between.
        Raises EngineError when the connection is lost.
        """

    async def logs(self, node: Node, *, tail: int | None = 200, follow: bool = False) -> AsyncGenerator[str, None]:
        """The node's log as text lines (no line ends): the last `tail` lines (None: all), then with
        `follow` new lines as they are written, until the log ends or the generator is closed.

        Closing the generator stops whatever it started. Raises LogsUnavailable when this node's
        log cannot be read (with the reason), EngineError when the engine is lost.
        """
        raise LogsUnavailable(f"{self.engine} on {self.host} keeps no log vtui can read for {node.name!r}")
        yield  # an async generator, like the engines' own


    async def open_console(self, node: Node, request: ConsoleRequest = SHELL) -> ConsoleSession:
        """A console of the node (a VM's serial port, a container's shell or terminal).

        Raises NotRunning for a node that has none now, ConsoleBusy when another client holds it,
        ConsoleError otherwise; each with a sentence that names the node."""
        raise ConsoleError(f"{self.engine} on {self.host} has no console for {node.name!r}")


    def check_writable(self, doing: str) -> None:
        """Refused in read-only mode; `doing` says what was refused ("wire a link to 'web'")."""
        if self.read_only:
            raise Refused(f"read-only mode: refused to {doing} on {self.host}")

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    async def snapshots(self, node: Node) -> list[SnapshotInfo]:
        """The node's snapshots, oldest first (Capability.SNAPSHOTS)."""
        raise NotImplementedError

    async def exit_state(self, node: Node) -> dict[str, Any]:
        """How the node last ended: ExitCode, OOMKilled, FinishedAt, Error; {} once it is gone
        (Capability.EXIT_STATE)."""
        raise NotImplementedError

    async def netns_pid(self, node: Node) -> int:
        """A process of the running node whose network namespace holds its link ends, as its host
        numbers it; Refused when the node does not run (Capability.NETNS)."""
        raise NotImplementedError


    async def create(self, spec: NodeSpec) -> Node:
        """Make the node and start it; the node of that name when it is there already with the same
        labels (started if it was not running). Refused when the name is another's, or the image
        is not on the host (Capability.CREATE)."""
        raise NotImplementedError

    async def discard(self, node: Node) -> bool:
        """Remove the node whatever its state (a container's anonymous volumes with it); False when
        it was gone already."""
        raise NotImplementedError

    async def run_in(self, node: Node, command: str) -> tuple[int, str]:
        """Run a command (split as a shell would) in the running node: its exit code and output."""
        raise NotImplementedError

    async def attach_nic(self, node: Node, tap: str, mac: str, mtu: int) -> bool:
        """Give the VM a NIC on the host's tap `tap`, now (if it runs) and from its next start on;
        False when it has it already (Capability.NICS)."""
        raise NotImplementedError

    async def detach_nic(self, node: Node, mac: str) -> bool:
        """Take the NIC with this MAC away, now and for good; False when there was none."""
        raise NotImplementedError

    async def nic_link(self, node: Node, mac: str, up: bool) -> None:
        """The NIC's link state as the guest sees it (carrier), while the VM runs."""
        raise NotImplementedError




MAX_LINE_BYTES = 1 << 20  # a "line" without a line end is cut here, so a binary log cannot fill memory


class LineSplitter:
    """Bytes in chunks, whole text lines out: a line split across chunks is joined, its line end
    (LF or CRLF) dropped, bytes that are not UTF-8 replaced."""

    def __init__(self) -> None:
        self._partial = bytearray()

    def feed(self, chunk: bytes) -> list[str]:
        self._partial += chunk
        if b"\n" not in chunk:  # the common case of a TTY stream, which comes byte by byte
            return self.flush() if len(self._partial) >= MAX_LINE_BYTES else []
        *complete, rest = self._partial.split(b"\n")
        self._partial = bytearray(rest)
        lines = [_decode(line) for line in complete]
        return lines + self.flush() if len(self._partial) >= MAX_LINE_BYTES else lines

    def flush(self) -> list[str]:
        """The unfinished last line, if any (at the end of a stream)."""
        if not self._partial:
            return []
        line, self._partial = _decode(self._partial), bytearray()
        return [line]


def _decode(line: bytes | bytearray) -> str:
    return (line[:-1] if line.endswith(b"\r") else line).decode("utf-8", errors="replace")
