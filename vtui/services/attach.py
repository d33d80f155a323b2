"""Opening a node's console the way a person expects: a console held by another client is
offered to be taken over, a stopped node to be started (a paused one resumed) first."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from vtui.actions import ACTIONS
from vtui.backends.base import Backend
from vtui.console.session import ConsoleBusy, ConsoleRequest, ConsoleSession, NotRunning
from vtui.model import Node

Ask = Callable[[str], Awaitable[bool]]  # a yes/no question to the user


def wake_action(node: Node) -> str:
    """What brings a node without a console to life: resume when it is paused, else start."""
    return "resume" if ACTIONS["resume"].applies_to(node) else "start"


async def open_console(backend: Backend, node: Node, request: ConsoleRequest, ask: Ask) -> ConsoleSession:
    """The node's console; raises the ConsoleError the user declined to get past."""
    try:
        return await backend.open_console(node, request)
    except ConsoleBusy as busy:
        if not await ask(f"{busy}. Take it over?"):
            raise
        return await backend.open_console(node, dataclasses.replace(request, force=True))
    except NotRunning as stopped:
        verb = wake_action(node)
        if not await ask(f"{stopped}. {verb.capitalize()} it and attach?"):
            raise
        await backend.perform(node, verb)
        return await backend.open_console(await _fresh(backend, node), request)


async def _fresh(backend: Backend, node: Node) -> Node:
    """The node as its engine now reports it."""
    for current in await backend.list_nodes():
        if current.key == node.key:
            return current
    raise NotRunning(f"{node.name!r} disappeared from {node.host}")
