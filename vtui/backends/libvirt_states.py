"""libvirt's domain states and reasons, mapped to vtui's states and words.

Tables follow libvirt-domain.h (virDomainState and the per-state reason enums).
"""

from __future__ import annotations

import libvirt

from vtui.model import State

# virDomainState -> (normalised state, libvirt's own name)
STATES: dict[int, tuple[State, str]] = {
    0: (State.UNKNOWN, "nostate"),
    1: (State.RUNNING, "running"),
    2: (State.RUNNING, "blocked"),
    3: (State.PAUSED, "paused"),
    4: (State.SHUTTING_DOWN, "shutdown"),
    5: (State.STOPPED, "shutoff"),
    6: (State.CRASHED, "crashed"),
    7: (State.SUSPENDED, "pmsuspended"),
}

_RUNNING = [
    "unknown", "booted", "migrated", "restored", "from snapshot", "unpaused",
    "migration canceled", "save canceled", "wakeup", "crashed", "postcopy",
    "postcopy failed",
]
_PAUSED = [
    "unknown", "user", "migration", "save", "dump", "I/O error", "watchdog",
    "from snapshot", "shutting down", "snapshot", "crashed", "starting up",
    "postcopy", "postcopy failed", "API error",
]
_SHUTOFF = [
    "unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
    "from snapshot", "daemon",
]
REASONS: dict[int, list[str]] = {
    0: ["unknown"],
    1: _RUNNING,
    2: ["unknown"],
    3: _PAUSED,
    4: ["unknown", "user"],
    5: _SHUTOFF,
    6: ["unknown", "panicked"],
    7: ["unknown"],
}


def in_words(state: int, reason: int) -> str:
    """A libvirt state as a phrase: 'shut off (destroyed)', 'crashed (panicked)'."""
    _normal, native, why = describe(state, reason)
    native = "shut off" if native == "shutoff" else native
    return f"{native} ({why})" if why else native


def describe(state: int, reason: int) -> tuple[State, str, str]:
    """(normalised state, native state name, reason text) for a libvirt pair."""
    normal, native = STATES.get(state, (State.UNKNOWN, f"state {state}"))
    reasons = REASONS.get(state, ["unknown"])  # every state's reason 0 is "unknown"
    text = reasons[reason] if 0 <= reason < len(reasons) else f"reason {reason}"
    return normal, native, "" if text == "unknown" else text


def state_word(dom: libvirt.virDomain) -> str:
    """The state the domain is in now, as vtui names it ("stopped", "running")."""
    return str(describe(*dom.state())[0])
