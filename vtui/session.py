"""The composition root: what one run of vtui holds — its config, its hosts' engines (backends
from the engine registry), and the services over them (the hub, links), each made once and
closed once. The TUI and the CLI both get a Session and build nothing themselves.

    Session ─┬─ config, hosts file        (vtui.config)
             ├─ backends                  (vtui.backends.registry: one per engine per host)
             ├─ hub                       (vtui.services.hub: live inventory and stats, the TUI's)
             └─ links                     (vtui.links: wiring over the hub's or a listing's nodes)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vtui.backends.base import Backend, host_links
from vtui.backends.registry import demo_backends, local_backends, remote_backends
from vtui.config.hosts import HostSpec, add_hosts, load_hosts
from vtui.config.settings import MAX_INTERVAL, MIN_INTERVAL, Config, load_config
from vtui.errors import ConfigError
from vtui.model import Node

if TYPE_CHECKING:  # each service is imported when first asked for: a command pays only for what it uses
    from vtui.links.wiring import Wiring
    from vtui.services.hub import Hub
    from vtui.transport import Trust


@dataclass(frozen=True)
class Choices:
    """What the command line chose over the config: None or empty leaves the config's choice."""

    config: Path | None = None
    demo: bool = False
    read_only: bool = False
    hosts: Sequence[str] | None = None  # targets or names of hosts.toml (and `local`); None: the file's
    addresses: Mapping[str, str] = field(default_factory=dict)  # engine -> its address on this machine
    left_out: frozenset[str] = frozenset()  # engines not to use on this machine
    interval: float | None = None


class Session:
    def __init__(self, config: Config, backends: Sequence[Backend], *, demo: bool = False,
                 interval: float | None = None) -> None:
        self.config = config
        self.backends = list(backends)
        self.demo = demo
        self.interval = config.interval if interval is None else interval
        self._hub: Hub | None = None
        self._links: Wiring | None = None

    @classmethod
    def open(cls, choices: Choices) -> Session:
        """The session the choices name; ConfigError for a broken file, a bad --host or --interval."""
        if choices.interval is not None and not MIN_INTERVAL <= choices.interval <= MAX_INTERVAL:
            raise ConfigError(f"--interval must be from {MIN_INTERVAL} to {MAX_INTERVAL} seconds")
        config = load_config(choices.config)
        read_only = choices.read_only or config.read_only
        if choices.demo:
            return cls(config, demo_backends(read_only=read_only), demo=True, interval=choices.interval)
        local, remote = load_hosts().chosen(choices.hosts)
        addresses = {name: choices.addresses.get(name) or address for name, address in config.local.items()
                     if name not in choices.left_out}
        backends = local_backends(addresses, read_only=read_only) if local else []
        return cls(config, backends + remote_backends(remote, read_only=read_only), interval=choices.interval)

    @property
    def read_only(self) -> bool:
        return any(b.read_only for b in self.backends) or self.config.read_only

    @property
    def hosts(self) -> list[str]:
        """The hosts shown, in the order their engines were named."""
        return list(dict.fromkeys(b.host for b in self.backends))

    # --- services ------------------------------------------------------------------------

    def hub(self, trust: Trust | None = None) -> Hub:
        """The live inventory (made on first use; `trust` asks about a host's unknown key)."""
        if self._hub is None:
            from vtui.services.hub import Hub

            self._hub = Hub(self.backends, demo=self.demo, interval=self.interval, trust=trust)
        return self._hub

    def nodes(self) -> Sequence[Node]:
        """The nodes as the hub last saw them (none before it runs)."""
        return self._hub.inventory.nodes if self._hub is not None else ()

    @property
    def links(self) -> Wiring:
        if self._links is None:
            from vtui.links.wiring import Wiring  # pyroute2: only when links are read

            self._links = Wiring(self.backends, self.nodes)
        return self._links

    def warm_up(self) -> None:
        """The engines' cheap first listings, started in threads while the TUI loads (socket reads
        release the GIL): the hub shows them on its first frame."""
        for backend in self.backends:
            backend.warm_up()

    # --- changes -------------------------------------------------------------------------

    def add_hosts(self, targets: Sequence[str]) -> list[str]:
        """Record the targets in the hosts file and follow them at once; the targets added (none when
        all were known). ConfigError for a bad target or a name already shown; OSError for the file."""
        added = add_hosts(None, targets)
        specs = [HostSpec.of(t) for t in added]
        clash = [s.name for s in specs if s.name in self.hosts]
        if clash:
            raise ConfigError(f"{', '.join(clash)}: a host of that name is already shown")
        backends = remote_backends(specs, read_only=self.read_only)
        self.backends += backends
        if self._hub is not None:
            self._hub.add(backends)
        return added

    def as_demo(self) -> Session:
        """A session on the embedded demo instead (no engine answered), with this one's config."""
        return Session(self.config, demo_backends(), demo=True, interval=self.interval)

    async def close(self) -> None:
        """Stop the hub, close every engine and then every host connection."""
        if self._hub is not None:
            await self._hub.stop()
        for backend in self.backends:
            await backend.close()
        for link in host_links(self.backends).values():
            await link.close()
