"""libvirt backend: VMs of one libvirt URI (qemu:///system, test:///…, qemu+…)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import libvirt

from vtui.actions import ActionRefused
from vtui.backends.base import Backend, Change, EngineUnavailable, Removed, Reset, Upsert
from vtui.backends.libvirt_events import ensure_event_loop
from vtui.backends.libvirt_states import describe
from vtui.model import Kind, Node
from vtui.stats import Sample

_BULK_STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON
)
_COUNTERS = (
    libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_BLOCK | libvirt.VIR_DOMAIN_STATS_INTERFACE
)


IDLE_DRIVER_EVERY = 10
SHUTDOWN_TIMEOUT = 60.0  # seconds a guest gets to power off before vtui offers force-off


class ShutdownTimedOut(ActionRefused):
    """The guest did not power off in time; force-off is the way out."""


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

    def __init__(self, host: str, uri: str, *, read_only: bool = False) -> None:
        super().__init__(host, uri, read_only=read_only)
        self._conn: libvirt.virConnect | None = None
        self._polls = 0
        self._barren = False  # the last poll's domains reported no counters

    @property
    def conn(self) -> libvirt.virConnect:
        if self._conn is None:
            raise self.unavailable("not connected")
        return self._conn

    async def connect(self) -> None:
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
            record = self.conn.domainListGetStats([dom], _BULK_STATS)[0][1]
            return self._node(dom, record)
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

    def _perform(self, node: Node, action: str, options: dict[str, Any]) -> str | None:
        try:
            dom = self.conn.lookupByUUIDString(node.id)
            simple = {"start": dom.create, "force-off": dom.destroy, "pause": dom.suspend, "resume": dom.resume,
                      "reboot": lambda: dom.reboot(0), "reset": lambda: dom.reset(0)}
            if action in simple:
                simple[action]()
                return None
            if action == "shutdown":
                dom.shutdown()
                return self._await_power_off(dom, node, float(options.get("timeout") or SHUTDOWN_TIMEOUT))
        except libvirt.libvirtError as err:
            raise ActionRefused(f"{action} {node.name!r}: {err.get_error_message() or err}") from err
        raise ActionRefused(f"{action} is not implemented for VMs yet")

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
            f"to cut its power: vtui force-off {shlex.quote(node.name)}")

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

    async def watch(self) -> AsyncIterator[Change]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | EngineUnavailable] = asyncio.Queue()

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
                if isinstance(item, EngineUnavailable):
                    raise item
                node = await self._call(self._read, item)
                yield Upsert(node) if node else Removed(self.node_key(item))
        finally:
            await self._call(_deregister_quietly, conn, callback)


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
