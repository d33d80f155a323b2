"""Links between nodes named as people name them: the links service. The nodes are found through
the backends, the kernel objects made by the link's kind (vtui.net.kinds: veth, tap, segment, vxlan,
each through a host's executor: netlink here, a script over SSH on a remote host), and every link
is recorded in the LinkBook so it can be listed, changed, wired again when a node comes back, and
removed. No UI here: the CLI and the TUI both drive a Wiring.

Wiring is the service in one class, made of its parts: the core that adds, changes and removes links
(vtui.links.service), segments (segments), reading links into views (views), captures (capture)
and following the inventory (follow).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vtui.backends.base import Backend
from vtui.links.capture import Captures
from vtui.links.follow import Following
from vtui.links.segments import Segments
from vtui.links.service import FLAP_SECONDS, NEW_NIC
from vtui.links.views import LinkView, Views
from vtui.model import Node
from vtui.net.book import LinkBook
from vtui.net.kinds.segment import SEGMENT
from vtui.net.kinds.vxlan import VXLAN_MTU

__all__ = ["FLAP_SECONDS", "NEW_NIC", "SEGMENT", "VXLAN_MTU", "LinkView", "Wiring"]


class Wiring(Segments, Views, Captures, Following):
    """The links service (the kinds' LinkContext): what the CLI, the TUI and labs drive."""

    def __init__(self, backends: Sequence[Backend], nodes: Callable[[], Sequence[Node]],
                 book: LinkBook | None = None, lab: str = "") -> None:
        super().__init__(backends, nodes, book, lab)
        self._init_captures()
        self._init_following()
