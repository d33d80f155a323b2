"""What a discovery scan looks for and what it reports: the services and their ports (as the user
writes them: `ssh,docker:2375,16509`), the range (as the user writes it), the hosts found and the
summary of a scan. No I/O here; vtui.transport.discovery scans."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_ADDRESSES = 65536  # a /16 of IPv4


@dataclass(frozen=True)
class Service:
    port: int
    name: str  # "ssh" reads a banner, "docker" is asked /_ping; others are only connected to

    @property
    def family(self) -> str:
        return family(self.name)


def family(name: str) -> str:
    """What a service is, whatever its transport: "docker-tls" is docker, "libvirt-tls" libvirt."""
    return name.split("-", 1)[0]


PORTS: tuple[Service, ...] = (
    Service(22, "ssh"),
    Service(16509, "libvirt"),
    Service(16514, "libvirt-tls"),
    Service(2375, "docker"),
    Service(2376, "docker-tls"),
)
COLUMNS = ("ssh", "libvirt", "docker")  # the families a listing of hosts shows a column each


class OpenPort(NamedTuple):
    port: int
    name: str
    banner: str  # the service's own identification; "" when it gave none (or none is asked for)


@dataclass(frozen=True)
class Found:
    """A host that answered on at least one of the ports, in the order the ports were given."""

    address: IPAddress
    services: tuple[OpenPort, ...]

    def port(self, kind: str) -> OpenPort | None:
        """The first open port of a family ("ssh", "libvirt", "docker"), if any."""
        return next((s for s in self.services if family(s.name) == kind), None)


@dataclass(frozen=True)
class Summary:
    """Where a scan stands. Each finished address is counted once, by the best answer it gave:
    answered (a port open) > refused (alive, nothing listening) > unreachable > no answer."""

    network: str
    addresses: int  # usable addresses in the range
    total: int  # connection attempts: addresses x ports
    done: int  # attempts finished
    answered: int
    refused: int
    unreachable: int
    no_answer: int
    failed: int  # addresses whose every attempt failed on this side (e.g. out of file descriptors)
    first_failure: str
    elapsed: float
    complete: bool

    def sentence(self) -> str:
        addresses = f"{self.addresses} address" + ("" if self.addresses == 1 else "es")
        counts = [addresses, f"{self.answered} answered", f"{self.refused} refused"]
        if self.unreachable:
            counts.append(f"{self.unreachable} unreachable")
        counts.append(f"{self.no_answer} no answer")
        if self.failed:
            counts.append(f"{self.failed} not tried ({self.first_failure})")
        text = ", ".join(counts) + f" in {self.elapsed:.2f} s"
        if not self.complete:
            text = f"stopped after {self.done} of {self.total} attempts: " + text
        return f"{self.network}: {text}"


def parse_network(text: str | IPNetwork) -> IPNetwork:
    """A network or a single address (as a /32 or /128); host bits are allowed (10.0.0.7/24 is
    10.0.0.0/24). ValueError names the input, or the range and the limit when it is too large."""
    if isinstance(text, str):
        try:
            network: IPNetwork = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ValueError(
                f"{text!r} is not an address or a network; write it like 192.168.1.0/24 or 192.168.1.7"
            ) from None
    else:
        network = text
    if network.num_addresses > MAX_ADDRESSES:
        raise ValueError(
            f"{network} has {network.num_addresses} addresses; vtui scans at most {MAX_ADDRESSES} "
            f"(an IPv4 /16) at a time, so scan it in smaller parts"
        )
    return network


def parse_ports(text: str) -> tuple[Service, ...]:
    """`ssh,docker,ssh:2222,8080`: a service by name (its usual port), a port (its usual service, or
    plain "tcp"), or SERVICE:PORT for a service on another port."""
    by_name = {s.name: s for s in PORTS}
    by_port = {s.port: s for s in PORTS}
    services: list[Service] = []
    for item in (part.strip() for part in text.split(",")):
        name, _, number = item.rpartition(":")
        if number.isdigit() and 0 < int(number) < 65536 and (name == "" or name.replace("-", "").isalnum()):
            port = int(number)
            service = Service(port, name) if name else by_port.get(port, Service(port, "tcp"))
        elif item in by_name:
            service = by_name[item]
        else:
            known = ", ".join(by_name)
            raise ValueError(
                f"{item!r} in ports {text!r} is not a port (1-65535), a service ({known}) or SERVICE:PORT"
            )
        if any(s.port == service.port for s in services):
            raise ValueError(f"port {service.port} is listed twice in ports {text!r}")
        services.append(service)
    return tuple(services)


def ssh_target(host: Found) -> str | None:
    """How the hosts file names a host that answered on SSH: ADDRESS, or ADDRESS:PORT
    ([ADDRESS]:PORT for IPv6) when SSH is not on 22. None without SSH."""
    ssh = host.port("ssh")
    if ssh is None:
        return None
    if ssh.port == 22:
        return str(host.address)
    return f"[{host.address}]:{ssh.port}" if host.address.version == 6 else f"{host.address}:{ssh.port}"
