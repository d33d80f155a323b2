"""A link between nodes on two hosts: each end is a VXLAN device made in its host's namespace
(the underlay: the hosts' own addresses) and moved, under its final name, into its node's
namespace. Both ends carry the link's VNI on UDP port 14789 (containerlab's), learn no addresses
(each has exactly one peer) and have the MTU of the underlay less VXLAN's 50 bytes.

The same steps by netlink (this machine) and as a sh script (a remote host); MakeEnd and RemoveEnd
are those steps as the operations an executor runs (vtui.net.executor.Op)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
from dataclasses import dataclass

from vtui.errors import LinkError
from vtui.net import batch
from vtui.net.netns import iproute_in
from vtui.net.plan import GROUP, End, Veth, check_end, check_mtu

PORT = 14789
OVERHEAD = 50  # outer Ethernet, IPv4, UDP and VXLAN headers


def vni_of(link_id: str) -> int:
    """The VXLAN network id of a link: from its id, the same on both hosts."""
    return int(link_id, 16) & 0xFFFFFF or 1


@dataclass(frozen=True)
class VxlanEnd:
    """One host's end of a VXLAN link."""

    id: str
    side: str
    end: End  # the node's namespace and the interface's final name
    local: str  # this host's underlay address
    remote: str  # the other host's
    mtu: int
    underlay: str = ""  # the namespace whose addresses carry the tunnel (a path); "": this process's

    @property
    def vni(self) -> int:
        return vni_of(self.id)

    @property
    def alias(self) -> str:
        return f"vtui:{self.id}:{self.side}"

    @property
    def view(self) -> tuple[Veth, str]:
        """This end as the single-link functions (status, admin, impairments) take it."""
        return Veth(self.id, self.end, self.end, self.mtu), self.side

    def check(self) -> None:
        check_end(self.end)
        check_mtu(self.mtu)
        for address in (self.local, self.remote):
            try:
                ipaddress.ip_address(address)
            except ValueError as err:
                raise LinkError(f"VXLAN link {self.id}: {address!r} is not an address") from err


def wire_vxlan(vx: VxlanEnd) -> bool:
    """Make the end (False when it is there, as planned); a failure after the add removes it."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
    vx.check()
    with iproute_in(vx.end.netns) as ipr:
        found = ipr.link_lookup(ifname=vx.end.ifname)
        if found:
            if ipr.get_links(found[0])[0].get("ifalias") != vx.alias:
                raise LinkError(f"{vx.end}: that name is taken (by an interface vtui did not make for this link)")
            return False
    fd = os.open(vx.end.netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with iproute_in(vx.underlay) if vx.underlay else IPRoute() as root:  # made in the underlay, lives in the node's
            root.link("add", ifname=vx.end.ifname, kind="vxlan", vxlan_id=vx.vni, vxlan_local=vx.local,
                      vxlan_group=vx.remote, vxlan_port=PORT, vxlan_learning=0, mtu=vx.mtu, net_ns_fd=fd,
                      address=Veth(vx.id, vx.end, vx.end).mac(vx.side))
    except NetlinkError as err:
        raise LinkError(f"cannot make the VXLAN end {vx.end}: {os.strerror(err.code)}") from err
    finally:
        os.close(fd)
    try:
        with iproute_in(vx.end.netns) as ipr:
            index = ipr.link_lookup(ifname=vx.end.ifname)[0]
            ipr.link("set", index=index, ifalias=vx.alias, group=GROUP, state="up")
            for address in vx.end.addresses:
                ip, _, prefix = address.partition("/")
                ipr.addr("add", index=index, address=ip, prefixlen=int(prefix))
    except (NetlinkError, OSError) as err:
        unwire_vxlan(vx)
        raise LinkError(f"cannot set up the VXLAN end {vx.end}: {err}") from err
    return True


def unwire_vxlan(vx: VxlanEnd) -> bool:
    from vtui.net import local
    with contextlib.suppress(LinkError):
        return local.unwire_veth(Veth(vx.id, vx.end, vx.end)) if vx.side == "a" else \
            local.unwire_veth(Veth(vx.id, End(0, "", ""), vx.end))
    return False


def vxlan_script(vx: VxlanEnd) -> str:
    vx.check()
    veth, side = vx.view
    addresses = "".join(f' &&\n  nsenter --net="$A" ip addr add {a} dev "$AI" 2>&1' for a in vx.end.addresses)
    return batch.header_for(vx.end, vx.alias) + f"""\
case $(state "$A" "$AI" "$AL") in
  ours) echo {batch.PRESENT}; exit 0 ;;
  foreign) echo "vtui-taken {side}"; exit 2 ;;
esac
err=$(ip link add "$AI" netns {batch.netns_arg(vx.end)} mtu {vx.mtu} address {veth.mac(side)} type vxlan \\
  id {vx.vni} local {vx.local} remote {vx.remote} dstport {PORT} nolearning 2>&1) || {{
  echo "vtui-failed" $err; exit 3; }}
err=$(nsenter --net="$A" ip link set dev "$AI" alias "$AL" group {GROUP} up 2>&1{addresses}) || {{
  drop "$A" "$AI" "$AL"; echo "vtui-failed" $err; exit 3; }}
echo {batch.MADE}
"""


def unvxlan_script(vx: VxlanEnd) -> str:
    return batch.header_for(vx.end, vx.alias, running=False) + f"""\
if [ "$(state "$A" "$AI" "$AL")" = ours ]; then drop "$A" "$AI" "$AL"; echo {batch.REMOVED}
else echo {batch.ABSENT}; fi
"""


@dataclass(frozen=True)
class MakeEnd:
    """Make one host's end of a VXLAN link; False when it is there, as planned."""

    vx: VxlanEnd

    def netlink(self) -> bool:
        return wire_vxlan(self.vx)

    def script(self, host: str) -> str:
        return vxlan_script(self.vx)

    def outcome(self, output: str) -> bool:
        return batch.outcome(self.vx.view[0], output)


@dataclass(frozen=True)
class RemoveEnd:
    """Remove one host's end of a VXLAN link; False when it was not there."""

    vx: VxlanEnd

    def netlink(self) -> bool:
        return unwire_vxlan(self.vx)

    def script(self, host: str) -> str:
        return unvxlan_script(self.vx)

    def outcome(self, output: str) -> bool:
        return batch.outcome(self.vx.view[0], output)
