"""Messages between the app and its screens, named for what happened."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from vtui.model import Inventory, Node
from vtui.model.stats import History


@dataclass
class InventoryChanged(Message):
    """The hub published a new snapshot."""

    inventory: Inventory
    history: History  # the hub's live record behind the sparklines


@dataclass
class ConsoleWanted(Message):
    """Open (or show, when it is open) a node's console: a VM's serial console, a container's
    shell, or with `attach` the container's own terminal."""

    node: Node
    attach: bool = False
    start: bool = False  # start (or resume) a node that is not running without asking


@dataclass
class HostChosen(Message):
    """Show the nodes of this host (chosen in the host list)."""

    host: str


@dataclass
class HostsAdded(Message):
    """The user asked for these SSH targets to be added to the hosts file and shown."""

    targets: tuple[str, ...]
