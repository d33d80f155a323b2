"""The hub: the one owner of live state.

It runs one task per backend that connects, follows the engine's events and
reconnects with backoff, one task per remote host that keeps its SSH connection
(reconnecting with backoff, measuring the round trip), and publishes immutable
Inventory snapshots to its listeners. A failing engine or host is reported in
its status and never stops or slows the others: every host and every engine
has its own tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from vtui.actions import Options
from vtui.backends.base import Backend, Removed, Reset, Upsert, backend_for, host_links
from vtui.errors import EngineError, HostError
from vtui.model import LOCAL_HOST, EngineState, EngineStatus, HostState, HostStatus, Inventory, Node, State
from vtui.model.stats import StatsBook
from vtui.transport import HostKeyError, HostLink, Trust

log = logging.getLogger(__name__)

Listener = Callable[[Inventory], None]

RETRY_FIRST = 1.0
RETRY_MAX = 30.0
LINK_RETRY_MAX = 10.0  # seconds: a host that comes back is seen again within this
COALESCE = 0.02  # seconds: a burst of events becomes one snapshot
STATS_COALESCE = 0.25  # seconds: every engine's figures of one tick become one snapshot
HISTORY_SECONDS = 300  # sparklines show the last 5 minutes
SAMPLED_STATES = (State.RUNNING, State.PAUSED)


class Hub:
    def __init__(self, backends: Sequence[Backend], *, demo: bool = False, interval: float = 1.0,
                 trust: Trust | None = None) -> None:
        self.backends = tuple(backends)
        self.trust = trust  # asks the user about a host's unknown key; None: unknown keys are refused
        self.demo = demo
        self.interval = interval
        self.stats = StatsBook(history_length=max(2, round(HISTORY_SECONDS / interval)))
        self._nodes: dict[Backend, dict[str, Node]] = {}
        self._status: dict[Backend, EngineStatus] = {}
        self.links: dict[str, HostLink] = {}  # each remote host's connection: the hub keeps it up
        for backend in self.backends:
            self._include(backend)
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
        self._tasks += [asyncio.create_task(self._keep(link), name=f"hub-{link.name}") for link in self.links.values()]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await asyncio.gather(*(link.close() for link in self.links.values()), return_exceptions=True)
        if self._publish_handle:
            self._publish_handle.cancel()

    async def _keep(self, link: HostLink) -> None:
        """Keep a host's connection up: reconnect with backoff; while up, measure the round trip."""
        delay = RETRY_FIRST
        while True:
            try:
                await link.connect()
            except HostKeyError as err:  # not accepted, or changed: only the user can change that
                log.warning("%s: %s", link.name, err.reason)
                await link.wait_retry(float("inf"))
                continue
            except Exception as err:  # unreachable; or a bug, an unexpected library error: retried, never dropped
                if isinstance(err, HostError):
                    log.info("%s unreachable: %s", link.name, err.reason)
                else:
                    log.exception("connecting to %s failed", link.name)
                await link.wait_retry(delay)
                delay = min(delay * 2, LINK_RETRY_MAX)
                continue
            delay = RETRY_FIRST
            await link.keep_alive()  # returns when the connection is lost

    def _include(self, backend: Backend) -> HostLink | None:
        """Track a backend's state; returns its host's link when it is the first backend of that host."""
        first = backend.first_listing()  # read while the TUI loaded: on the first frame
        self._nodes[backend] = {n.key: n for n in first or ()}
        state = EngineState.CONNECTING if first is None else EngineState.UP
        self._status[backend] = EngineStatus(backend.host, backend.engine, backend.where, state)
        link = host_links([backend]).get(backend.host)
        if link is None or backend.host in self.links:
            return None
        self.links[backend.host] = link
        link.trust = self.trust
        seen = (link.state, link.reason)

        def changed() -> None:
            nonlocal seen
            if seen == (link.state, link.reason):  # only the round trip: along with the stats' repaint
                self._schedule_publish(STATS_COALESCE)
                return
            seen = (link.state, link.reason)
            if not link.connected and link.state is not HostState.CONNECTING:  # its engines are out of reach
                for other in self.backends:
                    if other.host == link.name and self._status[other].reason != link.reason:
                        self._lost(other, link.reason)
            self._schedule_publish()

        link.on_change = changed
        return link

    def reconnect(self, host: str) -> bool:
        """Try a remote host again now (an unknown key is asked about again); False for a local host."""
        if link := self.links.get(host):
            link.retry_now()
        return link is not None

    def add(self, backends: Sequence[Backend]) -> None:
        """More engines (a host added while running): followed like the others from now on."""
        self.backends += tuple(backends)
        for backend in backends:
            if link := self._include(backend):
                self._tasks.append(asyncio.create_task(self._keep(link), name=f"hub-{link.name}"))
            self._tasks.append(asyncio.create_task(self._follow(backend), name=f"hub-{backend.host}-{backend.engine}"))
        self._schedule_publish()

    async def _follow(self, backend: Backend) -> None:
        delay = RETRY_FIRST
        link = self.links.get(backend.host)
        while True:
            if link is not None and not link.connected:  # the host's task reconnects (and reports); wait
                await link.wait_connected()
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
            except EngineError as err:
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
            await self._pause(delay, link)
            delay = min(delay * 2, RETRY_MAX)

    @staticmethod
    async def _pause(delay: float, link: HostLink | None) -> None:
        """Wait before trying an engine again; a host whose connection went meanwhile is waited for instead."""
        if link is None:
            await asyncio.sleep(delay)
            return
        for _ in range(round(delay / 0.25)):
            if not link.connected:
                return
            await asyncio.sleep(0.25)

    async def _sample(self, backend: Backend) -> None:
        """Poll counters; the next poll is armed only when this one has finished."""
        loop = asyncio.get_running_loop()
        while True:
            nodes = self._nodes[backend]
            try:
                samples = await backend.sample([n for n in nodes.values() if n.state in SAMPLED_STATES])
            except EngineError:
                return  # the event stream reports the loss and reconnects
            if self.stats.record(samples, owned=nodes.keys()):
                self._schedule_publish(STATS_COALESCE)
            if backend.stats_note != self._status[backend].note:
                self._set_status(backend, EngineState.UP)
            # every sampler ticks on the same clock, so one repaint carries all engines' figures
            await asyncio.sleep(self.interval - loop.time() % self.interval)

    def backend_for(self, node: Node) -> Backend:
        return backend_for(self.backends, node)

    async def perform(self, node: Node, action: str, options: Options | None = None) -> str:
        """Carry out an action; the engine's event then updates the inventory."""
        return await self.backend_for(node).perform(node, action, options)

    def _lost(self, backend: Backend, reason: str) -> None:
        link = self.links.get(backend.host)
        if link is not None and not link.connected and link.reason:
            reason = link.reason  # the engine's own error would only say its socket closed
        log.warning("%s on %s unavailable: %s", backend.engine, backend.host, reason)
        self._nodes[backend] = {}
        self._set_status(backend, EngineState.UNAVAILABLE, reason)

    def _set_status(self, backend: Backend, state: EngineState, reason: str = "") -> None:
        note = backend.stats_note if state is EngineState.UP else ""
        self._status[backend] = EngineStatus(backend.host, backend.engine, backend.where, state, reason, note)
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
        engines = tuple(self._status.values())
        return Inventory(nodes, engines, self.demo, dict(self.stats.current), self._hosts(engines))

    def _hosts(self, engines: tuple[EngineStatus, ...]) -> tuple[HostStatus, ...]:
        """Each host's state: its connection's, or degraded when it is up but an engine there is not."""
        hosts: list[HostStatus] = []
        for name in dict.fromkeys(b.host for b in self.backends):
            mine = [e for e in engines if e.host == name]
            down = [e for e in mine if e.state is EngineState.UNAVAILABLE]
            if link := self.links.get(name):
                state, reason, latency, target = link.state, link.reason, link.latency, link.target
            else:
                state, reason, latency, target = HostState.UP, "", None, "this machine" if name == LOCAL_HOST else name
                if all(e.state is EngineState.CONNECTING for e in mine):
                    state = HostState.CONNECTING
            if state is HostState.UP and down:
                state, reason = HostState.DEGRADED, "; ".join(f"{e.engine}: {e.reason}" for e in down)
            hosts.append(HostStatus(name, target, state, reason, latency))
        return tuple(hosts)
