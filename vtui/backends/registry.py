"""Which backends to run: the local host's engines, or the embedded demo."""

from __future__ import annotations

import atexit
import os
import shutil
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, quote, urlencode, urlsplit

from vtui.backends import Backend
from vtui.backends.cgroups import LocalCounters
from vtui.backends.docker import DockerBackend, default_base_url
from vtui.backends.libvirt import LibvirtBackend
from vtui.config.hosts import HostSpec
from vtui.config.settings import Config
from vtui.errors import ConfigError
from vtui.model import LOCAL_HOST

DEMO_HOST = "demo"
DEFAULT_LIBVIRT_URI = "qemu:///system"


def demo_uri() -> str:
    """libvirt's test driver loaded with the demo inventory shipped in the package."""
    return "test://" + str(files("vtui").joinpath("demo.xml"))


def demo_backends(*, read_only: bool = False) -> list[Backend]:
    return [LibvirtBackend(DEMO_HOST, demo_uri(), read_only=read_only)]


def local_backends(
    config: Config,
    *,
    libvirt_uri: str | None = None,
    docker_url: str | None = None,
    libvirt: bool = True,
    docker: bool = True,
    read_only: bool = False,
) -> list[Backend]:
    """The local host's engines; arguments override the config, which overrides the environment."""
    backends: list[Backend] = []
    if libvirt and config.libvirt_enabled:
        uri = libvirt_uri or config.libvirt_uri or os.environ.get("LIBVIRT_DEFAULT_URI") or DEFAULT_LIBVIRT_URI
        backends.append(LibvirtBackend(LOCAL_HOST, uri, read_only=read_only))
    if docker and config.docker_enabled:
        url = docker_url or config.docker_url or default_base_url()
        # the local daemon's containers have their cgroup files on this machine
        counters = LocalCounters() if url.startswith("unix://") else None
        backends.append(DockerBackend(LOCAL_HOST, url, counters, read_only=read_only))
    return backends



def remote_backends(hosts: Sequence[HostSpec], *, read_only: bool = False) -> list[Backend]:
    """The engines of remote hosts, each host reached over one SSH connection of its own."""
    if not hosts:
        return []
    from vtui.backends.remote_counters import RemoteCounters
    from vtui.transport.ssh import SshLink, runtime_dir  # asyncssh only when there is a remote host

    sockets = runtime_dir()
    atexit.register(shutil.rmtree, sockets, ignore_errors=True)
    backends: list[Backend] = []
    for spec in hosts:
        link = SshLink(spec.name, spec.target, sockets)
        if spec.libvirt:
            forward = link.forward("libvirtd", libvirt_socket(spec.libvirt))
            backends.append(LibvirtBackend(spec.name, libvirt_uri_via(spec.libvirt, forward.local),
                                           read_only=read_only, transport=forward))
        if spec.docker:
            forward = link.forward("dockerd", spec.docker)
            backends.append(DockerBackend(spec.name, f"unix://{forward.local}", RemoteCounters(link.run),
                                          read_only=read_only, transport=forward))
    return backends


LIBVIRT_SOCKET = "/var/run/libvirt/libvirt-sock"


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
