"""One tree of errors: every failure vtui explains is a VtuiError, and its text is the sentence
the user sees (it names the host, node, file or link, and what to do). Callers catch the root or
one branch; the CLI turns any of them into `vtui: SENTENCE` and the branch's exit code in one
place (vtui.cli.main), the TUI into a notice.

    VtuiError
    ├── ConfigError      a file or an argument of the user's (FILE, line N: KEY: what)   exit 2
    ├── NotFound         a name that matches no node, or more than one                    exit 2
    ├── Refused          an action that does not fit the node, or is not allowed now
    ├── HostError        a host that cannot be reached (SSH, its key, its sockets)
    ├── EngineError      an engine (libvirtd, dockerd) that cannot be reached or was lost
    ├── CommandFailed    a command on a host that ran and failed
    ├── LogsUnavailable  a node's log that cannot be read
    ├── ConsoleError     a console that cannot be opened or was lost
    ├── LinkError        a link that cannot be made, read or changed
    └── LabError         a lab that cannot be deployed, changed or destroyed

Subclasses that carry more for a caller to act on live beside the code that raises them
(ConsoleBusy, NotRunning, HostKeyError, ShutdownTimedOut, …).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from vtui.model import HostState  # for the annotation only: nothing of vtui's is imported by the tree

USAGE = 2  # the CLI's exit code when what the user gave is wrong (argparse's own)


class VtuiError(Exception):
    """A failure said in a sentence a person can act on: str(error)."""

    exit_code: ClassVar[int] = 1


class ConfigError(VtuiError):
    """A problem in a file of vtui's or an argument, phrased for the person who edits it."""

    exit_code = USAGE


class NotFound(VtuiError):
    """A name that matches no node, or more than one; the message lists what would."""

    exit_code = USAGE


class Refused(VtuiError):
    """An action that does not fit the node, or is not allowed; the message says why, in words that
    name no key or command. `remedy`, when set, is the action (of ACTIONS) that gets past it: the
    front end says how to run it (the CLI its command, the TUI its offer)."""

    def __init__(self, message: str, remedy: str | None = None) -> None:
        super().__init__(message)
        self.remedy = remedy


class HostError(VtuiError):
    """A host or its engine cannot be reached; `reason` is a sentence a person can act on, `state`
    what the hosts view shows."""

    def __init__(self, state: HostState, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


class EngineError(VtuiError):
    """An engine cannot be reached or was lost; `reason` is a sentence a person can act on."""

    def __init__(self, host: str, engine: str, reason: str) -> None:
        super().__init__(f"{engine} on {host}: {reason}")
        self.host = host
        self.engine = engine
        self.reason = reason


class CommandFailed(VtuiError):
    """A command on a host ran but failed (exit status, timeout, output not understood)."""


class LogsUnavailable(VtuiError):
    """A node's log cannot be read; the message says why, in words a person can act on."""


class ConsoleError(VtuiError):
    """A console that cannot be opened or was lost; the message says why."""


class LinkError(VtuiError):
    """A link that cannot be made or changed; the message names the node, interface and reason."""


class LabError(VtuiError):
    """A lab that cannot be deployed, changed or destroyed; the message says why, by node and host."""
