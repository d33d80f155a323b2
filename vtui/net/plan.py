"""Links as the kernel objects that make them, named and marked so vtui can find them again.

A link's plan is plain data; an executor (vtui.net.executor) carries it out: vtui.net.local with
netlink (pyroute2) on this machine, a sh script of `ip` commands (vtui.net.batch) over a host's SSH
connection. Every interface vtui makes
carries the alias `vtui:<link id>:<side>` and the interface group GROUP, by which it is found,
re-made after a node restarts, and removed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from ipaddress import ip_interface

from vtui.errors import LinkError

GROUP = 0x7674  # "vt": the interface group of every vtui interface
IFNAME_MAX = 15  # bytes: the kernel's IFNAMSIZ less its NUL
DEFAULT_MTU = 1500
SIDES = ("a", "b")  # a link's two ends
HERE = 0  # an End's pid for the namespace of the host itself (of the process carrying the plan out)
_IFNAME = re.compile(r"^[A-Za-z0-9_.@:+-]+$")




@dataclass(frozen=True)
class End:
    """One end of a link: an interface name in the network namespace of a process (a container's
    first process; 1 for the host itself). `where` names it for people: "container 'web' on local"."""

    pid: int
    ifname: str
    where: str
    addresses: tuple[str, ...] = ()  # checked interface addresses ("10.0.0.1/30"), set once it is made
    named: str = ""  # a namespace vtui made (`ip netns` name, e.g. a segment's): then pid is not used

    @property
    def netns(self) -> str:
        if self.named:
            return f"/run/netns/{self.named}"
        return "/proc/self/ns/net" if self.pid == HERE else f"/proc/{self.pid}/ns/net"

    def __str__(self) -> str:
        return f"{self.ifname} of {self.where}"


@dataclass(frozen=True)
class Veth:
    """A veth pair with one end in each namespace, both up, under their final names."""

    id: str  # the link's id: 8 hex digits
    a: End
    b: End
    mtu: int = DEFAULT_MTU

    def alias(self, side: str) -> str:
        return f"vtui:{self.id}:{side}"

    def mac(self, side: str) -> str:
        """The end's MAC address, the same each time the link is made: a peer's neighbour cache
        stays right when the link is wired again after a restart (locally administered, unicast)."""
        digest = hashlib.sha1(self.alias(side).encode()).digest()
        return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def check_ifname(name: str, where: str) -> None:
    """LinkError with a sentence for a name the kernel would refuse or a shell would mangle."""
    if not name or len(name.encode()) > IFNAME_MAX:
        raise LinkError(f"{name!r} on {where}: an interface name has 1 to {IFNAME_MAX} characters")
    if name in (".", "..") or not _IFNAME.match(name):
        raise LinkError(f"{name!r} on {where}: an interface name has letters, digits and . _ - @ : + only")


def check_end(end: End) -> None:
    """LinkError unless the end's name and addresses are ones the kernel takes as they are."""
    check_ifname(end.ifname, end.where)
    for address in end.addresses:
        if check_address(address) != address:
            raise LinkError(f"address {address!r} of {end}: write it as {check_address(address)}")


def check_address(address: str) -> str:
    """An interface address with its prefix ("10.0.0.1/30"), or LinkError naming it."""
    if "/" not in address:
        raise LinkError(f"address {address!r}: give it with its prefix length, e.g. {address}/24")
    try:
        return str(ip_interface(address))
    except ValueError as err:
        raise LinkError(f"address {address!r}: {err}") from err


def check_mtu(mtu: int) -> None:
    if not 68 <= mtu <= 65535:
        raise LinkError(f"MTU {mtu}: it must lie between 68 and 65535")


@dataclass(frozen=True)
class Impairment:
    """What one end sends is held to this (its egress): a rate by tbf; delay, jitter, loss and
    corruption by netem, which some kernels lack (vtui says so and sets the rest)."""

    rate_kbit: int | None = None
    delay_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None
    corrupt_pct: float | None = None

    @property
    def netem(self) -> bool:
        return any(v is not None for v in (self.delay_ms, self.jitter_ms, self.loss_pct, self.corrupt_pct))

    @property
    def none(self) -> bool:
        return self.rate_kbit is None and not self.netem

    def words(self) -> str:
        """In the words parse_impairment reads: "10000kbit 50ms jitter 5ms loss 1%", or "off"."""
        words = [f"{self.rate_kbit}kbit" if self.rate_kbit else "", f"{self.delay_ms:g}ms" if self.delay_ms else "",
                 f"jitter {self.jitter_ms:g}ms" if self.jitter_ms else "",
                 f"loss {self.loss_pct:g}%" if self.loss_pct else "",
                 f"corrupt {self.corrupt_pct:g}%" if self.corrupt_pct else ""]
        return " ".join(w for w in words if w) or "off"

    def tbf_burst(self) -> int:
        """Bytes of burst: 10 ms at the rate, at least a 9000-byte frame and then some."""
        return max(16 * 1024, (self.rate_kbit or 0) * 1000 // 8 // 100)


NO_NETEM = ("this kernel has no sch_netem (the netem qdisc module): delay, jitter, loss and corruption cannot "
            "be set here; a rate can (tbf)")


@dataclass(frozen=True)
class EndStatus:
    """One end as the kernel has it now: `present` when the interface with this link's alias is there."""

    present: bool
    up: bool = False  # administratively
    carrier: bool = False
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    tx_packets: int = 0
    drops: int = 0  # received and sent
    qdisc: str = ""  # the root qdisc's kind where vtui set one ("tbf", "netem")


ABSENT = EndStatus(present=False)


def next_free(names: set[str], prefix: str = "eth") -> str:
    """The first PREFIX<n> (n from 1) not among `names`: eth0 is a container's own."""
    n = 1
    while f"{prefix}{n}" in names:
        n += 1
    return f"{prefix}{n}"



_UNITS = {"kbit": ("rate", 1.0), "mbit": ("rate", 1000.0), "gbit": ("rate", 1e6),
          "ms": ("delay", 1.0), "s": ("delay", 1000.0), "us": ("delay", 0.001), "%": ("percent", 1.0)}
_WORD = re.compile(r"([0-9]*\.?[0-9]+)(kbit|mbit|gbit|ms|us|s|%)")


def parse_impairment(text: str) -> tuple[tuple[str, ...] | None, Impairment]:
    """What a person types for an impairment, e.g. "a 10mbit 50ms jitter 5ms loss 1% corrupt 0.1%",
    "20ms", "off": (the ends named first, if any: a, b or both; the impairment). LinkError otherwise."""
    words = text.lower().replace("±", "jitter ").split()
    sides: tuple[str, ...] | None = None
    if words and words[0] in ("a", "b", "both"):
        sides = ("a", "b") if words[0] == "both" else (words[0],)
        words = words[1:]
    if words in (["off"], ["clear"], ["none"]):
        return sides, Impairment()
    values: dict[str, float] = {}
    label = ""
    for word in words:
        if word in ("jitter", "loss", "corrupt", "delay", "rate"):
            label = word
            continue
        found = _WORD.fullmatch(word)
        if not found:
            raise LinkError(f"{word!r}: write a rate (10mbit), a delay (50ms), jitter 5ms, loss 1%, corrupt 0.1%, "
                            "or off")
        kind, factor = _UNITS[found.group(2)]
        key = label if label in ("jitter", "loss", "corrupt") else kind
        if key in ("loss", "corrupt") and kind != "percent":
            raise LinkError(f"{word!r}: {key} is a percentage, e.g. {key} 1%")
        if key == "percent":
            raise LinkError(f"{word!r}: a percentage needs its name before it: loss 1%, corrupt 0.1%")
        if key in values:
            raise LinkError(f"{word!r}: {key} is given twice")
        values[key] = float(found.group(1)) * factor
        label = ""
    if not values:
        raise LinkError("say what to impair: a rate (10mbit), a delay (50ms), jitter, loss, corrupt, or off")
    rate = values.get("rate")
    return sides, Impairment(rate_kbit=round(rate) if rate is not None else None, delay_ms=values.get("delay"),
                             jitter_ms=values.get("jitter"), loss_pct=values.get("loss"),
                             corrupt_pct=values.get("corrupt"))
