"""A VM's counters from libvirt's bulk stats: one call for every running domain, never one per domain."""

from __future__ import annotations

import time
from typing import Any

import libvirt

from vtui.model.stats import Sample

COUNTERS = (
    libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_BLOCK | libvirt.VIR_DOMAIN_STATS_INTERFACE
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


class DomainCounters:
    """The counters of one connection's running domains, poll after poll.

    A driver that reported no counters last time (test://) is asked only every
    IDLE_DRIVER_EVERY polls: its domains cost a bulk call but give nothing.
    """

    def __init__(self) -> None:
        self._polls = 0
        self._barren = False  # the last poll's domains reported no counters

    def read(self, conn: libvirt.virConnect) -> dict[str, Sample]:
        """Samples by domain UUID; raises libvirt.libvirtError."""
        self._polls += 1
        if self._barren and self._polls % IDLE_DRIVER_EVERY:
            return {}
        records = conn.getAllDomainStats(COUNTERS, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
        now = time.monotonic()
        samples = {}
        for dom, record in records:
            if "cpu.time" in record or "balloon.rss" in record:  # drivers without counters (test://) have none
                samples[dom.UUIDString()] = domain_sample(record, now)
        self._barren = bool(records) and not samples
        return samples
