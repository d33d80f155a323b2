"""Following the inventory in the links service: a node that stops has the far ends of its links
lose carrier (park), and a node with links that comes to run has them wired again where missing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from vtui.errors import LinkError, VtuiError
from vtui.links.service import LinkService
from vtui.model import Node, State
from vtui.net.book import LinkRecord
from vtui.net.kinds import kind_named

log = logging.getLogger(__name__)


class Following(LinkService):
    on_rewired: Callable[[str], None]
    _running: dict[str, bool]  # node key -> running, to see nodes come back
    _rewiring: set[asyncio.Task[None]]

    def _init_following(self) -> None:
        self.on_rewired = lambda message: None
        self._running = {}
        self._rewiring = set()

    def follow(self, nodes: Sequence[Node]) -> None:
        """Called with each inventory: a node with links that has come to run (started again, or
        seen again when vtui starts or its host reconnects) has its links wired again where missing."""
        came_back = [n for n in nodes if n.state is State.RUNNING and not self._running.get(n.key)]
        went = [n for n in nodes if n.state is not State.RUNNING and self._running.get(n.key)]
        self._running = {n.key: n.state is State.RUNNING for n in nodes}
        if not came_back and not went:
            return
        try:
            links = self.book.load().values()
        except LinkError as err:  # a damaged links file: said once, the rest of vtui goes on
            self.on_rewired(str(err))
            return
        for node in went:
            for record in (r for r in links if r.touches(node.host, str(node.kind), node.name)):
                self._task(self._park_quietly(record, node))
        for record in (r for r in links if any(r.touches(n.host, str(n.kind), n.name) for n in came_back)):
            self._task(self._rewire_quietly(record))

    def _task(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._rewiring.add(task)
        task.add_done_callback(self._rewiring.discard)

    async def park(self, record: LinkRecord, stopped: Node) -> None:
        """A node of the link stopped: the other end loses carrier rather than send into nothing
        (a veth's peer goes with its namespace; a tap, a stitch or a tunnel would stay up)."""
        with self._once():
            await kind_named(record.kind).carrier(self, record, stopped, False)

    async def _park_quietly(self, record: LinkRecord, node: Node) -> None:
        try:
            await self.park(record, node)
        except VtuiError as err:
            log.info("link %s: the other end of %r not taken down: %s", record.id, node.name, err)

    async def _rewire_quietly(self, record: LinkRecord) -> None:
        try:
            if await self.rewire(record):
                self.on_rewired(f"link {record} wired again")
        except VtuiError as err:
            log.info("link %s not wired again: %s", record.id, err)
            self.on_rewired(f"link {record}: not wired again: {err}")
