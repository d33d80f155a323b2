"""The Textual application: wires the hub to the screens."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.widgets import HelpPanel

from vtui.backends import Backend
from vtui.engines import demo_backends
from vtui.hangup import watch_terminal
from vtui.hub import Hub
from vtui.messages import InventoryChanged
from vtui.model import Inventory
from vtui.screens.commands import InventoryCommands
from vtui.screens.inventory import InventoryScreen
from vtui.screens.no_engines import Choice, NoEnginesScreen

log = logging.getLogger(__name__)


class VtuiApp(App[None]):
    CSS_PATH = "vtui.tcss"
    TITLE = "vtui"
    COMMANDS = App.COMMANDS | {InventoryCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark,f1", "toggle_help", "Help", id="help"),
    ]

    def __init__(self, backends: Sequence[Backend], *, demo: bool = False,
                 keymap: dict[str, str] | None = None, interval: float = 1.0) -> None:
        super().__init__()
        self.hub = Hub(backends, demo=demo, interval=interval)
        self.inventory_screen = InventoryScreen()
        self._keymap = keymap or {}
        self._offered_demo = demo

    def on_mount(self) -> None:
        if not self.is_headless:
            self._terminal_watch = watch_terminal(self._terminal_lost)
        self.set_keymap(self._keymap)
        self._start(self.hub)
        self.push_screen(self.inventory_screen)

    def _start(self, hub: Hub) -> None:
        self.hub = hub
        self.inventory_screen.hub = hub
        self.sub_title = "demo" if hub.demo else ", ".join(sorted({b.host for b in hub.backends}))
        hub.subscribe(self._published)
        hub.start()

    def _published(self, inventory: Inventory) -> None:
        self.inventory_screen.post_message(InventoryChanged(inventory, self.hub.stats.history))
        if inventory.all_unavailable and not self._offered_demo:
            self._offered_demo = True
            self.push_screen(NoEnginesScreen(inventory), self._no_engines_choice)

    async def _no_engines_choice(self, choice: Choice | None) -> None:
        if choice == "demo":
            await self.hub.stop()
            self._start(Hub(demo_backends(), demo=True, interval=self.hub.interval))
        elif choice == "quit":
            self.exit()

    def _terminal_lost(self) -> None:
        log.warning("the terminal went away; exiting")
        self.exit(return_code=129)

    def action_toggle_help(self) -> None:
        if self.screen.query(HelpPanel):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    async def on_unmount(self) -> None:
        await self.hub.stop()
