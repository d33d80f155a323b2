"""Lab links: veth, bridges, VXLAN, taps, impairments (kernel data plane only). What a link is made
of is its kind (vtui.net.kinds, one module each); where its commands run is an executor
(vtui.net.executor: netlink here, a sh script over SSH on a remote host)."""
