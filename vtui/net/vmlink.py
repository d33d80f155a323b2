"""A VM's end of a link: a persistent tap vtui owns in the host's namespace, which the VM gets as a
NIC (`<interface type='ethernet'>`, `managed='no'`), joined to the other end by a tc stitch: what
comes in on one device is sent out of the other (u32 match-all, mirred redirect), in the kernel.

The other end is a container (a veth whose host end `vt<id>c` is stitched to the tap) or another
VM (two taps stitched). The tap outlives the VM's restarts (QEMU opens it again); a container's
restart takes its veth, and wiring again makes the veth and the stitch anew (a stitch to a device
that is gone would blackhole, containerlab #3379).

MakeVmLink and RemoveVmLink are those steps as the operations an executor runs (vtui.net.executor.Op):
by netlink on this machine only, for now; on a remote host they say they are not built yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyroute2 import IPRoute

import contextlib
import os
from dataclasses import dataclass

from vtui.errors import LinkError
from vtui.net.netns import tx_checksum_off
from vtui.net.plan import GROUP, HERE, End, Veth, check_end, check_mtu

ETH_P_ALL = 0x0003
INGRESS = "ffff:"


@dataclass(frozen=True)
class VmLink:
    """`a` is a container's end (its pid and interface) or a VM's tap; `b` is a VM's tap."""

    id: str
    a: End
    b: End
    mtu: int
    a_is_vm: bool = False

    @staticmethod
    def tap(link_id: str, side: str, where: str) -> End:
        return End(HERE, f"vt{link_id}{side}", where)

    @property
    def host_end(self) -> End:
        """The host's end of the container's veth (stitched to the tap)."""
        return End(HERE, f"vt{self.id}c", f"the host's end of link {self.id}")

    @property
    def veth(self) -> Veth:
        """The end-to-end view (status, admin, impairments): a's interface and b's tap."""
        return Veth(self.id, self.a, self.b, self.mtu)

    def stitched(self) -> tuple[End, End]:
        return (self.a, self.b) if self.a_is_vm else (self.host_end, self.b)

    def sender(self, side: str) -> End:
        """The device whose egress carries what `side`'s node sends (where its impairment goes)."""
        if side == "a":
            return self.b if self.a_is_vm else self.a
        return self.a if self.a_is_vm else self.host_end


def _alias(link_id: str, side: str) -> str:
    return f"vtui:{link_id}:{side}"


def _make_tap(ipr: IPRoute, end: End, alias: str, mtu: int) -> bool:
    found = ipr.link_lookup(ifname=end.ifname)
    if found:
        if ipr.get_links(found[0])[0].get("ifalias") != alias:
            raise LinkError(f"{end.ifname} on this host: that name is taken (by an interface vtui did not make)")
        return False
    ipr.link("add", ifname=end.ifname, kind="tuntap", mode="tap")
    index = ipr.link_lookup(ifname=end.ifname)[0]
    ipr.link("set", index=index, ifalias=alias, group=GROUP, mtu=mtu, state="up")
    return True


def _stitch(ipr: IPRoute, one: str, other: str) -> None:
    """What comes in on `one` goes out of `other`, and back; any older stitch on them is replaced."""
    from pyroute2.netlink.exceptions import NetlinkError
    first, second = ipr.link_lookup(ifname=one)[0], ipr.link_lookup(ifname=other)[0]
    for source, target in ((first, second), (second, first)):
        with contextlib.suppress(NetlinkError):  # none yet
            ipr.tc("del", "ingress", source, INGRESS)
        ipr.tc("add", "ingress", source, INGRESS)
        ipr.tc("add-filter", "u32", source, parent=INGRESS, protocol=ETH_P_ALL, prio=1, keys=["0x0/0x0+0"],
               target=0x10000, action={"kind": "mirred", "direction": "egress", "action": "redirect",
                                       "ifindex": target})


def wire_vm_link(link: VmLink) -> bool:
    """Make the taps, the container's veth and the stitch (anew each time: a restarted container's
    veth has a new index); False when every device was there. A failure removes what this made."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    from vtui.net import local
    check_mtu(link.mtu)
    if not link.a_is_vm:
        check_end(link.a)
    made = False
    try:
        with IPRoute() as ipr:
            taps = [(link.a, "a")] if link.a_is_vm else []
            for end, side in [*taps, (link.b, "b")]:
                made = _make_tap(ipr, end, _alias(link.id, side), link.mtu) or made
        if not link.a_is_vm:
            made = local.wire_veth(Veth(link.id, link.a, link.host_end, link.mtu)) or made
            tx_checksum_off(link.a.netns, link.a.ifname)  # the guest's NIC checks what the container sends
        with IPRoute() as ipr:
            _stitch(ipr, *(end.ifname for end in link.stitched()))
    except (NetlinkError, OSError) as err:
        unwire_vm_link(link)
        why = os.strerror(err.code if isinstance(err, NetlinkError) else err.errno or 0)
        raise LinkError(f"cannot wire link {link.id} ({link.a} — {link.b}): {why}") from err
    except LinkError:
        if made:
            unwire_vm_link(link)
        raise
    return made


def unwire_vm_link(link: VmLink) -> bool:
    """Remove the taps and the container's veth (only devices with this link's alias)."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
    removed = False
    with IPRoute() as ipr:
        mine = [(link.b, "b"), (link.a, "a")] if link.a_is_vm else [(link.b, "b"), (link.host_end, "b")]
        for end, side in mine:
            found = ipr.link_lookup(ifname=end.ifname)
            if found and ipr.get_links(found[0])[0].get("ifalias") == _alias(link.id, side):
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", index=found[0])
                    removed = True
    return removed


def _not_remote(host: str) -> LinkError:
    return LinkError(f"links to VMs on remote hosts are not built yet ({host}): VM links work on this host")


@dataclass(frozen=True)
class MakeVmLink:
    """Make the taps, the container's veth and the stitch; False when every device was there."""

    link: VmLink

    def netlink(self) -> bool:
        return wire_vm_link(self.link)

    def script(self, host: str) -> str:
        raise _not_remote(host)

    def outcome(self, output: str) -> bool:
        raise LinkError(f"link {self.link.id}: no script was run for it")


@dataclass(frozen=True)
class RemoveVmLink:
    """Remove the taps and the container's veth; False when none was there."""

    link: VmLink

    def netlink(self) -> bool:
        return unwire_vm_link(self.link)

    def script(self, host: str) -> str:
        raise _not_remote(host)

    def outcome(self, output: str) -> bool:
        raise LinkError(f"link {self.link.id}: no script was run for it")
