"""Why a node stopped: the engine's reason, when, exit code and OOM flag, and its last log lines (no UI)."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

from vtui.backends.base import Backend, Capability
from vtui.errors import EngineError, VtuiError
from vtui.model import Node, State
from vtui.model.format import detail

STOPPED_STATES = frozenset({State.STOPPED, State.CRASHED, State.DEAD, State.CREATED})
LOG_LINES = 12
# libvirt's QEMU log: "2026-11-21 07:14:24.714+0000: shutting down, reason=destroyed"
_QEMU_STOP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d+\+0000: shutting down, reason=(\S+)")


@dataclass(frozen=True)
class StopReport:
    node: Node
    why: str  # the engine's words: "shutoff: destroyed", "exited: exit code 137"
    when: str = ""  # UTC, as the engine reported it
    facts: list[str] = field(default_factory=list)  # exit code, OOM killed, error
    log: list[str] = field(default_factory=list)
    problem: str = ""  # why part of the report could not be had


async def stop_report(backend: Backend, node: Node) -> StopReport:
    log: list[str] = []
    problem = ""
    try:
        log = [line async for line in backend.logs(node, tail=LOG_LINES)]
    except VtuiError as err:
        problem = str(err)
    when, facts = "", []
    if backend.supports(Capability.EXIT_STATE):
        state: dict[str, object] = {}
        with contextlib.suppress(EngineError):
            state = await backend.exit_state(node)
        if state:
            when = str(state.get("FinishedAt", ""))[:19].replace("T", " ")
            if "exit code" not in node.reason:  # the list's status may have said it already
                facts.append(f"exit code {state.get('ExitCode')}")
            if state.get("OOMKilled"):
                facts.append("killed by the kernel's OOM killer (out of memory)")
            if state.get("Error"):
                facts.append(f"error: {state['Error']}")
    else:
        for line in reversed(log):
            if m := _QEMU_STOP.match(line):
                when, reason = m.groups()
                facts.append(f"QEMU stopped: reason={reason}")
                break
    return StopReport(node, detail(node), when.removeprefix("0001-01-01 00:00:00"), facts, log, problem)
