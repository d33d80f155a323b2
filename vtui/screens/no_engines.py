"""Shown when no local engine answers: say why, and offer the demo."""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from vtui.model import Inventory

Choice = Literal["demo", "wait", "quit"]


class NoEnginesScreen(ModalScreen[Choice]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "choose('demo')", "Open the demo", id="open-demo"),
        Binding("w,escape,enter", "choose('wait')", "Keep waiting", id="keep-waiting"),
        Binding("q", "choose('quit')", "Quit", id="quit-now"),
    ]
    DEFAULT_CSS = """
    NoEnginesScreen { align: center middle; }
    NoEnginesScreen > Vertical {
        width: 80; height: auto; border: thick $error; background: $surface; padding: 1 2;
    }
    NoEnginesScreen #choices { margin-top: 1; color: $text-muted; }
    """

    def __init__(self, inventory: Inventory) -> None:
        super().__init__()
        self.inventory = inventory

    def compose(self) -> ComposeResult:
        reasons = "\n".join(f"• {e.engine}: {e.reason}" for e in self.inventory.engines)
        with Vertical():
            yield Static("[b]No VM or container engine answers on this host.[/b]")
            yield Static(Text(reasons), id="reasons")  # Text: paths and URIs are not markup
            yield Static("[b]d[/b] open the demo   [b]w[/b] keep waiting (vtui retries)   [b]q[/b] quit",
                         id="choices")

    def action_choose(self, choice: Choice) -> None:
        self.dismiss(choice)
