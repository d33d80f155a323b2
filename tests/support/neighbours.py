"""A crowded machine: a user's own VMs, containers and networks beside the test bed, for checking
that a test run touches none of them.

    .venv/bin/python -m tests.support.neighbours up [--containers 100]   make them (as a user would: no test labels)
    .venv/bin/python -m tests.support.neighbours save FILE                record what they are now
    .venv/bin/python -m tests.support.neighbours check FILE               exit 1 naming each one that changed
    .venv/bin/python -m tests.support.neighbours down                     remove them

The VMs and containers take the names the tests use (the test bed's former VM name, the odd names
of the shell-metacharacter tests, a container named like a VM), some running and some not, and
`--containers` more containers run `sleep` as a busy host's would. Everything made here carries the
label or metadata `vtui.neighbour`, which `down` goes by; a test run must never see that mark as its own.
Root only; needs the test bed up (scripts/testbed.sh up).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import docker.errors
import libvirt

TEMPLATE = Path("/var/lib/vtui-testbed/vm.xml")
IMAGE = "vtui-test/busybox:latest"
USER_IMAGE = "neighbour/busybox:1"  # the user's own tag for it
MARK = "vtui.neighbour"
MARK_NS = "https://vtui.dev/xmlns/neighbour"
URI = "qemu:///system"
# (name, running): names the test suite uses or used
VMS = [("vtui-test-vm", False), ("it's a $(vm)", True), ("evil;touch pwned", False), ("with space & `tick`", True),
       ("it's a $(vm) too", False)]
CONTAINERS = [("vtui-test-vm", True), ("it-s-a-vm", False), ("web", True)]
NETWORKS = ["vtui-t-net", "lab"]


def _vm_xml(name: str) -> str:
    tree = ET.fromstring(TEMPLATE.read_text())
    tree.find("name").text = name  # type: ignore[union-attr]
    metadata = ET.SubElement(tree, "metadata")
    ET.SubElement(metadata, f"{{{MARK_NS}}}user")
    return ET.tostring(tree, encoding="unicode")


def up(containers: int) -> None:
    conn = libvirt.open(URI)
    for name, running in VMS:
        dom = conn.defineXML(_vm_xml(name))
        if running:
            dom.create()
    client = docker.from_env()
    client.images.get(IMAGE).tag(USER_IMAGE)
    for network in NETWORKS:
        client.networks.create(network, labels={MARK: "1"})
    named = [(name, running, ["sleep", "86400"]) for name, running in CONTAINERS]
    crowd = [(f"svc-{i:03d}", True, ["sleep", "86400"]) for i in range(containers)]

    def make(spec: tuple[str, bool, list[str]]) -> None:
        name, running, command = spec
        made = client.containers.create(USER_IMAGE, command, name=name, labels={MARK: "1"})
        if running:
            made.start()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, named + crowd))
    print(f"neighbours: {len(VMS)} VMs, {len(named) + len(crowd)} containers, {len(NETWORKS)} networks")


def state() -> dict[str, Any]:
    """Every neighbour's state and definition."""
    conn = libvirt.open(URI)
    vms = {}
    for dom in conn.listAllDomains():
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        if MARK_NS in xml:
            vms[dom.name()] = {"state": dom.state(), "xml": xml, "uuid": dom.UUIDString(),
                               "snapshots": sorted(dom.snapshotListNames())}
    client = docker.from_env()
    boxes = {}
    for box in client.containers.list(all=True, filters={"label": MARK}):
        attrs = box.attrs
        boxes[box.name] = {"id": box.id, "status": attrs["State"]["Status"], "started": attrs["State"]["StartedAt"],
                           "restarts": attrs["RestartCount"], "config": attrs["Config"],
                           "networks": sorted(attrs["NetworkSettings"]["Networks"])}
    networks = {n.name: {"id": n.id, "driver": n.attrs["Driver"], "ipam": n.attrs["IPAM"]}
                for n in client.networks.list(filters={"label": MARK})}
    image = client.images.get(USER_IMAGE).id
    return {"vms": vms, "containers": boxes, "networks": networks, "image": image}


def check(before: dict[str, Any]) -> list[str]:
    after = state()
    changed = []
    for kind in ("vms", "containers", "networks"):
        for name in sorted(set(before[kind]) | set(after[kind])):
            was, now = before[kind].get(name), after[kind].get(name)
            if was != now:
                what = "gone" if now is None else "new" if was is None else ", ".join(
                    k for k in was if was[k] != now.get(k))
                changed.append(f"{kind[:-1]} {name!r}: {what}")
    if before["image"] != after["image"]:
        changed.append(f"image {USER_IMAGE}: {before['image']} -> {after['image']}")
    return changed


def down() -> None:
    conn = libvirt.open(URI)
    for dom in conn.listAllDomains():
        if MARK_NS in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE):
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    client = docker.from_env()
    boxes = client.containers.list(all=True, filters={"label": MARK})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda box: box.remove(force=True), boxes))
    for network in client.networks.list(filters={"label": MARK}):
        network.remove()
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(USER_IMAGE)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.neighbours", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("up").add_argument("--containers", type=int, default=100)
    sub.add_parser("save").add_argument("file", type=Path)
    sub.add_parser("check").add_argument("file", type=Path)
    sub.add_parser("down")
    args = parser.parse_args()
    if args.verb == "up":
        up(args.containers)
    elif args.verb == "save":
        args.file.write_text(json.dumps(state(), indent=1, sort_keys=True))
    elif args.verb == "check":
        changed = check(json.loads(args.file.read_text()))
        for line in changed:
            print(f"neighbours: changed: {line}", file=sys.stderr)
        if changed:
            return 1
        print("neighbours: every VM, container, network and image is as it was")
    else:
        down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
