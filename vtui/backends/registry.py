"""The engine registry: each engine vtui drives is declared here once — its name (the key of
config.toml's [local], hosts.toml's [[host]], the --NAME/--no-NAME options and Node.engine),
where it listens by default, and how its backend is made on this machine or over a host's SSH
connection. Everything else asks the registry; a new engine is one entry (and its backend module).

A backend module is imported only when a backend of its engine is made: docker-py and
libvirt-python cost start-up time that a session without that engine does not pay.
"""

from __future__ import annotations

import atexit
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, parse_qsl, quote, urlencode, urlsplit

from vtui.errors import ConfigError
from vtui.model import LOCAL_HOST

if TYPE_CHECKING:
    from vtui.backends.base import Backend
    from vtui.transport.ssh import SshLink

DEMO_HOST = "demo"
DEFAULT_LIBVIRT_URI = "qemu:///system"
LIBVIRT_SOCKET = "/var/run/libvirt/libvirt-sock"
DOCKER_SOCKET = "/var/run/docker.sock"


@dataclass(frozen=True)
class Engine:
    name: str
    runs: str  # what its nodes are, for help texts: "VMs"
    address: str  # what --NAME takes, for help texts: "URI"
    default: Callable[[], str]  # its address on this machine when neither an option nor the config names one
    remote_default: str  # its address on a remote host unless hosts.toml names another
    local: Callable[[str, bool], Backend]  # (address, read_only): its backend on this machine
    remote: Callable[[str, str, SshLink, bool], Backend]  # (host, address there, the host's connection, read_only)
    check_remote: Callable[[str], None] = lambda address: None  # ValueError: hosts.toml's address cannot be used


def _libvirt_default() -> str:
    return os.environ.get("LIBVIRT_DEFAULT_URI") or DEFAULT_LIBVIRT_URI


def _libvirt_local(uri: str, read_only: bool) -> Backend:
    from vtui.backends.libvirt import LibvirtBackend

    return LibvirtBackend(LOCAL_HOST, uri, read_only=read_only)


def _libvirt_remote(host: str, uri: str, link: SshLink, read_only: bool) -> Backend:
    from vtui.backends.libvirt import LibvirtBackend

    forward = link.forward("libvirtd", libvirt_socket(uri))
    return LibvirtBackend(host, libvirt_uri_via(uri, forward.local), read_only=read_only, transport=forward)


def _docker_default() -> str:
    return os.environ.get("DOCKER_HOST") or f"unix://{DOCKER_SOCKET}"


def _docker_local(url: str, read_only: bool) -> Backend:
    from vtui.backends.cgroups import LocalCounters
    from vtui.backends.docker import DockerBackend

    # the local daemon's containers have their cgroup files on this machine
    counters = LocalCounters() if url.startswith("unix://") else None
    return DockerBackend(LOCAL_HOST, url, counters, read_only=read_only)


def _docker_remote(host: str, socket: str, link: SshLink, read_only: bool) -> Backend:
    from vtui.backends.docker import DockerBackend
    from vtui.backends.remote_counters import RemoteCounters

    forward = link.forward("dockerd", socket)
    return DockerBackend(host, f"unix://{forward.local}", RemoteCounters(link.run), read_only=read_only,
                         transport=forward)


def _absolute_socket(socket: str) -> None:
    if not socket.startswith("/"):
        raise ValueError(f"{socket!r}: write the docker socket's absolute path on that host")


ENGINES: Mapping[str, Engine] = {e.name: e for e in (
    Engine("libvirt", "VMs", "URI", _libvirt_default, DEFAULT_LIBVIRT_URI, _libvirt_local, _libvirt_remote),
    Engine("docker", "containers", "URL", _docker_default, DOCKER_SOCKET, _docker_local, _docker_remote,
           _absolute_socket),
)}


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ConfigError(f"{name!r} is not an engine vtui knows ({', '.join(ENGINES)})") from None


def demo_uri() -> str:
    """libvirt's test driver loaded with the demo inventory shipped in the package."""
    return "test://" + str(files("vtui").joinpath("demo.xml"))


def demo_backends(*, read_only: bool = False) -> list[Backend]:
    from vtui.backends.libvirt import LibvirtBackend

    return [LibvirtBackend(DEMO_HOST, demo_uri(), read_only=read_only)]


def local_backends(addresses: Mapping[str, str | None], *, read_only: bool = False) -> list[Backend]:
    """This machine's engines: each engine named, at its address (None: its default), in the registry's order."""
    return [e.local(addresses[e.name] or e.default(), read_only) for e in ENGINES.values() if e.name in addresses]


class RemoteHost(Protocol):
    """A remote host as the registry needs it (config.hosts.HostSpec): its name, SSH target, and each
    engine's address there."""

    @property
    def name(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def engines(self) -> Sequence[tuple[str, str]]: ...


def remote_backends(hosts: Sequence[RemoteHost], *, read_only: bool = False,
                    sockets: Path | None = None) -> list[Backend]:
    """The engines of remote hosts, each host reached over one SSH connection of its own."""
    if not hosts:
        return []
    from vtui.transport.ssh import SshLink, runtime_dir  # asyncssh only when there is a remote host

    if sockets is None:
        sockets = runtime_dir()
        atexit.register(shutil.rmtree, sockets, ignore_errors=True)
    backends: list[Backend] = []
    for host in hosts:
        link = SshLink(host.name, host.target, sockets)
        backends += [engine(name).remote(host.name, address, link, read_only) for name, address in host.engines]
    return backends


def libvirt_socket(uri: str) -> str:
    """Where the libvirtd that serves `uri` listens on its host."""
    parts = urlsplit(uri)
    socket = parse_qs(parts.query).get("socket", [""])[0] or (LIBVIRT_SOCKET if parts.path == "/system" else "")
    if not parts.scheme or not socket:
        raise ConfigError(f"libvirt = {uri!r}: vtui reaches a host's libvirtd by its socket; use a URI such as "
                          "qemu:///system, or name the socket (qemu:///session?socket=/run/user/1000/libvirt/"
                          "libvirt-sock)")
    return socket


def libvirt_uri_via(uri: str, local_socket: Path) -> str:
    """`uri` opened through a local socket that leads to its host's libvirtd."""
    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "socket"] + [("socket", str(local_socket))]
    return f"{parts.scheme.partition('+')[0]}+unix://{parts.path}?{urlencode(query, safe='/', quote_via=quote)}"
