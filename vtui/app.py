"""The Textual application: screens and keys over a Session (which holds the hub, links and hosts)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from vtui.console.hangup import HUNG_UP, watch_terminal
from vtui.console.relay import Relay
from vtui.console.session import ConsoleRequest
from vtui.errors import VtuiError
from vtui.messages import ConsoleWanted, HostChosen, HostsAdded, InventoryChanged
from vtui.model import Inventory, Kind, Node
from vtui.screens.commands import InventoryCommands
from vtui.screens.confirm import ConfirmScreen
from vtui.screens.inventory import InventoryScreen
from vtui.screens.no_engines import Choice, NoEnginesScreen
from vtui.services.attach import open_console
from vtui.services.hub import Hub
from vtui.session import Session
from vtui.transport.hostkeys import HostKeyProblem

if TYPE_CHECKING:  # screens that are not on the first frame are imported when first shown (pyte, netlink)
    from vtui.links.wiring import Wiring
    from vtui.screens.consoles import ConsoleScreen
    from vtui.screens.hosts import HostsScreen

log = logging.getLogger(__name__)

LINKS_AFTER = 0.3  # seconds after start-up: the first frame is drawn without the links service


class VtuiApp(App[None]):
    CSS_PATH = "vtui.tcss"
    TITLE = "vtui"
    COMMANDS = App.COMMANDS | {InventoryCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark,f1", "toggle_help", "Help", id="help"),
        Binding("H", "hosts", "Hosts", id="hosts"),
        Binding("T", "labs", "Labs", id="labs"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.inventory_screen = InventoryScreen()
        self.console_config = session.config.console
        self._consoles: ConsoleScreen | None = None
        self._hosts_screen: HostsScreen | None = None  # the one shown last (H); it follows the inventory
        self._offered_demo = session.demo

    @property
    def hub(self) -> Hub:
        return self.session.hub(trust=self._ask_trust)

    @property
    def consoles(self) -> ConsoleScreen:
        """The console screen with a tab per open console (made when the first console opens)."""
        if self._consoles is None:
            from vtui.screens.consoles import ConsoleScreen

            self._consoles = ConsoleScreen(self.console_config.log_dir)
            self.install_screen(self._consoles, "consoles")
        return self._consoles

    @property
    def wiring(self) -> Wiring:
        return self.session.links

    def on_mount(self) -> None:
        if not self.is_headless:
            self._terminal_watch = watch_terminal(self._terminal_lost)
        self.set_keymap(self.session.config.keymap)
        self._start(self.session)
        self.push_screen(self.inventory_screen)

    def _start(self, session: Session) -> None:
        self.session = session
        hub = self.hub
        self.inventory_screen.hub = hub
        self.inventory_screen.links = lambda: self.wiring
        self.sub_title = "demo" if session.demo else _shown(session.hosts)
        hub.subscribe(self._published)  # its first snapshot has warm_up's nodes: on the first frame
        self.call_after_refresh(hub.start)  # its engine libraries load after that frame, not against it
        self.set_timer(LINKS_AFTER, lambda: self._start_links(session))

    def _start_links(self, session: Session) -> None:
        """The links service (the kinds, netlink) loads after the first frame: the detail pane lists a
        node's links from then on, and links are wired again when their nodes start."""
        if session is not self.session:  # the demo was chosen meanwhile
            return
        self.inventory_screen.links_shown = True
        self.wiring.on_rewired = lambda message: self.notify(message, title="Links")
        self.hub.subscribe(lambda inventory: self.wiring.follow(inventory.nodes))

    def _published(self, inventory: Inventory) -> None:
        changed = InventoryChanged(inventory, self.hub.stats.history)
        self.inventory_screen.post_message(changed)
        if self._hosts_screen is not None and self._hosts_screen in self.screen_stack:
            self._hosts_screen.post_message(changed)
        if inventory.all_unavailable and not self._offered_demo and not self.hub.links:  # hosts named: no demo
            self._offered_demo = True
            self.push_screen(NoEnginesScreen(inventory), self._no_engines_choice)

    async def _no_engines_choice(self, choice: Choice | None) -> None:
        if choice == "demo":
            await self.session.close()
            self._start(self.session.as_demo())
        elif choice == "quit":
            self.exit()

    async def _ask_trust(self, problem: HostKeyProblem) -> bool:
        """An unknown host key: shown with its fingerprint; recorded only if the user says yes."""
        question = f"Trust the SSH host key of {problem.who}?"
        detail = (f"{problem.pattern} is not in {problem.known_hosts}.\n{problem.algorithm} key fingerprint is "
                  f"{problem.fingerprint}.\nSay yes only if that is the host's fingerprint: it is then recorded "
                  "there, as ssh does.")
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        # asked from the hub's task, not a worker: push_screen_wait is not for it
        def answered(yes: bool | None) -> None:
            if not answer.done():
                answer.set_result(yes is True)

        self.push_screen(ConfirmScreen(question, detail), answered)
        return await answer

    def action_hosts(self) -> None:
        from vtui.screens.hosts import HostsScreen

        if not isinstance(self.screen, HostsScreen):
            self._hosts_screen = HostsScreen(self.hub)
            self.push_screen(self._hosts_screen)

    def action_labs(self) -> None:
        from vtui.screens.labs import LabsScreen

        if not isinstance(self.screen, LabsScreen):
            self.push_screen(LabsScreen(self.hub, self.wiring))

    def on_host_chosen(self, message: HostChosen) -> None:
        self.inventory_screen.show_host(message.host)

    def on_hosts_added(self, message: HostsAdded) -> None:
        """Recorded in the hosts file, and followed at once."""
        try:
            added = self.session.add_hosts(message.targets)
        except (VtuiError, ValueError, OSError) as problem:
            self.notify(str(problem), severity="error", timeout=8)
            return
        if not added:
            self.notify(f"{', '.join(message.targets)}: already in the hosts file", severity="warning")
            return
        self.sub_title = _shown(self.session.hosts)
        self.notify(f"added {', '.join(added)} to the hosts file; connecting…")

    def on_console_wanted(self, message: ConsoleWanted) -> None:
        self.run_worker(self.show_console(message.node, message.attach, message.start), group="console-open")

    async def show_console(self, node: Node, attach: bool = False, start: bool = False) -> None:
        """The node's console in a tab of the console screen: the open one, or a new one."""
        from vtui.screens.consoles import console_key

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
            except VtuiError as problem:
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
        self.exit(return_code=HUNG_UP)

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):  # by name: the panel (and markdown) is imported when first shown
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    async def on_unmount(self) -> None:
        await self.session.close()


def _shown(hosts: Sequence[str]) -> str:
    return ", ".join(hosts[:4]) + (f" and {len(hosts) - 4} more" if len(hosts) > 4 else "")


def describe_console(node: Node, attach: bool) -> str:
    what = "serial console of" if node.kind is Kind.VM else "terminal of" if attach else "shell in"
    return f"{what} {node.name!r} ({node.kind} on {node.host})"
