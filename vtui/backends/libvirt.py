"""libvirt backend: VMs of one libvirt URI (qemu:///system, test:///…, qemu+…)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import time
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any

import libvirt

from vtui.actions import SHUTDOWN_TIMEOUT, Options, ShutdownTimedOut
from vtui.backends.base import Backend, Capability, Change, LineSplitter, NodeSpec, Removed, Reset, Upsert
from vtui.backends.libvirt_events import ensure_event_loop
from vtui.backends.libvirt_logs import LOG_POLL, LogFile, log_path
from vtui.backends.libvirt_nics import change_nic, nic_xml
from vtui.backends.libvirt_snapshots import KEPT_STATE_ACTIONS, snapshot_list
from vtui.backends.libvirt_states import describe, in_words
from vtui.backends.libvirt_stats import DomainCounters
from vtui.backends.libvirt_storage import UNDEFINE_BASIC, delete_vm
from vtui.console.libvirt_serial import LibvirtSerialSession
from vtui.console.session import SHELL, ConsoleRequest, ConsoleSession, ViewOnly
from vtui.errors import CommandFailed, EngineError, HostError, LogsUnavailable, Refused
from vtui.model import Kind, Node, SnapshotInfo, State
from vtui.model.stats import Sample
from vtui.transport import Transport

_BULK_STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON
)


def explain(uri: str, err: libvirt.libvirtError) -> str:
    """Turn a libvirt connection error into a sentence."""
    msg = (err.get_error_message() or str(err)).strip()
    if m := re.search(r"Failed to connect socket to '([^']+)': No such file", msg):
        return f"libvirtd is not running (no socket at {m.group(1)})"
    if m := re.search(r"Failed to connect socket to '([^']+)': Permission denied", msg):
        return f"permission denied on {m.group(1)} (run as root or join the libvirt group)"
    if m := re.search(r"Failed to connect socket to '([^']+)': Connection refused", msg):
        return f"libvirtd is not accepting connections on {m.group(1)}"
    if "no connection driver available" in msg:
        return f"libvirt has no driver for the URI {uri!r}"
    return f"{msg} (URI {uri})"


class LibvirtBackend(Backend):
    engine = "libvirt"
    kind = Kind.VM
    capabilities = frozenset({Capability.SNAPSHOTS, Capability.NICS, Capability.CREATE})

    def __init__(self, host: str, uri: str, *, read_only: bool = False, transport: Transport | None = None) -> None:
        super().__init__(host, uri, read_only=read_only, transport=transport)
        self._conn: libvirt.virConnect | None = None
        self._counters = DomainCounters()

    @property
    def conn(self) -> libvirt.virConnect:
        if self._conn is None:
            raise self.unavailable("not connected")
        return self._conn

    async def _connect(self) -> None:
        self._conn = await self._call(self._open)

    def _open(self) -> libvirt.virConnect:
        ensure_event_loop()
        try:
            conn = libvirt.open(self.target)
        except libvirt.libvirtError as err:
            raise self.unavailable(explain(self.target, err)) from err
        with contextlib.suppress(libvirt.libvirtError):  # local drivers (test://) have none
            conn.setKeepAlive(5, 3)  # notice a dead remote end within ~20 s
        return conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._call(_close_quietly, conn)

    async def list_nodes(self) -> list[Node]:
        return await self._call(self._list)

    def _list(self) -> list[Node]:
        try:
            stats = self.conn.getAllDomainStats(_BULK_STATS)
        except libvirt.libvirtError as err:
            raise self.unavailable(explain(self.target, err)) from err
        nodes = []
        for dom, record in stats:
            try:
                nodes.append(self._node(dom, record))
            except libvirt.libvirtError:
                continue  # undefined while we were listing; the event follows
        return nodes

    def _read(self, uuid: str) -> Node | None:
        try:
            dom = self.conn.lookupByUUIDString(uuid)
            records = self.conn.domainListGetStats([dom], _BULK_STATS)
            if not records:  # undefined between the event and this read
                return None
            return self._node(dom, records[0][1])
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise self.unavailable(explain(self.target, err)) from err

    def _node(self, dom: libvirt.virDomain, record: dict[str, Any]) -> Node:
        if "state.state" in record:
            state, reason = record["state.state"], record.get("state.reason", 0)
        else:
            state, reason = dom.state()
        vcpus = record.get("vcpu.current")
        max_kib = record.get("balloon.maximum")
        if vcpus is None or max_kib is None:  # drivers without bulk vcpu/balloon stats
            info = dom.info()
            vcpus, max_kib = info[3], info[1]
        normal, native, why = describe(state, reason)
        return Node(
            host=self.host,
            kind=Kind.VM,
            engine=self.engine,
            id=dom.UUIDString(),
            name=dom.name(),
            state=normal,
            native_state=native,
            reason=why,
            vcpus=int(vcpus),
            memory_bytes=int(max_kib) * 1024,
        )

    async def perform(self, node: Node, action: str, options: Options | None = None) -> str:
        # Deleting a VM that runs: say the way out, not only which states delete applies in.
        if action == "delete" and node.state is not State.STOPPED and not self.read_only:
            raise Refused(f"delete {node.name!r}: it is {node.state}; force it off first", remedy="force-off")
        return await super().perform(node, action, options)

    def _perform(self, node: Node, action: str, options: Options) -> str | None:
        try:
            dom = self.conn.lookupByUUIDString(node.id)
            simple = {"start": dom.create, "force-off": dom.destroy, "pause": dom.suspend, "resume": dom.resume,
                      "reboot": lambda: dom.reboot(0), "reset": lambda: dom.reset(0),
                      "autostart-on": lambda: dom.setAutostart(1), "autostart-off": lambda: dom.setAutostart(0)}
            if action in simple:
                simple[action]()
                return None
            if action == "shutdown":
                dom.shutdown()
                return self._await_power_off(dom, node, options.timeout or SHUTDOWN_TIMEOUT)
            if action == "delete":
                return delete_vm(self.conn, dom, node, options.storage)
            if handler := KEPT_STATE_ACTIONS.get(action):
                return handler(dom, node, options)
        except libvirt.libvirtError as err:
            raise Refused(f"{_verb(action)} {node.name!r}: {err.get_error_message() or err}") from err
        raise Refused(f"{action} is not implemented for VMs yet")

    async def create(self, spec: NodeSpec) -> Node:
        """Define the VM of `spec.xml` (its name is spec.name) and start it; the VM of that name when it
        is there already (started if it was off)."""
        self.check_writable(f"define the VM {spec.name!r}")

        def define() -> Node:
            try:
                try:
                    dom = self.conn.lookupByName(spec.name)
                except libvirt.libvirtError as err:
                    if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                        raise
                    dom = self.conn.defineXML(spec.xml)
                if not dom.isActive():
                    dom.create()
                node = self._read(dom.UUIDString())
            except libvirt.libvirtError as err:
                raise Refused(f"define {spec.name!r} on {self.host}: {err.get_error_message() or err}") from err
            if node is None:
                raise Refused(f"{spec.name!r} on {self.host} was removed while it was being started")
            return node

        return await self._call(define)

    async def discard(self, node: Node) -> bool:
        """Force the VM off and undefine it (its disks stay)."""
        self.check_writable(f"remove {node.name!r}")

        def undefine() -> bool:
            try:
                dom = self.conn.lookupByUUIDString(node.id)
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(UNDEFINE_BASIC)
            except libvirt.libvirtError as err:
                if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    return False
                raise Refused(f"remove {node.name!r} on {self.host}: {err.get_error_message() or err}") from err
            return True

        return await self._call(undefine)

    async def run_in(self, node: Node, command: str) -> tuple[int, str]:
        raise Refused(f"{node.name!r} is a VM: vtui runs no commands in guests (exec: is for containers)")

    async def attach_nic(self, node: Node, tap: str, mac: str, mtu: int) -> bool:
        return await self._call(self._nic, node, "attach", mac, nic_xml(tap, mac, mtu))

    async def detach_nic(self, node: Node, mac: str) -> bool:
        return await self._call(self._nic, node, "detach", mac, nic_xml("", mac, 0))

    async def nic_link(self, node: Node, mac: str, up: bool) -> None:
        await self._call(self._nic, node, "up" if up else "down", mac, "")

    def _nic(self, node: Node, how: str, mac: str, xml: str) -> bool:
        """One NIC change (see change_nic)."""
        try:
            return change_nic(self.conn.lookupByUUIDString(node.id), how, mac, xml)
        except libvirt.libvirtError as err:
            raise Refused(f"NIC {mac} of {node.name!r}: {err.get_error_message() or err}") from err

    async def snapshots(self, node: Node) -> list[SnapshotInfo]:
        """The VM's snapshots, oldest first (a query: allowed in read-only mode)."""
        return await self._call(self._snapshots, node)

    def _snapshots(self, node: Node) -> list[SnapshotInfo]:
        try:
            return snapshot_list(self.conn.lookupByUUIDString(node.id))
        except libvirt.libvirtError as err:
            raise Refused(f"snapshot list {node.name!r}: {err.get_error_message() or err}") from err

    @staticmethod
    def _await_power_off(dom: libvirt.virDomain, node: Node, timeout: float) -> str:
        """Wait for the guest to power off; a guest that ignores ACPI gets a way out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF:
                return f"powered off after {timeout - (deadline - time.monotonic()):.1f} s"
            time.sleep(0.25)
        raise ShutdownTimedOut(
            f"shutdown {node.name!r}: still running after {timeout:g} s (the guest may ignore ACPI); "
            "forcing it off cuts its power", remedy="force-off")

    async def sample(self, nodes: Sequence[Node]) -> dict[str, Sample]:
        return await self._call(self._sample)

    def _sample(self) -> dict[str, Sample]:
        try:
            by_uuid = self._counters.read(self.conn)
        except libvirt.libvirtError as err:
            raise self.unavailable(explain(self.target, err)) from err
        return {self.node_key(uuid): sample for uuid, sample in by_uuid.items()}

    async def watch(self) -> AsyncGenerator[Change, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | EngineError] = asyncio.Queue()

        def on_lifecycle(_c: object, dom: libvirt.virDomain, _ev: int, _d: int, _o: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, dom.UUIDString())

        def on_close(_c: object, _reason: int, _o: object) -> None:
            lost = self.unavailable("the connection to libvirtd was closed")
            loop.call_soon_threadsafe(queue.put_nowait, lost)

        conn = self.conn
        callback = await self._call(
            conn.domainEventRegisterAny, None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle, None
        )
        await self._call(_register_close, conn, on_close)
        try:
            yield Reset(tuple(await self.list_nodes()))
            while True:
                item = await queue.get()
                if isinstance(item, EngineError):
                    raise item
                node = await self._call(self._read, item)
                yield Upsert(node) if node else Removed(self.node_key(item))
        finally:
            await self._call(_deregister_quietly, conn, callback)

    async def open_console(self, node: Node, request: ConsoleRequest = SHELL) -> ConsoleSession:
        """The VM's serial console; `request.force` takes it over from another client (virsh console).
        It lasts across restarts of the VM (see LibvirtSerialSession)."""
        session = await LibvirtSerialSession.open(self.conn, self._call, node.id, node.name, in_words,
                                                  force=request.force)
        return ViewOnly(session) if self.read_only else session

    async def logs(self, node: Node, *, tail: int | None = 200, follow: bool = False) -> AsyncGenerator[str, None]:
        """The VM's QEMU log: what libvirt wrote about starting and stopping it (its command line,
        exit reasons, errors) and what QEMU printed. Read from the file on this host, polled to follow;
        on a remote host, by `tail` over its connection."""
        if self.transport is not None:
            async for line in self._remote_log(node, tail, follow):
                yield line
            return
        log = LogFile(self.log_path(node))
        try:
            await self._call(log.open, node.name)
            for line in await self._call(log.tail, tail, not follow):
                yield line
            while follow:
                await asyncio.sleep(LOG_POLL)
                for line in await self._call(log.read_new):
                    yield line
        except OSError as err:
            raise LogsUnavailable(f"cannot read {log.path}: {err.strerror or err}") from err
        finally:
            await self._call(log.close)  # after a read still under way, if cancelled during one

    async def _remote_log(self, node: Node, tail: int | None, follow: bool) -> AsyncGenerator[str, None]:
        assert self.transport is not None
        path = shlex.quote(str(self.log_path(node)))
        lines = "+1" if tail is None else str(tail)
        command = (f"test -r {path} || {{ echo cannot read {path}: $(test -e {path} && echo permission denied || "
                   f"echo no such file) >&2; exit 3; }}; exec tail -n {lines} {'-F ' if follow else ''}{path}")
        splitter = LineSplitter()
        try:
            async for chunk in self.transport.link.stream(command):
                for line in splitter.feed(chunk):
                    yield line
        except CommandFailed as err:
            raise LogsUnavailable(f"{err} on {self.host}") from err
        except HostError as err:
            raise self.unavailable(err.reason) from err
        for line in splitter.flush():
            yield line

    def log_path(self, node: Node) -> Path:
        """Where libvirt keeps the VM's log (see libvirt_logs.log_path)."""
        return log_path(self.target, node.name)


def _verb(action: str) -> str:
    """An action as the CLI spells it: snapshot-create is `snapshot create`."""
    group, _, sub = action.partition("-")
    return f"{group} {sub}" if group in ("snapshot", "autostart") else action


def _register_close(conn: libvirt.virConnect, callback: Any) -> None:
    with contextlib.suppress(libvirt.libvirtError):  # drivers without close notification (test://)
        conn.registerCloseCallback(callback, None)


def _deregister_quietly(conn: libvirt.virConnect, callback: int) -> None:
    for undo in (lambda: conn.domainEventDeregisterAny(callback), conn.unregisterCloseCallback):
        with contextlib.suppress(libvirt.libvirtError):
            undo()


def _close_quietly(conn: libvirt.virConnect) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        conn.close()

