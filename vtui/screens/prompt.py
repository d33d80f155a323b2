"""Ask for a line of text: a snapshot name, or a VM's name typed to confirm its deletion."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option


class PromptScreen(ModalScreen[str | None]):
    """Enter answers; escape cancels. With `must_equal`, only that exact text is accepted."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel", id="prompt-cancel")]
    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical { width: 72; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    PromptScreen #problem { color: $error; }
    """

    def __init__(self, question: str, placeholder: str = "", must_equal: str | None = None, value: str = "") -> None:
        super().__init__()
        self.question, self.placeholder, self.must_equal, self.value = question, placeholder, must_equal, value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question, style="bold"))
            yield Input(value=self.value, placeholder=self.placeholder)
            yield Static(id="problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip() if self.must_equal is None else event.value
        if not value:
            self.query_one("#problem", Static).update(Text("Type something, or escape to cancel."))
        elif self.must_equal is not None and value != self.must_equal:
            self.query_one("#problem", Static).update(Text(f"That is not {self.must_equal!r}; nothing was done."))
        else:
            self.dismiss(value)


class PickScreen(ModalScreen[str | None]):
    """Choose one of a few named things (a snapshot) with the arrows and enter."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel", id="pick-cancel")]
    DEFAULT_CSS = """
    PickScreen { align: center middle; }
    PickScreen > Vertical { width: 80; height: auto; max-height: 80%; border: thick $accent; background: $surface; }
    PickScreen OptionList { height: auto; max-height: 20; border: none; }
    """

    def __init__(self, title: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text, self.choices = title, choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, style="bold"))
            yield OptionList(*(Option(Text(label), id=key) for key, label in self.choices))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
