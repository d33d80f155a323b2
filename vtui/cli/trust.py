"""Accepting an unknown host key from the command line: a question on the terminal like ssh's,
or `vtui trust HOST --fingerprint SHA256:…` where no one can be asked (no TUI)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from vtui.backends.base import Backend, host_links
from vtui.cli.terminal import answer_async
from vtui.errors import HostError
from vtui.transport import HostKeyError, Trust
from vtui.transport.hostkeys import HostKeyProblem


def terminal_trust(err: TextIO | None = None) -> Trust:
    """Asks on the terminal, as ssh does; only "yes" accepts."""

    async def ask(problem: HostKeyProblem) -> bool:
        out = err or sys.stderr
        print(f"The authenticity of {problem.who} can't be established.\n"
              f"{problem.algorithm} key fingerprint is {problem.fingerprint}.", file=out)
        reply = await answer_async("Are you sure you want to continue connecting (yes/no)? ", out)
        return reply.lower() in ("yes", problem.fingerprint.lower())  # as ssh: "y" is not enough

    return ask


def matching(fingerprint: str) -> Trust:
    """Accepts exactly the key with this fingerprint (SHA256:…, as vtui and ssh print it)."""

    async def check(problem: HostKeyProblem) -> bool:
        return problem.fingerprint == fingerprint.strip()

    return check


def trust_terminal_where_possible(backends: Sequence[Backend]) -> None:
    """With a terminal, an unknown key is asked about; without one, it is refused (and the error says how
    to accept it)."""
    if sys.stdin.isatty() and sys.stderr.isatty():
        for link in host_links(backends).values():
            link.trust = terminal_trust()


async def run_trust(backends: Sequence[Backend], host: str, fingerprint: str | None, err: TextIO) -> int:
    """`vtui trust HOST`: connect, and record the host's key if the user (or --fingerprint) accepts it."""
    links = list(host_links(backends).values())  # the one host named
    if not links:
        print(f"vtui: {host!r} is not a remote host of this session (name it as in hosts.toml, or as "
              "user@host:port)", file=err)
        return 2
    link = links[0]
    if fingerprint:
        link.trust = matching(fingerprint)
    elif sys.stdin.isatty():
        link.trust = terminal_trust(err)
    else:
        link.trust = None
    try:
        await link.connect()
    except HostKeyError as problem:
        if fingerprint and not problem.problem.changed and not problem.problem.jump_of:
            print(f"vtui: {host}: the key shown is {problem.problem.fingerprint}, not {fingerprint}; "
                  "nothing was recorded", file=err)
        else:
            print(f"vtui: {problem.reason}", file=err)
        return 1
    except HostError as problem:
        print(f"vtui: {host}: {problem.reason}", file=err)
        return 1
    finally:
        await link.close()
    print(f"{host}: the host key is trusted", file=err)
    return 0
