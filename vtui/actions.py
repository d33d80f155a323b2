"""The one registry of actions: what exists, what it applies to, whether it destroys, and the
options it takes.

The CLI verbs and flags, the TUI's menus, keys, palette and questions all read this table;
the backends carry the actions out (and refuse them in read-only mode).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum

from vtui.errors import Refused
from vtui.model import Kind, Node, State

VM, CT = frozenset({Kind.VM}), frozenset({Kind.CONTAINER})
BOTH = VM | CT
S = State


class Asked(StrEnum):
    """How the TUI gets an option's value (the CLI always takes it from its flag or argument)."""

    NOT = "not asked"  # the CLI's flag only; the TUI uses the default (or its config)
    YES_NO = "yes or no"  # a question answered y or n
    TEXT = "text"  # typed in
    SNAPSHOT = "a snapshot"  # picked from the VM's snapshots


@dataclass(frozen=True)
class Option:
    """One value an action takes besides the nodes; `name` is its key in the options and its CLI flag."""

    name: str
    type: type[float] | type[bool] | type[str]
    help: str  # the CLI's help, and the TUI question's detail
    asked: Asked = Asked.NOT
    question: str = ""  # the TUI's, with {names} for the nodes: "Also remove their anonymous volumes?"
    positional: bool = False  # the CLI takes it after the node, not as --name (one node at a time)
    metavar: str | None = None


@dataclass(frozen=True)
class Options:
    """The values of an action's options, typed: a field per option name of the registry (an action
    reads the fields its options name; the others keep their defaults)."""

    timeout: float | None = None  # seconds; None: the action's own default
    volumes: bool = False
    storage: bool = False
    snapshot: str = ""
    description: str = ""

    @classmethod
    def of(cls, values: Mapping[str, object]) -> Options:
        """From the CLI's flags or the TUI's answers, by option name (None: not given). A name that is
        no field is a programming error: TypeError."""
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise TypeError(f"no action option is named {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]


TIMEOUT = Option("timeout", float, "seconds to wait (shutdown: 60, then suggest force-off; stop: 10, then SIGKILL)",
                 metavar="SECONDS")
SNAPSHOT = Option("snapshot", str, "the snapshot's name", Asked.SNAPSHOT, "{title}: which snapshot of {names}?",
                  positional=True, metavar="NAME")


@dataclass(frozen=True)
class Action:
    name: str  # the CLI verb and the binding id
    title: str
    kinds: frozenset[Kind]
    states: frozenset[State]  # the states it applies in
    description: str
    done: str  # past tense, for results: "paused"
    destructive: bool = False  # asks first; --yes without a terminal
    key: str | None = None
    options: tuple[Option, ...] = ()

    def applies_to(self, node: Node) -> bool:
        return node.kind in self.kinds and node.state in self.states


_STOPPED = frozenset({S.STOPPED, S.CRASHED, S.CREATED, S.DEAD})
_RUNNING_VM = frozenset({S.RUNNING})
_LIVE_VM = frozenset({S.RUNNING, S.PAUSED})
_SNAPSHOTTABLE = frozenset({S.RUNNING, S.PAUSED, S.STOPPED})
_ANY_VM = frozenset({S.RUNNING, S.PAUSED, S.SHUTTING_DOWN, S.STOPPED, S.CRASHED, S.SUSPENDED})
ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("start", "Start", BOTH, _STOPPED, "boot the VM (restoring a managed save) or start the container",
           "started", key="U"),
    Action("shutdown", "Shut down", VM, _RUNNING_VM, "ask the guest to power off (ACPI); force off after a timeout",
           "shut down", key="D", options=(TIMEOUT,)),
    Action("force-off", "Force off", VM, frozenset({S.RUNNING, S.PAUSED, S.SHUTTING_DOWN, S.CRASHED,
                                                      S.SUSPENDED}),
           "cut the VM's power at once (virsh destroy)", "forced off", destructive=True, key="F"),
    Action("reboot", "Reboot", VM, _RUNNING_VM, "ask the guest to reboot", "rebooted", key="R"),
    Action("reset", "Reset", VM, _RUNNING_VM, "press the VM's reset button", "reset", destructive=True),
    Action("pause", "Pause", BOTH, frozenset({S.RUNNING}), "freeze the VM's CPUs or the container's processes",
           "paused", key="P"),
    Action("resume", "Resume", BOTH, frozenset({S.PAUSED}), "unfreeze a paused VM or container", "resumed", key="P"),
    Action("stop", "Stop", CT, frozenset({S.RUNNING, S.PAUSED, S.RESTARTING}),
           "SIGTERM, then SIGKILL after the timeout", "stopped", key="D", options=(TIMEOUT,)),
    Action("restart", "Restart", CT, frozenset({S.RUNNING, S.PAUSED, S.STOPPED, S.CREATED}),
           "stop (with the timeout) and start the container", "restarted", key="R", options=(TIMEOUT,)),
    Action("kill", "Kill", CT, frozenset({S.RUNNING}), "send SIGKILL to the container", "killed", destructive=True,
           key="K"),
    Action("remove", "Remove", CT, _STOPPED, "delete the container (and, asked for, its volumes)", "removed",
           destructive=True, key="X", options=(Option(
               "volumes", bool, "also remove the container's anonymous volumes (named volumes stay)", Asked.YES_NO,
               "Also remove their anonymous volumes?"),)),
    # VMs beyond power: managed save, snapshots, autostart, undefine. The CLI groups
    # snapshot-* as `vtui snapshot create|revert|delete` and autostart-* as `vtui autostart on|off`.
    Action("save", "Save", VM, _LIVE_VM, "write the VM's memory to disk and stop it (managed save); start resumes it",
           "saved", key="W"),
    Action("restore", "Restore", VM, frozenset({S.STOPPED}), "resume a VM from its managed save image", "restored"),
    Action("snapshot-create", "Snapshot", VM, _SNAPSHOTTABLE,
           "take a named snapshot of the VM's disks (and memory, when it runs)", "snapshotted", options=(
               Option("snapshot", str, "the snapshot's name, e.g. pre-upgrade", Asked.TEXT,
                      "Name the snapshot of {names}", positional=True, metavar="NAME"),
               Option("description", str, "a note kept with the snapshot", metavar="TEXT"))),
    Action("snapshot-revert", "Revert", VM, _SNAPSHOTTABLE | {S.CRASHED},
           "roll the VM back to a snapshot, discarding its current state", "reverted", destructive=True,
           options=(SNAPSHOT,)),
    Action("snapshot-delete", "Del snapshot", VM, _SNAPSHOTTABLE | {S.CRASHED}, "delete one of the VM's snapshots",
           "deleted a snapshot of", destructive=True, options=(SNAPSHOT,)),
    Action("autostart-on", "Autostart on", VM, _ANY_VM, "start the VM when the host boots", "enabled autostart of"),
    Action("autostart-off", "Autostart off", VM, _ANY_VM, "do not start the VM when the host boots",
           "disabled autostart of"),
    Action("delete", "Delete", VM, frozenset({S.STOPPED}),
           "undefine the VM with its managed save, snapshot metadata and NVRAM (asked for, its disk volumes too)",
           "deleted", destructive=True, key="X", options=(Option(
               "storage", bool, "also delete the VM's disk volumes (those in a libvirt storage pool, used by no "
               "other VM)", Asked.YES_NO, "Also delete their disk volumes?"),)),
)}


def keyed() -> dict[str, list[Action]]:
    """Each direct key and the actions it stands for (a VM's and a container's may share one)."""
    by_key: dict[str, list[Action]] = {}
    for action in ACTIONS.values():
        if action.key:
            by_key.setdefault(action.key, []).append(action)
    return by_key


SHUTDOWN_TIMEOUT = 60.0  # seconds a guest gets to power off before force-off is offered




class ShutdownTimedOut(Refused):
    """The guest did not power off in time; force-off is the way out."""
