"""Open consoles, one tab each: embedded terminals that stay open while you go back to the
inventory, and hand the whole terminal over (F2) when a program needs it."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from vtui.console.fullscreen import ESCAPE_NAME, hand_over
from vtui.console.relay import Relay
from vtui.model import Node
from vtui.widgets import set_content
from vtui.widgets.terminal import Terminal


class ConsolePane(TabPane):
    """One console: its terminal, and a status line (what it is, whether it is logged)."""

    DEFAULT_CSS = """
    ConsolePane { padding: 0; }
    ConsolePane Terminal { height: 1fr; }
    ConsolePane .status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """

    class Ended(Message):
        def __init__(self, pane: ConsolePane) -> None:
            super().__init__()
            self.pane = pane

    def __init__(self, key: str, name: str, what: str, relay: Relay, pane_id: str) -> None:
        super().__init__(name, id=pane_id)
        self.console_key, self.node_name, self.what, self.relay = key, name, what, relay

    def compose(self) -> ComposeResult:
        yield Terminal()
        yield Static(classes="status")

    @property
    def terminal(self) -> Terminal:
        return self.query_one(Terminal)

    def on_mount(self) -> None:
        self.relay.add(self.terminal.feed)
        self.show_status()
        self.run_worker(self._run(), name="console")

    def show_status(self) -> None:
        logged = f"   logging to {self.relay.log_path}" if self.relay.log_path else ""
        set_content(self.query_one(".status", Static), Text(
            f"{self.what}   {ESCAPE_NAME} inventory · F2 full screen · F3 copy · F4 log · F5/F6 tabs · F8 close"
            + logged))

    async def _run(self) -> None:
        await self.relay.run()
        self.post_message(self.Ended(self))

    def on_terminal_keys(self, message: Terminal.Keys) -> None:
        self.relay.type(message.data)

    def on_terminal_resized(self, message: Terminal.Resized) -> None:
        self.run_worker(self.relay.resize(message.rows, message.cols), group="resize", exclusive=True)


def console_key(node: Node, attach: bool) -> str:
    return f"{node.key}/{'attach' if attach else 'console'}"


class ConsoleScreen(Screen[None]):
    """Installed once by the app; leaving it (ctrl+]) keeps every console open."""

    # priority: the terminal takes every other key for the console
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+right_square_bracket", "leave", "Inventory", priority=True, id="console-leave"),
        Binding("f1", "app.toggle_help", "Help", priority=True, id="console-help"),
        Binding("f2", "full_screen", "Full screen", priority=True, id="console-full-screen"),
        Binding("f3", "copy_mode", "Copy", priority=True, id="console-copy"),
        Binding("f4", "toggle_log", "Log", priority=True, id="console-log"),
        Binding("f5", "switch(-1)", "Previous", priority=True, id="console-previous"),
        Binding("f6", "switch(1)", "Next", priority=True, id="console-next"),
        Binding("f8", "close_console", "Close", priority=True, id="console-close"),
    ]

    def __init__(self, log_dir: Path) -> None:
        super().__init__()
        self.log_dir = log_dir
        self._serial = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield TabbedContent(id="consoles")
        yield Footer()

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one(TabbedContent)

    @property
    def panes(self) -> list[ConsolePane]:
        return list(self.query(ConsolePane))

    @property
    def active(self) -> ConsolePane | None:
        if not self.panes:  # also before the screen was first shown
            return None
        pane = self.tabs.active_pane
        return pane if isinstance(pane, ConsolePane) else None

    def pane_for(self, key: str) -> ConsolePane | None:
        return next((p for p in self.panes if p.console_key == key), None)

    async def add(self, key: str, label: str, what: str, relay: Relay) -> None:
        self._serial += 1
        pane = ConsolePane(key, label, what, relay, f"console-{self._serial}")
        await self.tabs.add_pane(pane)
        self.show(pane)

    def show(self, pane: ConsolePane) -> None:
        self.tabs.active = str(pane.id)
        pane.terminal.focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if isinstance(event.pane, ConsolePane):
            event.pane.terminal.focus()

    def action_leave(self) -> None:
        self.dismiss()

    def action_switch(self, step: int) -> None:
        panes = self.panes
        if self.active in panes and len(panes) > 1:
            self.show(panes[(panes.index(self.active) + step) % len(panes)])

    def action_copy_mode(self) -> None:
        # Priority bindings run before the keys already queued for the terminal: behind them, so
        # an enter typed just before F3 goes to the console, not to the copy mode.
        if pane := self.active:
            pane.terminal.call_later(pane.terminal.action_copy_mode)

    def action_toggle_log(self) -> None:
        if (pane := self.active) is None:
            return
        if pane.relay.log_path is not None:
            path = pane.relay.log_path
            pane.relay.stop_log()
            self.notify(f"Stopped logging to {path}")
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = self.log_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', pane.node_name)}-{stamp}.log"
            try:
                pane.relay.log_to(path)
            except OSError as err:
                self.notify(f"Cannot log to {path}: {err.strerror}", severity="error")
                return
            self.notify(f"Logging {pane.what} to {path} (F4 stops)")
        pane.show_status()

    async def action_close_console(self) -> None:
        if pane := self.active:
            await self.close(pane)

    async def close(self, pane: ConsolePane, note: str = "") -> None:
        """Leave the console (the node keeps running); back to the inventory after the last."""
        await pane.relay.session.close()
        await self.tabs.remove_pane(str(pane.id))
        if note:
            self.notify(note)
        if not self.panes and self.is_current:
            self.dismiss()

    async def on_console_pane_ended(self, message: ConsolePane.Ended) -> None:
        await self.close(message.pane, f"The console of {message.pane.what} ended")

    def action_full_screen(self) -> None:
        if pane := self.active:
            self.run_worker(self._full_screen(pane), group="full-screen", exclusive=True)

    async def _full_screen(self, pane: ConsolePane) -> None:
        """The whole terminal to the console until ctrl+]; the console stays open."""
        terminal = pane.terminal
        banner = f"\x1b[7m vtui: {pane.what}, full screen; {ESCAPE_NAME} returns \x1b[0m\r\n"
        screen = "\r\n".join(line.rstrip() for line in terminal.screen_lines()).rstrip()
        preface = ("\x1b[H\x1b[2J" + banner + screen).encode()
        with self.app.suspend():
            outcome = await hand_over(pane.relay, preface=preface)
        if outcome == "escaped":
            await pane.relay.resize(terminal.rows, terminal.cols)

    async def on_unmount(self) -> None:
        await asyncio.gather(*(p.relay.session.close() for p in self.panes), return_exceptions=True)
