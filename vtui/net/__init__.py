"""Lab links: veth, bridges, VXLAN, impairments (kernel data plane only)."""
