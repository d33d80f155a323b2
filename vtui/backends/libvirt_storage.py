"""A VM's disks and their storage volumes: which they are, and deleting a shut-off VM with them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt

from vtui.backends.libvirt_states import state_word
from vtui.errors import Refused
from vtui.model import Node

# Undefining also drops what libvirt keeps beside the definition; drivers without
# the newer flags (test://) get the basic pair.
UNDEFINE_BASIC = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
_UNDEFINE_ALL = (
    UNDEFINE_BASIC | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    | libvirt.VIR_DOMAIN_UNDEFINE_TPM
)


def disks(xml: str) -> list[str]:
    """A domain's disks (not CD-ROMs): a path, POOL/VOLUME, or PROTOCOL:NAME for network disks."""
    found = []
    for disk in ET.fromstring(xml).iterfind("devices/disk[@device='disk']"):
        src = disk.find("source")
        if src is None:
            continue
        if src.get("pool") and src.get("volume"):
            found.append(f"{src.get('pool')}/{src.get('volume')}")
        elif path := src.get("file") or src.get("dev"):
            found.append(path)
        elif src.get("protocol"):
            found.append(f"{src.get('protocol')}:{src.get('name', '')}")
    return found


def delete_vm(conn: libvirt.virConnect, dom: libvirt.virDomain, node: Node, storage: bool) -> str | None:
    """Undefine a shut-off VM; with `storage`, then delete the disk volumes libvirt manages
    that no other VM uses. Says what became of the disks. Raises libvirt.libvirtError."""
    if dom.isActive():  # undefining a running VM would only make it transient
        raise Refused(f"delete {node.name!r}: it is {state_word(dom)}; force it off first",
                      remedy="force-off")
    own = disks(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    doomed, left = _volumes_to_delete(conn, dom, own) if storage else ([], [])
    try:
        dom.undefineFlags(_UNDEFINE_ALL)
    except libvirt.libvirtError as err:
        if err.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
            raise
        dom.undefineFlags(UNDEFINE_BASIC)
    if not storage:
        return f"kept its disks: {', '.join(own)}" if own else None
    deleted, failed = [], []
    for path, vol in doomed:
        try:
            vol.delete(0)
            deleted.append(path)
        except libvirt.libvirtError as err:
            failed.append(f"{path} ({err.get_error_message()})")
    if failed:
        raise Refused(f"delete {node.name!r}: it was undefined, but these disks could not be deleted: "
                      f"{', '.join(failed)}")
    told = [f"deleted its disks: {', '.join(deleted)}"] if deleted else []
    return "; ".join(told + ([f"left: {', '.join(left)}"] if left else []))


def _volumes_to_delete(
    conn: libvirt.virConnect, dom: libvirt.virDomain, own: list[str]
) -> tuple[list[tuple[str, libvirt.virStorageVol]], list[str]]:
    """The disks' storage volumes safe to delete (with their paths), and the disks left, each with why."""
    others = _disks_of_others(conn, dom)
    doomed, left = [], []
    for disk in own:
        vol = _volume(conn, disk)
        if vol is None:
            left.append(f"{disk} (not in a storage pool)")
            continue
        path = vol.path()
        names = {disk, path, f"{vol.storagePoolLookupByVolume().name()}/{vol.name()}"}
        if users := sorted({name for name, theirs in others.items() if names & theirs}):
            left.append(f"{disk} (also used by {', '.join(repr(u) for u in users)})")
        else:
            doomed.append((path, vol))
    return doomed, left


def _volume(conn: libvirt.virConnect, disk: str) -> libvirt.virStorageVol | None:
    """The storage volume behind a disk (a path, or POOL/VOLUME), None when no pool holds it."""
    try:
        if disk.startswith("/"):
            return conn.storageVolLookupByPath(disk)
        pool, _, volume = disk.partition("/")
        return conn.storagePoolLookupByName(pool).storageVolLookupByName(volume)
    except libvirt.libvirtError as err:
        if err.get_error_code() in (libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_STORAGE_POOL):
            return None
        raise


def _disks_of_others(conn: libvirt.virConnect, dom: libvirt.virDomain) -> dict[str, set[str]]:
    """Every other VM's disks by its name, so a shared disk is never deleted."""
    uuid = dom.UUIDString()
    return {other.name(): set(disks(other.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
            for other in conn.listAllDomains(0) if other.UUIDString() != uuid}
