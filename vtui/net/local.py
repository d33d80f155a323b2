"""Wiring on this machine with netlink (pyroute2): each call is blocking (run it in a thread) and
either completes or leaves nothing behind."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from vtui.errors import LinkError
from vtui.net.netns import NamespaceGone, iproute_in
from vtui.net.plan import ABSENT, GROUP, NO_NETEM, End, EndStatus, Impairment, Veth, check_end, check_mtu


@contextlib.contextmanager
def _netns(end: End) -> Iterator[IPRoute]:
    """A netlink socket inside the end's namespace (the namespace is entered, never created)."""
    try:
        with iproute_in(end.netns) as ipr:
            yield ipr
    except NamespaceGone as err:
        raise LinkError(f"{end.where} is not running (no network namespace at {end.netns})") from err


@contextlib.contextmanager
def _fd(end: End) -> Iterator[int]:
    try:
        fd = os.open(end.netns, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise LinkError(f"{end.where} is not running (no network namespace at {end.netns})") from err
    try:
        yield fd
    finally:
        os.close(fd)


TC_H_ROOT = 0xFFFFFFFF


def _why(err: NetlinkError | OSError) -> str:
    return os.strerror(err.code if isinstance(err, NetlinkError) else err.errno or 0)


def _index(ipr: IPRoute, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return int(found[0]) if found else None


def _alias(ipr: IPRoute, index: int) -> str | None:
    link = ipr.get_links(index)[0]
    alias = link.get("ifalias")
    return str(alias) if alias is not None else None


class Sockets:
    """Netlink sockets (and namespace descriptors) by namespace, each made once: wiring many links
    reuses them instead of making ~5 per link. Close it when done (a `with` block)."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._sockets: dict[str, IPRoute] = {}
        self._fds: dict[str, int] = {}
        self._root: IPRoute | None = None

    def __enter__(self) -> Sockets:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def of(self, end: End) -> IPRoute:
        if end.netns not in self._sockets:
            self._sockets[end.netns] = self._stack.enter_context(_netns(end))
        return self._sockets[end.netns]

    def fd(self, end: End) -> int:
        if end.netns not in self._fds:
            self._fds[end.netns] = self._stack.enter_context(_fd(end))
        return self._fds[end.netns]

    def root(self) -> IPRoute:
        if self._root is None:
            self._root = self._stack.enter_context(IPRoute())
        return self._root


def wire_veth(veth: Veth, sockets: Sockets | None = None) -> bool:
    """Make the pair (False when it is already there, as planned). Both ends are created at once
    under their final names inside the two namespaces; anything that fails after that removes them."""
    if sockets is None:
        with Sockets() as own:
            return wire_veth(veth, own)
    for end in (veth.a, veth.b):
        check_end(end)
    check_mtu(veth.mtu)
    if veth.a.netns == veth.b.netns and veth.a.ifname == veth.b.ifname:
        raise LinkError(f"{veth.a}: both ends of a link cannot have one name in one namespace")
    present = 0
    for end, side in ((veth.a, "a"), (veth.b, "b")):
        ipr = sockets.of(end)
        index = _index(ipr, end.ifname)
        if index is None:
            continue
        if _alias(ipr, index) != veth.alias(side):
            raise LinkError(f"{end}: that name is taken (by an interface vtui did not make for this link)")
        present += 1
    if present == 2:
        return False
    if present == 1:  # a namespace was replaced under one end: start afresh
        unwire_veth(veth)
    try:
        sockets.root().link("add", ifname=veth.a.ifname, kind="veth", net_ns_fd=sockets.fd(veth.a), mtu=veth.mtu,
                            address=veth.mac("a"), peer={"ifname": veth.b.ifname, "net_ns_fd": sockets.fd(veth.b),
                                                         "mtu": veth.mtu, "address": veth.mac("b")})
    except NetlinkError as err:
        raise LinkError(f"cannot create the pair {veth.a} — {veth.b}: {os.strerror(err.code)}") from err
    try:
        for end, side in ((veth.a, "a"), (veth.b, "b")):
            ipr = sockets.of(end)
            index = _index(ipr, end.ifname)
            if index is None:
                raise LinkError(f"{end}: vanished right after it was made")
            ipr.link("set", index=index, ifalias=veth.alias(side), group=GROUP, state="up")
            for address in end.addresses:
                ip, _, prefix = address.partition("/")
                ipr.addr("add", index=index, address=ip, prefixlen=int(prefix))
    except LinkError:
        unwire_veth(veth)
        raise
    except (NetlinkError, OSError) as err:
        unwire_veth(veth)
        raise LinkError(f"cannot set up {veth.a} — {veth.b}: {_why(err)}") from err
    return True


def wire_many(veths: Sequence[Veth]) -> list[bool | LinkError]:
    """wire_veth for each link, with one socket per namespace for all of them."""
    results: list[bool | LinkError] = []
    with Sockets() as sockets:
        for veth in veths:
            try:
                results.append(wire_veth(veth, sockets))
            except LinkError as err:
                results.append(err)
    return results


def unwire_veth(veth: Veth) -> bool:
    """Remove the pair (deleting one end deletes both); False when neither end was there. Only
    an interface carrying this link's alias is removed."""
    removed = False
    for end, side in ((veth.a, "a"), (veth.b, "b")):
        with contextlib.suppress(LinkError), _netns(end) as ipr:
            index = _index(ipr, end.ifname)
            if index is not None and _alias(ipr, index) == veth.alias(side):
                with contextlib.suppress(NetlinkError):  # gone with its peer meanwhile
                    ipr.link("del", index=index)
                    removed = True
    return removed


@contextlib.contextmanager
def _wired_end(veth: Veth, side: str) -> Iterator[tuple[IPRoute, int, End]]:
    """A socket in one end's namespace and the end's index; LinkError when the link is not wired."""
    end = veth.a if side == "a" else veth.b
    with _netns(end) as ipr:
        index = _index(ipr, end.ifname)
        if index is None or _alias(ipr, index) != veth.alias(side):
            raise LinkError(f"{end}: the link is not wired (wire it first)")
        yield ipr, index, end


def set_admin(veth: Veth, side: str, up: bool) -> None:
    """Take one end down (its peer loses carrier) or up again."""
    with _wired_end(veth, side) as (ipr, index, _end):
        ipr.link("set", index=index, state="up" if up else "down")


def impair(veth: Veth, side: str, impairment: Impairment) -> None:
    """Hold what one end sends to `impairment` (replacing what was set); Impairment() clears it."""
    with _wired_end(veth, side) as (ipr, index, end):
        try:
            # a qdisc of another kind cannot be replaced: the root goes first, whatever it is (libvirt
            # gives its taps noqueue); a default one (handle 0) cannot be removed and needs not be
            for root in ipr.get_qdiscs(index):
                if root.get("parent") == TC_H_ROOT and root.get("handle"):
                    ipr.tc("del", index=index, handle=root.get("handle"), root=True)
            if impairment.none:
                return
            if impairment.netem:
                ipr.tc("add", "netem", index, handle="1:", root=True,
                       delay=int((impairment.delay_ms or 0) * 1000), jitter=int((impairment.jitter_ms or 0) * 1000),
                       loss=impairment.loss_pct or 0, prob_corrupt=impairment.corrupt_pct or 0,
                       **({"rate": f"{impairment.rate_kbit}kbit"} if impairment.rate_kbit else {}))
            else:
                ipr.tc("add", "tbf", index, handle="1:", root=True, rate=f"{impairment.rate_kbit}kbit",
                       burst=impairment.tbf_burst(), latency="50ms")
        except NetlinkError as err:
            # no sch_netem: ENOENT, or ERANGE when the request carries a rate (seen on this kernel)
            if impairment.netem and err.code in (errno.ENOENT, errno.ERANGE):
                raise LinkError(f"{end}: {NO_NETEM}") from err
            raise LinkError(f"{end}: cannot set the impairment: {os.strerror(err.code)}") from err



def interfaces(pid: int, where: str) -> set[str]:
    """The names of the interfaces in the namespace of process `pid`."""
    with _netns(End(pid, "", where)) as ipr:
        return {str(link.get("ifname")) for link in ipr.get_links()}


def status(veth: Veth) -> dict[str, EndStatus]:
    """Each end as the kernel has it (ABSENT where it is not there, or not as this link's)."""
    return status_many([veth])[0]


def status_many(veths: Sequence[Veth]) -> list[dict[str, EndStatus]]:
    """status() of each link, every namespace read once: its interfaces and root qdiscs in one dump
    each, however many of the links' ends it holds (a screen of 100 links reads 50 namespaces, not
    600 interfaces one by one)."""
    read: dict[str, tuple[dict[str, Any], dict[int, str]] | None] = {}

    def namespace(end: End) -> tuple[dict[str, Any], dict[int, str]] | None:
        if end.netns not in read:
            read[end.netns] = None
            with contextlib.suppress(LinkError), _netns(end) as ipr:
                links = {link.get("ifname"): link for link in ipr.get_links()}
                roots = {q["index"]: str(q.get("kind")) for q in ipr.get_qdiscs() if q.get("parent") == TC_H_ROOT}
                read[end.netns] = links, roots
        return read[end.netns]

    found: list[dict[str, EndStatus]] = []
    for veth in veths:
        ends = {}
        for side, end in (("a", veth.a), ("b", veth.b)):
            ends[side] = ABSENT
            inside = namespace(end)
            link = inside[0].get(end.ifname) if inside else None
            if inside is None or link is None or link.get("ifalias") != veth.alias(side):
                continue
            stats, qdisc = link.get("stats64"), inside[1].get(link["index"], "")
            ends[side] = EndStatus(
                present=True, up=bool(link["flags"] & 1), carrier=bool(link.get("carrier")),
                rx_bytes=stats.get("rx_bytes"), tx_bytes=stats.get("tx_bytes"), rx_packets=stats.get("rx_packets"),
                tx_packets=stats.get("tx_packets"), drops=stats.get("rx_dropped") + stats.get("tx_dropped"),
                qdisc=qdisc if qdisc in ("tbf", "netem") else "")
        found.append(ends)
    return found


def route_source(remote: str) -> str | None:
    """This host's address toward `remote` (as `ip route get` says); None without a route."""
    with IPRoute() as ipr:
        try:
            route = ipr.route("get", dst=remote)[0]
        except NetlinkError:
            return None
        if route.get("type") != 1:  # RTN_UNICAST: not an address of this host's own, not unreachable
            return None
        source = route.get("prefsrc")
        return str(source) if source else None


def global_addresses() -> list[str]:
    """This host's IPv4 addresses of global scope."""
    with IPRoute() as ipr:
        return [str(a.get("address")) for a in ipr.get_addr(family=2) if a["scope"] == 0]


def doomed_group() -> int:
    """An interface group for one removal of many links (vtui's GROUP with random low bits)."""
    return (GROUP << 16) | secrets.randbelow(0xFFFF) + 1


def unwire_many(veths: Sequence[Veth]) -> list[bool | LinkError]:
    """unwire_veth for many links at once: one end of each (its peer goes with it) joins a doomed
    interface group, then each namespace deletes the group in one call. The kernel settles once per
    namespace, not ~20 ms per link. Each link's result: whether it was there."""
    group = doomed_group()
    results: list[bool | LinkError] = []
    with contextlib.ExitStack() as stack:
        sockets: dict[str, IPRoute] = {}

        def socket(end: End) -> IPRoute:
            if end.netns not in sockets:
                sockets[end.netns] = stack.enter_context(_netns(end))
            return sockets[end.netns]

        for veth in veths:
            doomed = False
            for end, side in ((veth.a, "a"), (veth.b, "b")):
                with contextlib.suppress(LinkError):  # that namespace is gone: try the other end
                    ipr = socket(end)
                    index = _index(ipr, end.ifname)
                    if index is not None and _alias(ipr, index) == veth.alias(side):
                        ipr.link("set", index=index, group=group)
                        doomed = True
                        break
            results.append(doomed)
        for ipr in sockets.values():
            with contextlib.suppress(NetlinkError):  # no link of ours there after all
                ipr.link("del", group=group)
    return results
