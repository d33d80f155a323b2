"""The hub: the one owner of live state.

It runs one task per backend that connects, follows the engine's events and
reconnects with backoff, and publishes immutable Inventory snapshots to its
listeners. A failing engine is reported in its EngineStatus and never stops
the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vtui.backends import Backend, EngineUnavailable, Removed, Reset, Upsert, backend_for
from vtui.model import EngineState, EngineStatus, Inventory, Node, State
from vtui.stats import StatsBook

log = logging.getLogger(__name__)

Listener = Callable[[Inventory], None]

RETRY_FIRST = 1.0
RETRY_MAX = 30.0
COALESCE = 0.02  # seconds: a burst of events becomes one snapshot
STATS_COALESCE = 0.25  # seconds: every engine's figures of one tick become one snapshot
HISTORY_SECONDS = 300  # sparklines show the last 5 minutes
SAMPLED_STATES = (State.RUNNING, State.PAUSED)


class Hub:
    def __init__(self, backends: Sequence[Backend], *, demo: bool = False, interval: float = 1.0) -> None:
        self.backends = tuple(backends)
        self.demo = demo
        self.interval = interval
        self.stats = StatsBook(history_length=max(2, round(HISTORY_SECONDS / interval)))
        self._nodes: dict[Backend, dict[str, Node]] = {b: {} for b in self.backends}
        self._status = {b: EngineStatus(b.host, b.engine, b.target, EngineState.CONNECTING) for b in self.backends}
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._publish_handle: asyncio.TimerHandle | None = None
        self.inventory = self._snapshot()

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with every new snapshot (on the event loop)."""
        self._listeners.append(listener)
        listener(self.inventory)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._follow(b), name=f"hub-{b.host}-{b.engine}") for b in self.backends]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._publish_handle:
            self._publish_handle.cancel()

    async def _follow(self, backend: Backend) -> None:
        delay = RETRY_FIRST
        while True:
            sampler: asyncio.Task[None] | None = None
            changes = backend.watch()
            try:
                await backend.connect()
                async for change in changes:
                    if isinstance(change, Reset):
                        self._nodes[backend] = {n.key: n for n in change.nodes}
                        self._set_status(backend, EngineState.UP)
                        delay = RETRY_FIRST
                        sampler = sampler or asyncio.create_task(self._sample(backend))
                    elif isinstance(change, Upsert):
                        self._nodes[backend][change.node.key] = change.node
                    elif isinstance(change, Removed):
                        self._nodes[backend].pop(change.key, None)
                    self._schedule_publish()
            except EngineUnavailable as err:
                self._lost(backend, err.reason)
            except Exception as err:  # a bug or an unexpected library error: report, retry
                log.exception("%s on %s failed", backend.engine, backend.host)
                self._lost(backend, f"unexpected error: {err}")
            finally:
                if sampler:
                    sampler.cancel()
                    await asyncio.gather(sampler, return_exceptions=True)
                await changes.aclose()  # unsubscribe from the engine's events before closing the connection
                await asyncio.shield(backend.close())
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _sample(self, backend: Backend) -> None:
        """Poll counters; the next poll is armed only when this one has finished."""
        loop = asyncio.get_running_loop()
        while True:
            nodes = self._nodes[backend]
            try:
                samples = await backend.sample([n for n in nodes.values() if n.state in SAMPLED_STATES])
            except EngineUnavailable:
                return  # the event stream reports the loss and reconnects
            if self.stats.record(samples, owned=nodes.keys()):
                self._schedule_publish(STATS_COALESCE)
            if backend.stats_note != self._status[backend].note:
                self._set_status(backend, EngineState.UP)
            # every sampler ticks on the same clock, so one repaint carries all engines' figures
            await asyncio.sleep(self.interval - loop.time() % self.interval)

    def backend_for(self, node: Node) -> Backend:
        return backend_for(self.backends, node)

    async def perform(self, node: Node, action: str, options: Mapping[str, Any] | None = None) -> str:
        """Carry out an action; the engine's event then updates the inventory."""
        return await self.backend_for(node).perform(node, action, options)

    def _lost(self, backend: Backend, reason: str) -> None:
        log.warning("%s on %s unavailable: %s", backend.engine, backend.host, reason)
        self._nodes[backend] = {}
        self._set_status(backend, EngineState.UNAVAILABLE, reason)

    def _set_status(self, backend: Backend, state: EngineState, reason: str = "") -> None:
        note = backend.stats_note if state is EngineState.UP else ""
        self._status[backend] = EngineStatus(backend.host, backend.engine, backend.target, state, reason, note)
        self._schedule_publish()

    def _schedule_publish(self, within: float = COALESCE) -> None:
        """Publish soon; changes arriving meanwhile go into the same snapshot."""
        loop = asyncio.get_running_loop()
        if self._publish_handle is not None:
            if self._publish_handle.when() <= loop.time() + within:
                return
            self._publish_handle.cancel()  # an event must not wait for the stats' window
        self._publish_handle = loop.call_later(within, self._publish)

    def _publish(self) -> None:
        self._publish_handle = None
        self.inventory = self._snapshot()
        for listener in self._listeners:
            listener(self.inventory)

    def _snapshot(self) -> Inventory:
        nodes = tuple(n for per_backend in self._nodes.values() for n in per_backend.values())
        self.stats.forget_all_but(n.key for n in nodes)
        return Inventory(nodes, tuple(self._status.values()), self.demo, dict(self.stats.current))
