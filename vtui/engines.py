"""Which backends to run: the local host's engines, or the embedded demo."""

from __future__ import annotations

import os
from importlib.resources import files

from vtui.backends import Backend
from vtui.backends.cgroups import CgroupReader
from vtui.backends.docker import DockerBackend, default_base_url
from vtui.backends.libvirt import LibvirtBackend
from vtui.config import Config
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
        counters = CgroupReader() if url.startswith("unix://") else None
        backends.append(DockerBackend(LOCAL_HOST, url, counters, read_only=read_only))
    return backends
