"""A VM's NICs on taps vtui made: their domain XML, and attaching, detaching and linking them by MAC."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt


def nic_xml(tap: str, mac: str, mtu: int, up: bool = True) -> str:
    """A virtio NIC on an existing tap; only checked tokens (a tap name vtui made, a MAC, numbers)."""
    interface = ET.Element("interface", type="ethernet")
    ET.SubElement(interface, "mac", address=mac)
    if tap:
        ET.SubElement(interface, "target", dev=tap, managed="no")
        ET.SubElement(interface, "model", type="virtio")
    if mtu:
        ET.SubElement(interface, "mtu", size=str(mtu))
    ET.SubElement(interface, "link", state="up" if up else "down")
    return ET.tostring(interface, encoding="unicode")


def change_nic(dom: libvirt.virDomain, how: str, mac: str, xml: str) -> bool:
    """One NIC change ("attach", "detach", "up", "down"), live where the VM runs and in its definition
    (the tap is named `managed='no'`: vtui made it, libvirt only opens it). Idempotent by MAC.
    Raises libvirt.libvirtError."""
    live, config = _has_mac(dom, mac, 0), _has_mac(dom, mac, libvirt.VIR_DOMAIN_XML_INACTIVE)
    running = dom.isActive()
    if how == "attach":
        flags = (libvirt.VIR_DOMAIN_AFFECT_LIVE if running and not live else 0) | \
            (libvirt.VIR_DOMAIN_AFFECT_CONFIG if dom.isPersistent() and not config else 0)
        if flags:
            dom.attachDeviceFlags(xml, flags)
        return bool(flags)
    if how == "detach":
        for present, flag in ((running and live, libvirt.VIR_DOMAIN_AFFECT_LIVE),
                              (config, libvirt.VIR_DOMAIN_AFFECT_CONFIG)):
            if present:
                dom.detachDeviceFlags(xml, flag)
        return bool(live or config)
    if running and live:  # the device as the VM has it, with its link state changed
        interface = _interface(dom, mac)
        for old in interface.findall("link"):
            interface.remove(old)
        ET.SubElement(interface, "link", state=how)
        dom.updateDeviceFlags(ET.tostring(interface, encoding="unicode"), libvirt.VIR_DOMAIN_AFFECT_LIVE)
    return True


def _has_mac(dom: libvirt.virDomain, mac: str, flags: int) -> bool:
    tree = ET.fromstring(dom.XMLDesc(flags))
    return any(m.get("address", "").lower() == mac for m in tree.findall("devices/interface/mac"))


def _interface(dom: libvirt.virDomain, mac: str) -> ET.Element:
    for interface in ET.fromstring(dom.XMLDesc(0)).findall("devices/interface"):
        found = interface.find("mac")
        if found is not None and found.get("address", "").lower() == mac:
            return interface
    raise libvirt.libvirtError(f"no NIC with MAC {mac}")
