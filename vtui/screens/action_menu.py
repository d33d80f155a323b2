"""The action menu (enter or a): the registry's actions that fit the selected or marked nodes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from vtui.actions import ACTIONS, Action
from vtui.model import Node


def fitting(nodes: Sequence[Node]) -> list[tuple[Action, int]]:
    """Each action that fits at least one node, with how many it fits."""
    counted = [(a, sum(a.applies_to(n) for n in nodes)) for a in ACTIONS.values()]
    return [(a, count) for a, count in counted if count]


class ActionMenu(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss(None)", "Close", id="menu-close")]
    DEFAULT_CSS = """
    ActionMenu { align: center middle; }
    ActionMenu > Vertical { width: 100; max-width: 95%; height: auto; max-height: 85%; border: thick $accent;
                            background: $surface; }
    ActionMenu OptionList { height: auto; max-height: 20; border: none; }
    ActionMenu #target { padding: 0 1; color: $text-muted; }
    """

    def __init__(self, nodes: Sequence[Node], read_only: bool = False) -> None:
        super().__init__()
        self.nodes = list(nodes)
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        target = self.nodes[0].name if len(self.nodes) == 1 else f"{len(self.nodes)} marked nodes"
        note = "  (read-only: actions will be refused)" if self.read_only else ""
        options = []
        actions = fitting(self.nodes)
        width = max((len(a.title) for a, _ in actions), default=0) + 2
        for action, count in actions:
            label = Text(f"{action.title:<{width}}", style="bold red" if action.destructive else "bold")
            if len(self.nodes) > 1:
                label.append(f"{count}/{len(self.nodes)}  ", style="dim")
            label.append(action.description, style="")
            options.append(Option(label, id=action.name))
        with Vertical():
            yield Static(Text(f"Act on {target}{note}"), id="target")
            yield OptionList(*options) if options else Static(Text("  nothing applies in this state"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
