"""Link plans as data and as the sh script a remote host runs: only checked tokens reach the shell."""

from __future__ import annotations

import re
import subprocess

import pytest

from vtui.errors import LinkError
from vtui.net import batch
from vtui.net.plan import End, Veth

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


def test_many_links_join_into_one_script_and_their_answers_split_apart() -> None:
    veths = [Veth(f"0badc0d{i}", End(101, f"eth{i}", HOSTILE), End(202, f"eth{i}", "container 'b' on local"))
             for i in range(3)]
    joined = batch.join_scripts([batch.wire_script(v) for v in veths])
    assert "pwned" not in joined and "reboot" not in joined and "'b'" not in joined
    assert joined.count("gone() {") == 1 and joined.count("i=") == 3 and "AI=eth2 " in joined
    assert len(joined) < 3 * len(batch.wire_script(veths[0]))
    output = "vtui-link 0 vtui-made\nsome noise\nvtui-link 1 vtui-taken b\nvtui-link 2 vtui-present\n"
    made, taken, present = batch.split_outcomes(veths, output)
    assert made is True and present is False
    assert isinstance(taken, LinkError) and str(taken) == "eth1 of container 'b' on local: that name is taken " \
        "(by an interface vtui did not make for this link)"
    first, second, third = batch.split_outcomes(veths, "vtui-link 1 vtui-removed\nsh: killed")
    assert isinstance(first, LinkError) and "no answer" in str(first) and second is True
    assert isinstance(third, LinkError) and "no answer" in str(third)


def test_a_joined_script_runs_each_link_apart() -> None:
    """The joined script under sh: one link's `exit` ends only its own subshell."""
    scripts = ["echo first\necho vtui-made\n", 'echo "vtui-failed no such device"; exit 3\necho vtui-made\n',
               "gone() { echo redefined; }\necho vtui-absent\n"]
    output = subprocess.run(["sh", "-c", batch.join_scripts(scripts)], capture_output=True, text=True,
                            check=True).stdout
    assert output == ("first\nvtui-link 0 vtui-made\nvtui-link 1 vtui-failed no such device\n"
                      "vtui-link 2 vtui-absent\n")
    veths = [Veth(f"0badc0d{i}", End(101, "eth1", "a"), End(202, "eth1", "b")) for i in range(3)]
    made, failed, absent = batch.split_outcomes(veths, output)
    assert made is True and absent is False and isinstance(failed, LinkError) and "no such device" in str(failed)
