"""A VM's kept states: managed save images (save, restore) and snapshots (create, revert, delete, list)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import libvirt

from vtui.actions import Options
from vtui.backends.libvirt_states import state_word
from vtui.backends.libvirt_storage import disks
from vtui.errors import Refused
from vtui.model import Node, SnapshotInfo


def snapshot_list(dom: libvirt.virDomain) -> list[SnapshotInfo]:
    """The VM's snapshots, oldest first. Raises libvirt.libvirtError."""
    return sorted((_snapshot_info(s) for s in dom.listAllSnapshots(0)), key=lambda i: (i.created, i.name))


def _save(dom: libvirt.virDomain, node: Node, options: Options) -> str:
    dom.managedSave(0)
    return "its memory is in a managed save image; start or restore resumes it"


def _restore(dom: libvirt.virDomain, node: Node, options: Options) -> str:
    if not dom.hasManagedSaveImage(0):
        raise Refused(f"restore {node.name!r}: it has no managed save image "
                      "(saving it makes one; starting boots it afresh)")
    dom.create()  # a managed save image is resumed, not booted
    return f"it is {state_word(dom)}"


def _snapshot_name(verb: str, node: Node, options: Options) -> str:
    if not options.snapshot:
        raise Refused(f"{verb} {node.name!r}: no snapshot name was given")
    return options.snapshot


def _snapshot(verb: str, dom: libvirt.virDomain, node: Node, options: Options) -> libvirt.virDomainSnapshot:
    """The snapshot named in options; refuses with the names there are when it does not exist."""
    name = _snapshot_name(verb, node, options)
    try:
        return dom.snapshotLookupByName(name, 0)
    except libvirt.libvirtError as err:
        if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            raise
    names = sorted(s.getName() for s in dom.listAllSnapshots(0))
    there = f"it has {', '.join(repr(n) for n in names)}" if names else "it has none"
    raise Refused(f"{verb} {node.name!r}: no snapshot is named {name!r} ({there})")


def _snapshot_create(dom: libvirt.virDomain, node: Node, options: Options) -> str:
    """An internal snapshot: disks (qcow2) plus memory when the VM runs. ATOMIC: all or nothing.

    Never DISK_ONLY: on a shut-off VM that makes an external overlay, which libvirt
    (9.0) can neither revert to nor delete.
    """
    name = _snapshot_name("snapshot create", node, options)
    if not disks(dom.XMLDesc(0)):
        raise Refused(f"snapshot create {node.name!r}: it has no disk, and libvirt's snapshots "
                      f"need one (in qcow2 format)")
    root = ET.Element("domainsnapshot")
    ET.SubElement(root, "name").text = name
    if options.description:
        ET.SubElement(root, "description").text = options.description
    snap = dom.snapshotCreateXML(ET.tostring(root, encoding="unicode"), libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC)
    info = _snapshot_info(snap)
    what = "disks" if info.state in ("shutoff", "disk-snapshot") else "disks and memory"
    return f"snapshot {name!r} of its {what} ({info.state})"


def _snapshot_revert(dom: libvirt.virDomain, node: Node, options: Options) -> str:
    snap = _snapshot("snapshot revert", dom, node, options)
    # A managed save image is newer state than any snapshot: left behind, the next
    # start would resume it over the reverted disks.
    stale = bool(dom.hasManagedSaveImage(0))
    if stale:
        dom.managedSaveRemove(0)
    dom.revertToSnapshot(snap, 0)  # to the snapshot's own state: running, paused or shut off
    note = "; its managed save image was discarded" if stale else ""
    return f"to snapshot {snap.getName()!r}; it is {state_word(dom)}{note}"


def _snapshot_delete(dom: libvirt.virDomain, node: Node, options: Options) -> str:
    snap = _snapshot("snapshot delete", dom, node, options)
    snap.delete(0)  # this one only; its children are kept
    return repr(snap.getName())


def _snapshot_info(snap: libvirt.virDomainSnapshot) -> SnapshotInfo:
    root = ET.fromstring(snap.getXMLDesc(0))
    return SnapshotInfo(
        name=snap.getName(),
        created=int(root.findtext("creationTime") or 0),
        state=root.findtext("state") or "",
        description=root.findtext("description") or "",
        current=bool(snap.isCurrent(0)),
    )


# The actions on a VM's kept states, by name: each says what it did (raises libvirt.libvirtError or Refused).
KEPT_STATE_ACTIONS: dict[str, Callable[[libvirt.virDomain, Node, Options], str]] = {
    "save": _save,
    "restore": _restore,
    "snapshot-create": _snapshot_create,
    "snapshot-revert": _snapshot_revert,
    "snapshot-delete": _snapshot_delete,
}
