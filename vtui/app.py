"""The Textual application: wires the hub to the screens."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar, cast

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import HelpPanel

from vtui.actions import ActionRefused
from vtui.backends import Backend, EngineUnavailable
from vtui.config import ConsoleConfig
from vtui.console.opening import open_console
from vtui.console.relay import Relay
from vtui.console.session import ConsoleError, ConsoleRequest
from vtui.engines import demo_backends
from vtui.hangup import watch_terminal
from vtui.hub import Hub
from vtui.messages import ConsoleWanted, InventoryChanged
from vtui.model import Inventory, Kind, Node
from vtui.screens.commands import InventoryCommands
from vtui.screens.confirm import ConfirmScreen
from vtui.screens.consoles import ConsoleScreen, console_key
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
                 keymap: dict[str, str] | None = None, interval: float = 1.0,
                 console: ConsoleConfig | None = None) -> None:
        super().__init__()
        self.hub = Hub(backends, demo=demo, interval=interval)
        self.inventory_screen = InventoryScreen()
        self.console_config = console or ConsoleConfig()
        self.consoles = ConsoleScreen(self.console_config.log_dir)
        self._keymap = keymap or {}
        self._offered_demo = demo

    def on_mount(self) -> None:
        if not self.is_headless:
            self._terminal_watch = watch_terminal(self._terminal_lost)
        self.set_keymap(self._keymap)
        self.install_screen(self.consoles, "consoles")
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

    def on_console_wanted(self, message: ConsoleWanted) -> None:
        self.run_worker(self.show_console(message.node, message.attach, message.start), group="console-open")

    async def show_console(self, node: Node, attach: bool = False, start: bool = False) -> None:
        """The node's console in a tab of the console screen: the open one, or a new one."""
        key = console_key(node, attach)
        pane = self.consoles.pane_for(key)
        relay = None
        if pane is None:
            config = self.console_config
            request = ConsoleRequest(attach=attach, command=config.shell, user=config.user)

            async def ask(question: str) -> bool:
                if start:
                    return True
                answer = await self.push_screen_wait(cast("Screen[object]", ConfirmScreen(question)))
                return answer is True

            try:
                relay = Relay(await open_console(self.hub.backend_for(node), node, request, ask))
            except (ConsoleError, ActionRefused, EngineUnavailable) as problem:
                self.notify(str(problem), severity="error", timeout=8)
                return
        if pane is not None:
            await self._show_consoles()
            self.consoles.show(pane)
        elif relay is not None:
            try:
                await self._show_consoles()
                await self.consoles.add(key, node.name, describe_console(node, attach), relay)
            except Exception:  # the app quit while the tab was added: its widgets are being taken down
                if self.is_running:
                    raise
            if not self.is_running:  # quitting: a console opened meanwhile is not wanted
                await relay.session.close()

    async def _show_consoles(self) -> None:
        if self.screen is not self.consoles and self.is_running:
            await self.push_screen(self.consoles)

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


def describe_console(node: Node, attach: bool) -> str:
    what = "serial console of" if node.kind is Kind.VM else "terminal of" if attach else "shell in"
    return f"{what} {node.name!r} ({node.kind} on {node.host})"
