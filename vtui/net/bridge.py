"""Segments: a Linux bridge (STP off, forward delay 0) in a network namespace of its own, and per
member a veth pair whose far end is a port of the bridge. The namespace keeps the segment out of
the host's firewall (docker's FORWARD policy drops bridged frames when br_netfilter is loaded) and
out of its interface list, and removing it removes the bridge and every port at once.

The same steps by netlink (this machine) and as sh scripts (a remote host), as vtui.net.local and
vtui.net.batch do for a single link; MakeBridge, RemoveBridge and JoinPort are those steps as the
operations an executor runs (vtui.net.executor.Op), wherever it runs them."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from vtui.errors import LinkError
from vtui.net import batch
from vtui.net.netns import NamespaceGone, iproute_in, run_in
from vtui.net.plan import DEFAULT_MTU, GROUP, HERE, End, Veth, check_mtu

NETFILTER_SYSCTLS = ("iptables", "ip6tables", "arptables")


@dataclass(frozen=True)
class Bridge:
    """A segment's bridge; every name is made from its id (the user's words never reach a shell)."""

    id: str  # 8 hex digits
    mtu: int = DEFAULT_MTU
    where: str = "local"  # the host, for sentences

    @property
    def namespace(self) -> str:
        return f"vtseg{self.id}"

    @property
    def ifname(self) -> str:
        return f"vtbr{self.id}"

    @property
    def alias(self) -> str:
        return f"vtui:{self.id}:br"

    def port(self, member: int) -> End:
        """The bridge's end of member `member`'s veth."""
        return End(HERE, f"port{member}", f"the segment {self.id} on {self.where}", named=self.namespace)


# --- netlink (this machine) --------------------------------------------------------------------

def wire_bridge(bridge: Bridge) -> bool:
    """Make the namespace and its bridge, up (False when they are there already)."""
    from pyroute2 import netns
    from pyroute2.netlink.exceptions import NetlinkError
    check_mtu(bridge.mtu)
    path = f"/run/netns/{bridge.namespace}"
    if os.path.exists(path):
        with iproute_in(path) as ipr:
            if ipr.link_lookup(ifname=bridge.ifname):
                return False
    else:
        netns.create(bridge.namespace)
    try:
        with iproute_in(path) as ipr:
            ipr.link("add", ifname=bridge.ifname, kind="bridge", br_stp_state=0, br_forward_delay=0, mtu=bridge.mtu)
            index = ipr.link_lookup(ifname=bridge.ifname)[0]
            ipr.link("set", index=index, ifalias=bridge.alias, group=GROUP, state="up")
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        run_in(path, _no_bridge_netfilter)
    except (NetlinkError, OSError) as err:
        unwire_bridge(bridge)
        why = os.strerror(err.code if isinstance(err, NetlinkError) else err.errno or 0)
        raise LinkError(f"cannot make the bridge of segment {bridge.id} on {bridge.where}: {why}") from err
    return True


def _no_bridge_netfilter() -> None:
    """Bridged frames skip iptables in the segment's namespace (br_netfilter, where the host loaded it,
    sends them through the IP hooks: the bench measured 0.53x a veth's throughput with, ~0.9x without)."""
    for family in NETFILTER_SYSCTLS:
        with contextlib.suppress(FileNotFoundError), open(f"/proc/sys/net/bridge/bridge-nf-call-{family}", "w") as f:
            f.write("0")


def unwire_bridge(bridge: Bridge) -> bool:
    """Remove the segment's namespace: its bridge and ports go with it, and so do the members' ends."""
    from pyroute2 import netns
    if not os.path.exists(f"/run/netns/{bridge.namespace}"):
        return False
    with contextlib.suppress(FileNotFoundError):
        netns.remove(bridge.namespace)
    return True


def wire_port(veth: Veth, bridge: Bridge) -> bool:
    """The member's veth (end b in the segment's namespace), its end b a port of the bridge."""
    from pyroute2.netlink.exceptions import NetlinkError

    from vtui.net import local
    made = local.wire_veth(veth)
    try:
        with iproute_in(veth.b.netns) as ipr:
            found = ipr.link_lookup(ifname=bridge.ifname)
            if not found:
                raise LinkError(f"the bridge of segment {bridge.id} is not on {bridge.where} (make it first)")
            ipr.link("set", index=ipr.link_lookup(ifname=veth.b.ifname)[0], master=found[0])
    except (LinkError, NetlinkError, NamespaceGone) as err:
        if made:
            local.unwire_veth(veth)
        if isinstance(err, NetlinkError):
            raise LinkError(f"cannot join {veth.a} to segment {bridge.id}: {os.strerror(err.code)}") from err
        if isinstance(err, NamespaceGone):
            raise LinkError(f"segment {bridge.id} is not on {bridge.where} (make it first)") from err
        raise
    return made


# --- sh scripts (a remote host) ----------------------------------------------------------------

def bridge_script(bridge: Bridge) -> str:
    check_mtu(bridge.mtu)
    ns, br = bridge.namespace, bridge.ifname
    return f"""\
set -u -f
if ip -n {ns} link show dev {br} >/dev/null 2>&1; then echo {batch.PRESENT}; exit 0; fi
[ -e /run/netns/{ns} ] || ip netns add {ns} || {{ echo "vtui-failed cannot make a network namespace"; exit 3; }}
err=$(ip -n {ns} link add {br} mtu {bridge.mtu} type bridge stp_state 0 forward_delay 0 2>&1 &&
      ip -n {ns} link set dev {br} alias {bridge.alias} group {GROUP} up 2>&1 &&
      ip -n {ns} link set dev lo up 2>&1) || {{ ip netns del {ns} 2>/dev/null; echo "vtui-failed" $err; exit 3; }}
nsenter --net=/run/netns/{ns} sh -c 'for f in {" ".join(NETFILTER_SYSCTLS)}; do
  [ ! -e /proc/sys/net/bridge/bridge-nf-call-$f ] || echo 0 >/proc/sys/net/bridge/bridge-nf-call-$f; done'
echo {batch.MADE}
"""


def unbridge_script(bridge: Bridge) -> str:
    ns = bridge.namespace
    return f"""\
set -u -f
if [ -e /run/netns/{ns} ]; then ip netns del {ns}; echo {batch.REMOVED}; else echo {batch.ABSENT}; fi
"""


def port_script(veth: Veth, bridge: Bridge) -> str:
    """wire_script, then end b joins the bridge (or the pair is removed again)."""
    body, last = batch.wire_script(veth).rstrip().rsplit("\n", 1)
    ns, br = bridge.namespace, bridge.ifname
    return body + f"""
err=$(ip -n {ns} link set dev "$BI" master {br} 2>&1) || {{
  drop "$A" "$AI" "$AL"; echo "vtui-failed segment {bridge.id}: $err"; exit 3; }}
{last}
"""


def bridge_outcome(bridge: Bridge, output: str) -> bool:
    lines = output.strip().splitlines()
    last = lines[-1] if lines else ""
    if last in (batch.MADE, batch.REMOVED):
        return True
    if last in (batch.PRESENT, batch.ABSENT):
        return False
    word, _, rest = last.partition(" ")
    detail = rest if word == "vtui-failed" else f"unexpected answer {output.strip()[-200:]!r}"
    raise LinkError(f"the bridge of segment {bridge.id} on {bridge.where}: {detail}")


# --- the operations an executor runs (vtui.net.executor.Op) -----------------------------------

@dataclass(frozen=True)
class MakeBridge:
    """Make the segment's namespace and bridge; False when they are there already."""

    bridge: Bridge

    def netlink(self) -> bool:
        return wire_bridge(self.bridge)

    def script(self, host: str) -> str:
        return bridge_script(self.bridge)

    def outcome(self, output: str) -> bool:
        return bridge_outcome(self.bridge, output)


@dataclass(frozen=True)
class RemoveBridge:
    """Remove the segment's namespace, its bridge and ports; False when it was not there."""

    bridge: Bridge

    def netlink(self) -> bool:
        return unwire_bridge(self.bridge)

    def script(self, host: str) -> str:
        return unbridge_script(self.bridge)

    def outcome(self, output: str) -> bool:
        return bridge_outcome(self.bridge, output)


@dataclass(frozen=True)
class JoinPort:
    """A member's veth whose end b is a port of the bridge; False when it was there."""

    veth: Veth
    bridge: Bridge

    def netlink(self) -> bool:
        return wire_port(self.veth, self.bridge)

    def script(self, host: str) -> str:
        return port_script(self.veth, self.bridge)

    def outcome(self, output: str) -> bool:
        return batch.outcome(self.veth, output)
