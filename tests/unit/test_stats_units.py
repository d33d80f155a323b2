"""Rates, totals, history and the kernel-file parsers (pure code; v2 from a fixture tree)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtui.backends.cgroups import CgroupReader, _field, memory_limit, parse_blkio_v1, parse_io_stat_v2, parse_net_dev
from vtui.backends.docker_stats import api_sample
from vtui.backends.libvirt_stats import domain_sample
from vtui.model.format import sparkline
from vtui.model.stats import NS, History, NodeStats, Sample, StatsBook, rates, total


def test_first_sample_gives_no_rate_but_memory() -> None:
    stats = rates(None, Sample(at=1.0, cpu_ns=5 * NS, mem_bytes=100, net_rx_bytes=10))
    assert stats == NodeStats(mem_bytes=100)


def test_rates_from_deltas() -> None:
    before = Sample(at=10.0, cpu_ns=1 * NS, disk_read_bytes=0, net_tx_bytes=1000)
    after = Sample(at=12.0, cpu_ns=3 * NS, disk_read_bytes=4096, net_tx_bytes=3000)
    stats = rates(before, after)
    assert stats.cpu_percent == pytest.approx(100.0)  # 2 s of CPU in 2 s: one core
    assert stats.disk_read_bps == pytest.approx(2048)
    assert stats.net_tx_bps == pytest.approx(1000)
    assert stats.net_rx_bps is None  # not reported


def test_a_counter_that_went_backwards_gives_no_rate() -> None:
    before = Sample(at=1.0, cpu_ns=50 * NS, net_rx_bytes=10_000)
    after = Sample(at=2.0, cpu_ns=1 * NS, net_rx_bytes=20_000)  # restarted: CPU counter reset
    stats = rates(before, after)
    assert stats.cpu_percent is None
    assert stats.net_rx_bps == pytest.approx(10_000)


def test_stats_book_forgets_stopped_nodes_and_keeps_history() -> None:
    book = StatsBook(history_length=3)
    for t in range(5):
        book.record({"a": Sample(at=t, cpu_ns=t * NS // 2)}, owned=["a", "b"])
    assert book.current["a"].cpu_percent == pytest.approx(50.0)
    assert book.history.series("a", "cpu_percent") == pytest.approx([50.0, 50.0, 50.0])  # capped at 3
    book.record({}, owned=["a"])  # a stopped
    assert "a" not in book.current
    book.record({"a": Sample(at=9, cpu_ns=0)}, owned=["a"])  # started again: no rate from stale counters
    assert book.current["a"].cpu_percent is None


def test_total_sums_what_is_known() -> None:
    sums = total([NodeStats(cpu_percent=50, mem_bytes=10), NodeStats(cpu_percent=25), NodeStats()])
    assert (sums.cpu_percent, sums.mem_bytes, sums.net_rx_bps) == (75, 10, None)


def test_history_drops_unknown_values() -> None:
    history = History(10)
    history.add("k", NodeStats(cpu_percent=None))
    history.add("k", NodeStats(cpu_percent=3.0))
    assert history.series("k", "cpu_percent") == [3.0]


def test_sparkline_is_zero_based_on_a_fixed_time_axis() -> None:
    assert sparkline([100.0] * 4, width=4, slots=4, ceiling=100.0) == "████"
    assert sparkline([50.0] * 4, width=4, slots=4, ceiling=100.0) == "▄▄▄▄"  # a steady half load: 4/8
    assert sparkline([10.0, 20.0], width=4, slots=4) == "  ▄█"  # newest on the right
    assert sparkline([1.0] * 8, width=2, slots=8) == "██"  # 4 samples per cell
    assert sparkline([0.0, 0.0], width=3, slots=3) == " ▁▁"


V1_BLKIO = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:16 Read 100\n8:16 Write 0\nTotal 12388\n"
V2_IO = "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=100 wbytes=0\n"
NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   999      9    0    0    0     0          0         0      999      9    0    0    0     0       0          0
  eth0:  1500     10    0    0    0     0          0         0      700      5    0    0    0     0       0          0
  eth1:   500      1    0    0    0     0          0         0       50      1    0    0    0     0       0          0
"""


def test_field_lookup_in_stat_files() -> None:
    stat = "cache 5\ninactive_file 7\ntotal_inactive_file 9\nlast 12"
    assert _field(stat, "total_inactive_file") == 9
    assert _field(stat, "inactive_file") == 7  # not the one inside total_inactive_file
    assert _field(stat, "last") == 12  # no newline at the end
    assert _field(stat, "absent") == 0
    assert _field("total_inactive_file 3\n", "inactive_file") == 0


def test_parsers() -> None:
    assert parse_blkio_v1(V1_BLKIO) == (4196, 8192)
    assert parse_io_stat_v2(V2_IO) == (4196, 8192)
    assert parse_net_dev(NET_DEV) == (2000, 750)  # lo left out
    assert memory_limit("max\n", 8 << 30) == 8 << 30
    assert memory_limit("9223372036854771712", 8 << 30) == 8 << 30
    assert memory_limit("536870912", 8 << 30) == 512 << 20


@pytest.mark.parametrize("driver_dir", ["docker/{id}", "system.slice/docker-{id}.scope"])
def test_cgroup_v2_tree(tmp_path: Path, driver_dir: str) -> None:
    """This machine runs cgroup v1; v2 is read from a tree laid out as the kernel does."""
    cid = "c0ffee" * 10
    d = tmp_path / "sys/fs/cgroup" / driver_dir.format(id=cid)
    d.mkdir(parents=True)
    (d / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (d / "memory.current").write_text("10485760\n")
    (d / "memory.stat").write_text("anon 8388608\nfile 2097152\ninactive_file 1048576\n")
    (d / "memory.max").write_text("max\n")
    (d / "io.stat").write_text(V2_IO)
    (d / "cgroup.procs").write_text("4242\n4243\n")
    (tmp_path / "proc/4242/net").mkdir(parents=True)
    (tmp_path / "proc/4242/net/dev").write_text(NET_DEV)
    (tmp_path / "proc/meminfo").write_text("MemTotal:       16384000 kB\n")
    samples, missing = CgroupReader(tmp_path).read([cid, "absent"])
    assert missing == ["absent"]
    s = samples[cid]
    assert (s.cpu_ns, s.mem_bytes, s.mem_limit_bytes) == (2_500_000_000, 10485760 - 1048576, 16384000 * 1024)
    assert (s.disk_read_bytes, s.disk_write_bytes, s.net_rx_bytes, s.net_tx_bytes) == (4196, 8192, 2000, 750)


def test_libvirt_record_to_sample() -> None:
    record = {"cpu.time": 7, "balloon.rss": 2, "balloon.maximum": 4, "block.count": 2,
              "block.0.rd.bytes": 10, "block.0.wr.bytes": 1, "block.1.rd.bytes": 5, "block.1.wr.bytes": 2,
              "net.count": 1, "net.0.rx.bytes": 30, "net.0.tx.bytes": 40}
    s = domain_sample(record, 1.0)
    assert (s.cpu_ns, s.mem_bytes, s.mem_limit_bytes) == (7, 2048, 4096)
    assert (s.disk_read_bytes, s.disk_write_bytes, s.net_rx_bytes, s.net_tx_bytes) == (15, 3, 30, 40)
    assert domain_sample({"block.count": 0, "net.count": 0}, 1.0).net_rx_bytes is None


def test_docker_api_stats_to_sample() -> None:
    raw = {"cpu_stats": {"cpu_usage": {"total_usage": 99}},
           "memory_stats": {"usage": 1000, "limit": 5000, "stats": {"total_inactive_file": 200}},
           "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 7}, {"op": "write", "value": 3}]},
           "networks": {"eth0": {"rx_bytes": 11, "tx_bytes": 22}}}
    s = api_sample(raw, 2.0)
    assert (s.cpu_ns, s.mem_bytes, s.mem_limit_bytes, s.disk_read_bytes, s.disk_write_bytes) == (99, 800, 5000, 7, 3)
    assert (s.net_rx_bytes, s.net_tx_bytes) == (11, 22)
