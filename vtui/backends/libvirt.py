"""libvirt backend: VMs of one libvirt URI (qemu:///system, test:///…, qemu+…)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import libvirt

from vtui.actions import SHUTDOWN_TIMEOUT, ShutdownTimedOut
from vtui.backends.base import Backend, Capability, Change, LineSplitter, NodeSpec, Removed, Reset, Upsert
from vtui.backends.libvirt_events import ensure_event_loop
from vtui.backends.libvirt_states import describe, in_words
from vtui.console.libvirt_serial import LibvirtSerialSession
from vtui.console.session import SHELL, ConsoleRequest, ConsoleSession, ViewOnly
from vtui.errors import CommandFailed, EngineError, HostError, LogsUnavailable, Refused
from vtui.model import Kind, Node, SnapshotInfo, State
from vtui.model.stats import Sample
from vtui.transport import Transport

_BULK_STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON
)
_COUNTERS = (
    libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_BLOCK | libvirt.VIR_DOMAIN_STATS_INTERFACE
)


# Undefining also drops what libvirt keeps beside the definition; drivers without
# the newer flags (test://) get the basic pair.
_UNDEFINE_BASIC = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
_UNDEFINE_ALL = (
    _UNDEFINE_BASIC | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    | libvirt.VIR_DOMAIN_UNDEFINE_TPM
)

IDLE_DRIVER_EVERY = 10


def _summed(record: dict[str, Any], prefix: str, field: str) -> int | None:
    """Sum e.g. block.<i>.rd.bytes over block.count devices; None when none reports it."""
    values = [record[k] for i in range(record.get(f"{prefix}.count", 0))
              if (k := f"{prefix}.{i}.{field}") in record]
    return sum(values) if values else None


def domain_sample(record: dict[str, Any], now: float) -> Sample:
    """Counters from one getAllDomainStats record (memory: the QEMU process's RSS)."""
    rss, maximum = record.get("balloon.rss"), record.get("balloon.maximum")
    has_devices = record.get("block.count") is not None
    return Sample(
        at=now,
        cpu_ns=record.get("cpu.time"),
        mem_bytes=None if rss is None else rss * 1024,
        mem_limit_bytes=None if maximum is None else maximum * 1024,
        disk_read_bytes=_summed(record, "block", "rd.bytes") if has_devices else None,
        disk_write_bytes=_summed(record, "block", "wr.bytes") if has_devices else None,
        net_rx_bytes=_summed(record, "net", "rx.bytes"),
        net_tx_bytes=_summed(record, "net", "tx.bytes"),
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
        self._polls = 0
        self._barren = False  # the last poll's domains reported no counters

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

    async def perform(self, node: Node, action: str, options: Mapping[str, Any] | None = None) -> str:
        # Deleting a VM that runs: say the way out, not only which states delete applies in.
        if action == "delete" and node.state is not State.STOPPED and not self.read_only:
            raise Refused(f"delete {node.name!r}: it is {node.state}; force it off first", remedy="force-off")
        return await super().perform(node, action, options)

    def _perform(self, node: Node, action: str, options: dict[str, Any]) -> str | None:
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
                return self._await_power_off(dom, node, float(options.get("timeout") or SHUTDOWN_TIMEOUT))
            if action == "delete":
                return self._delete(dom, node, bool(options.get("storage")))
            if handler := _VM_ACTIONS.get(action):
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
                dom.undefineFlags(_UNDEFINE_BASIC)
            except libvirt.libvirtError as err:
                if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    return False
                raise Refused(f"remove {node.name!r} on {self.host}: {err.get_error_message() or err}") from err
            return True

        return await self._call(undefine)

    async def run_in(self, node: Node, command: str) -> tuple[int, str]:
        raise Refused(f"{node.name!r} is a VM: vtui runs no commands in guests (exec: is for containers)")

    async def attach_nic(self, node: Node, tap: str, mac: str, mtu: int) -> bool:
        return await self._call(self._nic, node, "attach", mac, _nic_xml(tap, mac, mtu))

    async def detach_nic(self, node: Node, mac: str) -> bool:
        return await self._call(self._nic, node, "detach", mac, _nic_xml("", mac, 0))

    async def nic_link(self, node: Node, mac: str, up: bool) -> None:
        await self._call(self._nic, node, "up" if up else "down", mac, "")

    def _nic(self, node: Node, how: str, mac: str, xml: str) -> bool:
        """One NIC change, live where the VM runs and in its definition (the tap is named
        `managed='no'`: vtui made it, libvirt only opens it). Idempotent by MAC."""
        try:
            dom = self.conn.lookupByUUIDString(node.id)
            live, config = _has_mac(dom, mac, 0), _has_mac(dom, mac, libvirt.VIR_DOMAIN_XML_INACTIVE)
            running = dom.isActive()
            if how == "attach":
                flags = (libvirt.VIR_DOMAIN_AFFECT_LIVE if running and not live else 0) | \
                    (libvirt.VIR_DOMAIN_AFFECT_CONFIG if dom.isPersistent() and not config else 0)
                if flags:
                    dom.attachDeviceFlags(xml, flags)
                return bool(flags)
            if how == "detach":
                for present, flag in ((running and live, libvirt.VIR_DOMAIN_AFFECT_LIVE),
                                      (config, libvirt.VIR_DOMAIN_AFFECT_CONFIG)):
                    if present:
                        dom.detachDeviceFlags(xml, flag)
                return bool(live or config)
            if running and live:  # the device as the VM has it, with its link state changed
                interface = _interface(dom, mac)
                for old in interface.findall("link"):
                    interface.remove(old)
                ET.SubElement(interface, "link", state=how)
                dom.updateDeviceFlags(ET.tostring(interface, encoding="unicode"), libvirt.VIR_DOMAIN_AFFECT_LIVE)
            return True
        except libvirt.libvirtError as err:
            raise Refused(f"NIC {mac} of {node.name!r}: {err.get_error_message() or err}") from err

    async def snapshots(self, node: Node) -> list[SnapshotInfo]:
        """The VM's snapshots, oldest first (a query: allowed in read-only mode)."""
        return await self._call(self._snapshots, node)

    def _snapshots(self, node: Node) -> list[SnapshotInfo]:
        try:
            snaps = self.conn.lookupByUUIDString(node.id).listAllSnapshots(0)
            return sorted((_snapshot_info(s) for s in snaps), key=lambda i: (i.created, i.name))
        except libvirt.libvirtError as err:
            raise Refused(f"snapshot list {node.name!r}: {err.get_error_message() or err}") from err

    def _delete(self, dom: libvirt.virDomain, node: Node, storage: bool) -> str | None:
        """Undefine a shut-off VM; with `storage`, then delete the disk volumes libvirt manages."""
        if dom.isActive():  # undefining a running VM would only make it transient
            raise Refused(f"delete {node.name!r}: it is {_state_word(dom)}; force it off first",
                                remedy="force-off")
        disks = _disks(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        doomed, left = self._volumes_to_delete(dom, disks) if storage else ([], [])
        try:
            dom.undefineFlags(_UNDEFINE_ALL)
        except libvirt.libvirtError as err:
            if err.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
                raise
            dom.undefineFlags(_UNDEFINE_BASIC)
        if not storage:
            return f"kept its disks: {', '.join(disks)}" if disks else None
        deleted, failed = [], []
        for path, vol in doomed:
            try:
                vol.delete(0)
                deleted.append(path)
            except libvirt.libvirtError as err:
                failed.append(f"{path} ({err.get_error_message()})")
        if failed:
            raise Refused(f"delete {node.name!r}: it was undefined, but these disks could not be deleted: "
                                f"{', '.join(failed)}")
        told = [f"deleted its disks: {', '.join(deleted)}"] if deleted else []
        return "; ".join(told + ([f"left: {', '.join(left)}"] if left else []))

    def _volumes_to_delete(
        self, dom: libvirt.virDomain, disks: list[str]
    ) -> tuple[list[tuple[str, libvirt.virStorageVol]], list[str]]:
        """The disks' storage volumes safe to delete (with their paths), and the disks left, each with why."""
        others = self._disks_of_others(dom)
        doomed, left = [], []
        for disk in disks:
            vol = self._volume(disk)
            if vol is None:
                left.append(f"{disk} (not in a storage pool)")
                continue
            path = vol.path()
            names = {disk, path, f"{vol.storagePoolLookupByVolume().name()}/{vol.name()}"}
            if users := sorted({name for name, theirs in others.items() if names & theirs}):
                left.append(f"{disk} (also used by {', '.join(repr(u) for u in users)})")
            else:
                doomed.append((path, vol))
        return doomed, left

    def _volume(self, disk: str) -> libvirt.virStorageVol | None:
        """The storage volume behind a disk (a path, or POOL/VOLUME), None when no pool holds it."""
        try:
            if disk.startswith("/"):
                return self.conn.storageVolLookupByPath(disk)
            pool, _, volume = disk.partition("/")
            return self.conn.storagePoolLookupByName(pool).storageVolLookupByName(volume)
        except libvirt.libvirtError as err:
            if err.get_error_code() in (libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_STORAGE_POOL):
                return None
            raise

    def _disks_of_others(self, dom: libvirt.virDomain) -> dict[str, set[str]]:
        """Every other VM's disks by its name, so a shared disk is never deleted."""
        uuid = dom.UUIDString()
        return {other.name(): set(_disks(other.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
                for other in self.conn.listAllDomains(0) if other.UUIDString() != uuid}

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
        """One bulk call for every running domain, never one call per domain.

        A driver that reported no counters last time (test://) is asked only every
        IDLE_DRIVER_EVERY polls: its domains cost a bulk call but give nothing.
        """
        self._polls += 1
        if self._barren and self._polls % IDLE_DRIVER_EVERY:
            return {}
        try:
            records = self.conn.getAllDomainStats(_COUNTERS, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
        except libvirt.libvirtError as err:
            raise self.unavailable(explain(self.target, err)) from err
        now = time.monotonic()
        samples = {}
        for dom, record in records:
            if "cpu.time" in record or "balloon.rss" in record:  # drivers without counters (test://) have none
                samples[self.node_key(dom.UUIDString())] = domain_sample(record, now)
        self._barren = bool(records) and not samples
        return samples

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
        """Where libvirt keeps the VM's log: the domain name verbatim (it cannot contain '/') + '.log'.

        Raises LogsUnavailable for a remote URI: the file is on the other host.
        """
        uri = urlsplit(self.target)
        driver, _, _transport = uri.scheme.partition("+")
        if driver != "qemu":
            raise LogsUnavailable(
                f"{node.name!r} has no QEMU log: libvirt's {driver or self.target!r} driver keeps none "
                "(VMs of qemu:///system and qemu:///session have one)")
        if uri.path == "/system":
            folder = SYSTEM_LOG_DIR
        elif uri.path == "/session":
            folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "libvirt/qemu/log"
        else:
            raise LogsUnavailable(f"vtui does not know where {self.target} keeps the log of {node.name!r}")
        if "/" in node.name or node.name in ("", ".", ".."):
            raise LogsUnavailable(f"{node.name!r} cannot be a log file name")
        path = folder / f"{node.name}.log"
        if uri.hostname not in (None, "", "localhost", "127.0.0.1", "::1"):
            raise LogsUnavailable(
                f"the log of {node.name!r} is a file on {uri.hostname} ({path}): for now vtui reads VM logs "
                "only on the host itself (run vtui there)")
        return path


def _verb(action: str) -> str:
    """An action as the CLI spells it: snapshot-create is `snapshot create`."""
    group, _, sub = action.partition("-")
    return f"{group} {sub}" if group in ("snapshot", "autostart") else action


def _state_word(dom: libvirt.virDomain) -> str:
    return str(describe(*dom.state())[0])


def _save(dom: libvirt.virDomain, node: Node, options: dict[str, Any]) -> str:
    dom.managedSave(0)
    return "its memory is in a managed save image; start or restore resumes it"


def _restore(dom: libvirt.virDomain, node: Node, options: dict[str, Any]) -> str:
    if not dom.hasManagedSaveImage(0):
        raise Refused(f"restore {node.name!r}: it has no managed save image "
                            "(saving it makes one; starting boots it afresh)")
    dom.create()  # a managed save image is resumed, not booted
    return f"it is {_state_word(dom)}"


def _snapshot_name(verb: str, node: Node, options: dict[str, Any]) -> str:
    name = options.get("snapshot")
    if not name:
        raise Refused(f"{verb} {node.name!r}: no snapshot name was given")
    return str(name)


def _snapshot(verb: str, dom: libvirt.virDomain, node: Node, options: dict[str, Any]) -> libvirt.virDomainSnapshot:
    """The snapshot named in options; refuses with the names there are when it does not exist."""
    name = _snapshot_name(verb, node, options)
    try:
        return dom.snapshotLookupByName(name, 0)
    except libvirt.libvirtError as err:
        if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            raise
    names = sorted(s.getName() for s in dom.listAllSnapshots(0))
    there = f"it has {', '.join(repr(n) for n in names)}" if names else "it has none"
    raise Refused(f"{verb} {node.name!r}: no snapshot is named {name!r} ({there})")


def _snapshot_create(dom: libvirt.virDomain, node: Node, options: dict[str, Any]) -> str:
    """An internal snapshot: disks (qcow2) plus memory when the VM runs. ATOMIC: all or nothing.

    Never DISK_ONLY: on a shut-off VM that makes an external overlay, which libvirt
    (9.0) can neither revert to nor delete.
    """
    name = _snapshot_name("snapshot create", node, options)
    if not _disks(dom.XMLDesc(0)):
        raise Refused(f"snapshot create {node.name!r}: it has no disk, and libvirt's snapshots "
                            f"need one (in qcow2 format)")
    root = ET.Element("domainsnapshot")
    ET.SubElement(root, "name").text = name
    if description := options.get("description"):
        ET.SubElement(root, "description").text = str(description)
    snap = dom.snapshotCreateXML(ET.tostring(root, encoding="unicode"), libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC)
    info = _snapshot_info(snap)
    what = "disks" if info.state in ("shutoff", "disk-snapshot") else "disks and memory"
    return f"snapshot {name!r} of its {what} ({info.state})"


def _snapshot_revert(dom: libvirt.virDomain, node: Node, options: dict[str, Any]) -> str:
    snap = _snapshot("snapshot revert", dom, node, options)
    # A managed save image is newer state than any snapshot: left behind, the next
    # start would resume it over the reverted disks.
    stale = bool(dom.hasManagedSaveImage(0))
    if stale:
        dom.managedSaveRemove(0)
    dom.revertToSnapshot(snap, 0)  # to the snapshot's own state: running, paused or shut off
    note = "; its managed save image was discarded" if stale else ""
    return f"to snapshot {snap.getName()!r}; it is {_state_word(dom)}{note}"


def _snapshot_delete(dom: libvirt.virDomain, node: Node, options: dict[str, Any]) -> str:
    snap = _snapshot("snapshot delete", dom, node, options)
    snap.delete(0)  # this one only; its children are kept
    return repr(snap.getName())


def _snapshot_info(snap: libvirt.virDomainSnapshot) -> SnapshotInfo:
    root = ET.fromstring(snap.getXMLDesc(0))
    return SnapshotInfo(
        name=snap.getName(),
        created=int(root.findtext("creationTime") or 0),
        state=root.findtext("state") or "",
        description=root.findtext("description") or "",
        current=bool(snap.isCurrent(0)),
    )


def _nic_xml(tap: str, mac: str, mtu: int, up: bool = True) -> str:
    """A virtio NIC on an existing tap; only checked tokens (a tap name vtui made, a MAC, numbers)."""
    interface = ET.Element("interface", type="ethernet")
    ET.SubElement(interface, "mac", address=mac)
    if tap:
        ET.SubElement(interface, "target", dev=tap, managed="no")
        ET.SubElement(interface, "model", type="virtio")
    if mtu:
        ET.SubElement(interface, "mtu", size=str(mtu))
    ET.SubElement(interface, "link", state="up" if up else "down")
    return ET.tostring(interface, encoding="unicode")


def _has_mac(dom: libvirt.virDomain, mac: str, flags: int) -> bool:
    tree = ET.fromstring(dom.XMLDesc(flags))
    return any(m.get("address", "").lower() == mac for m in tree.findall("devices/interface/mac"))


def _interface(dom: libvirt.virDomain, mac: str) -> ET.Element:
    for interface in ET.fromstring(dom.XMLDesc(0)).findall("devices/interface"):
        found = interface.find("mac")
        if found is not None and found.get("address", "").lower() == mac:
            return interface
    raise libvirt.libvirtError(f"no NIC with MAC {mac}")


def _disks(xml: str) -> list[str]:
    """A domain's disks (not CD-ROMs): a path, POOL/VOLUME, or PROTOCOL:NAME for network disks."""
    found = []
    for disk in ET.fromstring(xml).iterfind("devices/disk[@device='disk']"):
        src = disk.find("source")
        if src is None:
            continue
        if src.get("pool") and src.get("volume"):
            found.append(f"{src.get('pool')}/{src.get('volume')}")
        elif path := src.get("file") or src.get("dev"):
            found.append(path)
        elif src.get("protocol"):
            found.append(f"{src.get('protocol')}:{src.get('name', '')}")
    return found


_VM_ACTIONS: dict[str, Callable[[libvirt.virDomain, Node, dict[str, Any]], str]] = {
    "save": _save,
    "restore": _restore,
    "snapshot-create": _snapshot_create,
    "snapshot-revert": _snapshot_revert,
    "snapshot-delete": _snapshot_delete,
}


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


SYSTEM_LOG_DIR = Path("/var/log/libvirt/qemu")
LOG_POLL = 0.25  # seconds between looks at a followed log file
_READ_BLOCK = 64 * 1024


class LogFile:
    """A log file read from its end, then followed by polling (in a backend thread).

    Rotation (virtlogd renames the file to .log.0 and starts a new one) and truncation are handled:
    the rest of the old file is read, then the new one from its start.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._id = (0, 0)  # device and inode of the open file
        self._pos = 0
        self._lines = LineSplitter()
        self._lock = threading.Lock()  # a read and close() from different threads

    def open(self, name: str) -> None:
        try:
            with self._lock:
                self._open()
        except FileNotFoundError:
            raise LogsUnavailable(f"{name!r} has no log at {self.path} yet (libvirt writes it when the VM starts)"
                                  ) from None
        except PermissionError:
            raise LogsUnavailable(f"permission denied reading {self.path} (libvirt's logs are root's)") from None
        except OSError as err:
            raise LogsUnavailable(f"cannot read {self.path}: {err.strerror}") from None

    def _open(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        if self._fd >= 0:
            os.close(self._fd)
        st = os.fstat(fd)
        self._fd, self._id, self._pos = fd, (st.st_dev, st.st_ino), 0

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
            if fd >= 0:
                os.close(fd)

    def tail(self, count: int | None, final: bool) -> list[str]:
        """The last `count` lines (None: all); `final`: the unfinished last line too, as nothing follows."""
        with self._lock:
            return self._tail(count, final)

    def _tail(self, count: int | None, final: bool) -> list[str]:
        size = os.fstat(self._fd).st_size
        if count is None:
            lines = self._drain()
        elif count == 0:
            self._pos, lines = size, []
        else:  # back from the end, block by block, to count + 1 line ends (the first may be cut)
            start, newlines = size, 0
            blocks: list[bytes] = []
            while start > 0 and newlines <= count:
                step = min(_READ_BLOCK, start)
                start -= step
                blocks.insert(0, os.pread(self._fd, step, start))
                newlines += blocks[0].count(b"\n")
            self._pos = start + sum(len(b) for b in blocks)
            lines = self._lines.feed(b"".join(blocks))
        lines += self._lines.flush() if final else []
        return lines if count is None else lines[-count:] if count else []

    def read_new(self) -> list[str]:
        """What was written since the last read; across a rotation or truncation."""
        with self._lock:
            return self._read_new() if self._fd >= 0 else []

    def _read_new(self) -> list[str]:
        lines: list[str] = []
        try:
            st = os.stat(self.path)
        except OSError:
            st = None  # renamed away and not created again yet: keep reading the old one
        if st is not None and (st.st_dev, st.st_ino) != self._id:
            lines += self._drain() + self._lines.flush()
            try:
                self._open()
            except OSError:
                return lines  # gone again: next time
        elif os.fstat(self._fd).st_size < self._pos:
            lines += self._lines.flush()
            self._pos = 0
        return lines + self._drain()

    def _drain(self) -> list[str]:
        lines: list[str] = []
        while data := os.pread(self._fd, 16 * _READ_BLOCK, self._pos):
            self._pos += len(data)
            lines += self._lines.feed(data)
        return lines
