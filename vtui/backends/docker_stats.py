"""A container's counters from the engine's stats API (the fallback when cgroup files cannot be read)."""

from __future__ import annotations

from typing import Any

from vtui.model.stats import Sample


def api_sample(raw: dict[str, Any], now: float) -> Sample:
    """Counters from the engine's stats API (the fallback when cgroup files cannot be read)."""
    memory = raw.get("memory_stats") or {}
    inner = memory.get("stats") or {}
    usage = memory.get("usage")
    inactive = inner.get("total_inactive_file", inner.get("inactive_file", 0))
    blkio = (raw.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    networks = (raw.get("networks") or {}).values()
    return Sample(
        at=now,
        cpu_ns=((raw.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage"),
        mem_bytes=None if usage is None else max(usage - inactive, 0),
        mem_limit_bytes=memory.get("limit"),
        disk_read_bytes=sum(e.get("value", 0) for e in blkio if str(e.get("op", "")).lower() == "read"),
        disk_write_bytes=sum(e.get("value", 0) for e in blkio if str(e.get("op", "")).lower() == "write"),
        net_rx_bytes=sum(n.get("rx_bytes", 0) for n in networks) if networks else None,
        net_tx_bytes=sum(n.get("tx_bytes", 0) for n in networks) if networks else None,
    )
