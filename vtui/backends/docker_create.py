"""A container made from a NodeSpec, or the one of its name that was made for it already."""

from __future__ import annotations

import shlex

import docker
import docker.errors

from vtui.backends.base import NodeSpec
from vtui.backends.docker_nodes import inspected_node
from vtui.errors import Refused
from vtui.model import Node


def make_container(api: docker.APIClient, host: str, spec: NodeSpec) -> Node:
    """Create and start the container of `spec` on `host`; the container of that name when it carries the
    spec's labels (started if it was not running). Refused when the name is another container's or the
    image is not there; raises docker's and requests' errors."""
    try:
        info = api.inspect_container(spec.name)
    except docker.errors.NotFound:
        info = None
    if info is not None:
        theirs = (info.get("Config") or {}).get("Labels") or {}
        if any(theirs.get(k) != v for k, v in spec.labels.items()):
            raise Refused(f"a container named {spec.name!r} exists on {host} and was not made "
                          f"for this: remove or rename it, or name the lab otherwise")
        if not (info.get("State") or {}).get("Running"):
            api.start(info["Id"])
        return inspected_node(host, api.inspect_container(info["Id"]))
    try:
        api.inspect_image(spec.image)  # type: ignore[no-untyped-call]
    except docker.errors.ImageNotFound:
        raise Refused(f"the image {spec.image!r} is not on {host}: pull or build it there "
                      "(vtui does not pull images)") from None
    created = api.create_container(
        spec.image, command=shlex.split(spec.cmd) if spec.cmd else None, name=spec.name,
        entrypoint=shlex.split(spec.entrypoint) if spec.entrypoint else None, user=spec.user or None,
        environment=dict(spec.env), labels=dict(spec.labels), hostname=spec.name[:63],
        host_config=api.create_host_config(binds=list(spec.binds) or None, cap_add=list(spec.cap_add) or None,
                                           privileged=spec.privileged, sysctls=dict(spec.sysctls) or None))
    api.start(created["Id"])
    return inspected_node(host, api.inspect_container(created["Id"]))
