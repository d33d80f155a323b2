"""Link plans as data and as the sh script a remote host runs: only checked tokens reach the shell."""

from __future__ import annotations

import re

import pytest

from vtui.net import batch
from vtui.net.plan import End, LinkError, Veth

HOSTILE = "container 'x$(touch /tmp/pwned)`id`;reboot' on local"


def test_node_names_never_reach_the_script_and_its_answers_become_sentences() -> None:
    veth = Veth("0badc0de", End(101, "eth1", HOSTILE), End(202, "eth2", "container 'b' on local"), mtu=9000)
    for script in (batch.wire_script(veth), batch.unwire_script(veth)):
        assert "pwned" not in script and "reboot" not in script and "'b'" not in script
    assert "netns 101 mtu 9000 address " in batch.wire_script(veth)
    assert "peer name \"$BI\" netns 202 mtu 9000 address " in batch.wire_script(veth)
    with pytest.raises(LinkError, match=r"eth2 of container 'b' on local: that name is taken"):
        batch.outcome(veth, "vtui-taken b\n")
    with pytest.raises(LinkError, match=re.escape(HOSTILE) + " is not running"):
        batch.outcome(veth, "vtui-gone a")
    with pytest.raises(LinkError, match="RTNETLINK answers: File exists"):
        batch.outcome(veth, "vtui-failed RTNETLINK answers: File exists")
    with pytest.raises(LinkError, match="unexpected answer"):
        batch.outcome(veth, "sh: nsenter: not found")
    assert batch.outcome(veth, "vtui-made") and not batch.outcome(veth, "vtui-present")


@pytest.mark.parametrize(("ifname", "mtu", "problem"), [
    ("eth1; reboot", 1500, "letters, digits"),
    ("sixteen-chars-xx", 1500, "1 to 15 characters"),
    ("eth1", 67, "MTU 67"),
])
def test_a_bad_name_or_mtu_is_refused_before_any_script(ifname: str, mtu: int, problem: str) -> None:
    with pytest.raises(LinkError, match=problem):
        batch.wire_script(Veth("0badc0de", End(1, ifname, "host"), End(2, "eth1", "host"), mtu=mtu))


def test_impairments_become_one_qdisc_per_end() -> None:
    from vtui.net.plan import Impairment

    veth = Veth("0badc0de", End(101, "eth1", HOSTILE), End(202, "eth2", "container 'b' on local"))
    assert "tbf rate 20000kbit burst 25000 latency 50ms" in batch.impair_script(veth, "a", Impairment(rate_kbit=20_000))
    netem = batch.impair_script(veth, "b", Impairment(delay_ms=20, jitter_ms=5, loss_pct=0.5, rate_kbit=1000))
    assert "netem delay 20ms 5ms loss 0.5% rate 1000kbit" in netem and '"$BI"' in netem
    assert 'del dev "$AI" root' in batch.impair_script(veth, "a", Impairment())
    with pytest.raises(LinkError, match="this kernel has no sch_netem"):
        batch.outcome(veth, "vtui-nonetem b")
    assert Impairment().none and Impairment(loss_pct=1).netem and not Impairment(rate_kbit=1).netem
