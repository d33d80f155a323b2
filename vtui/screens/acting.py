"""Carrying out a registered action from a screen of nodes: the questions first (a confirmation for
what destroys, a name typed out to delete a VM, the action's own options), then every node at once,
its progress on its row and its result as a notification."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from textual.screen import Screen

from vtui.actions import ACTIONS, SHUTDOWN_TIMEOUT, Action, Asked, Option, Options, ShutdownTimedOut
from vtui.backends.base import Capability
from vtui.errors import VtuiError
from vtui.model import Node
from vtui.screens.action_menu import ActionMenu
from vtui.screens.confirm import ConfirmScreen
from vtui.screens.prompt import PickScreen, PromptScreen
from vtui.services.hub import Hub
from vtui.widgets.node_table import NodeTable


class ActingScreen(Screen[None]):
    """A screen whose table's nodes the registered actions apply to (the inventory)."""

    shutdown_timeout = SHUTDOWN_TIMEOUT  # seconds before force-off is offered
    hub: Hub | None = None  # set by the app; actions go through it

    @property
    def table(self) -> NodeTable:
        raise NotImplementedError

    def targets(self) -> list[Node]:
        """The marked nodes, else the selected one."""
        raise NotImplementedError

    def action_menu(self) -> None:
        nodes = self.targets()
        if not nodes:
            return
        read_only = bool(self.hub and any(b.read_only for b in self.hub.backends))

        def chosen(name: str | None) -> None:
            if name:
                self.start_action(name, nodes)

        self.app.push_screen(ActionMenu(nodes, read_only), chosen)

    def start_action(self, name: str, nodes: Sequence[Node] | None = None) -> None:
        self.run_worker(self._act(ACTIONS[name], list(nodes or self.targets())), group="actions")

    async def _act(self, action: Action, nodes: list[Node]) -> None:
        fits = [n for n in nodes if action.applies_to(n)]
        if not fits:
            self.notify(f"{action.title} fits none of the chosen nodes", severity="warning")
            return
        options = await self._ask(action, fits)
        if options is None:
            return  # cancelled: nothing was done
        results = await asyncio.gather(*(self._act_on(action, n, options) for n in fits))
        if len(nodes) > 1:
            failed, skipped = results.count(False), len(nodes) - len(fits)
            summary = f"{action.title}: {results.count(True)} done, {failed} failed, {skipped} did not fit"
            self.notify(summary, severity="error" if failed else "information")

    async def _ask(self, action: Action, nodes: list[Node]) -> Options | None:
        """What the action needs from the user first, or None when they cancel.

        Destructive actions are confirmed; deleting a VM takes its name typed out.
        """
        options: dict[str, object] = {"timeout": self.shutdown_timeout}
        names = ", ".join(repr(n.name) for n in nodes[:5]) + (" …" if len(nodes) > 5 else "")
        for option in (o for o in action.options if o.asked in (Asked.TEXT, Asked.SNAPSHOT)):
            value = await self._ask_value(action, option, nodes, names)
            if not value:
                return None
            options[option.name] = value
        if action.name == "delete":  # cannot be undone: each name typed out
            for node in nodes:
                question = f"Delete VM {node.name!r}? Type its name to confirm."
                if await self.app.push_screen_wait(PromptScreen(question, node.name, must_equal=node.name)) is None:
                    return None
        elif action.destructive and not await self.app.push_screen_wait(
                ConfirmScreen(f"{action.title} {names}?", action.description)):
            return None
        for option in (o for o in action.options if o.asked is Asked.YES_NO):
            yes: bool = await self.app.push_screen_wait(ConfirmScreen(option.question, option.help))
            options[option.name] = yes
        return Options.of(options)

    async def _ask_value(self, action: Action, option: Option, nodes: list[Node], names: str) -> str | None:
        """A text option typed in, or a snapshot picked from the VM's; None when cancelled or there is none."""
        question = option.question.format(names=names, title=action.title)
        if option.asked is Asked.TEXT:
            return await self.app.push_screen_wait(PromptScreen(question, option.help))
        if len(nodes) != 1 or self.hub is None:
            self.notify(f"{action.title} works on one VM at a time", severity="warning")
            return None
        backend = self.hub.backend_for(nodes[0])
        snaps = await backend.snapshots(nodes[0]) if backend.supports(Capability.SNAPSHOTS) else []
        if not snaps:
            self.notify(f"{nodes[0].name!r} has no snapshots", severity="warning")
            return None
        choices = [(s.name, f"{s.name}  ({s.state}){'  current' if s.current else ''}  {s.description}")
                   for s in snaps]
        picked: str | None = await self.app.push_screen_wait(PickScreen(question, choices))
        return picked

    async def _act_on(self, action: Action, node: Node, options: Options) -> bool:
        """One node: progress on its row, the result as a notification; True when it worked."""
        assert self.hub is not None
        self.table.set_busy(node.key, action.name)
        try:
            done = await self.hub.perform(node, action.name, options)
            self.notify(done)
            return True
        except ShutdownTimedOut as err:
            self.table.set_busy(node.key, None)
            force = ConfirmScreen(f"{node.name!r} is still running.", f"{err}\n\nForce it off now?")
            return await self.app.push_screen_wait(force) and await self._act_on(ACTIONS["force-off"], node, options)
        except VtuiError as err:
            self.notify(str(err), severity="error", timeout=12)
            return False
        finally:
            self.table.set_busy(node.key, None)
