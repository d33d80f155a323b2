"""Links between nodes: the service (Wiring, vtui.links.wiring) that finds their ends through the
backends, records them in the LinkBook, and makes, reads, changes and removes them through their
kind (vtui.net.kinds). Its parts: service (the core, the kinds' LinkContext), segments, views,
capture, follow."""
