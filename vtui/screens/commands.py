"""Command palette entries for the inventory screen."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from vtui.screens.action_menu import fitting
from vtui.screens.inventory import InventoryScreen
from vtui.widgets.node_table import COLUMNS, SORTABLE


class InventoryCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        if not isinstance(screen, InventoryScreen):
            return []
        commands: list[tuple[str, str, Callable[[], object]]] = [
            ("Filter nodes", "Type words to narrow the table (/)", screen.action_filter),
            ("Clear filter", "Show every node again (escape)", screen.action_clear_filter),
            ("Links", "Every link with its state, impairments and rates (L)", screen.action_links),
            ("Wire marked nodes", "A link between two marked nodes, a segment of more (w)", screen.action_wire),
        ]
        targets = screen.targets()
        who = targets[0].name if len(targets) == 1 else f"{len(targets)} marked nodes"
        for action, _count in fitting(targets):
            commands.append((f"{action.title} {who}", action.description, partial(screen.start_action, action.name)))
        for column in SORTABLE:
            label = COLUMNS[column][0].lower()
            commands.append((f"Sort by {label}", f"Order rows by {label}", partial(screen.sort_by, column)))
        return commands

    async def discover(self) -> Hits:
        for name, help_text, run in self._commands():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, run in self._commands():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
