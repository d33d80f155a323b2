"""Messages between the app and its screens, named for what happened."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from vtui.model import Inventory
from vtui.stats import History


@dataclass
class InventoryChanged(Message):
    """The hub published a new snapshot."""

    inventory: Inventory
    history: History  # the hub's live record behind the sparklines
