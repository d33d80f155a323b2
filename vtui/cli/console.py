"""`vtui console NODE`: the node's console on this terminal until ctrl+] (no UI)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from vtui.backends.base import Backend, backend_for
from vtui.cli.ls import connected, described
from vtui.cli.terminal import agreed, answer_async
from vtui.config.settings import Config
from vtui.console.fullscreen import ESCAPE_NAME, hand_over
from vtui.console.relay import Relay
from vtui.console.session import ConsoleRequest
from vtui.errors import NotFound, VtuiError
from vtui.model.refs import NodeRef
from vtui.services.attach import open_console


async def run_console(
    backends: Sequence[Backend], ref: NodeRef, request: ConsoleRequest, *, log: Path | None = None,
    start: bool = False, fd_in: int = 0, fd_out: int = 1, err: TextIO | None = None,
) -> int:
    """Returns the exit status: 0 after ctrl+] or when the console ended, 1 when it could not be
    opened, 2 for a name that resolves to no node or without a terminal."""
    err = err or sys.stderr
    if not (os.isatty(fd_in) and os.isatty(fd_out)):
        print("vtui: `vtui console` needs a terminal (use `vtui logs` to read a node's output)", file=err)
        return 2

    async def ask(question: str) -> bool:
        if start or request.force:  # what the options already answered
            return True
        return agreed(await answer_async(f"vtui: {question} [y/N] ", err))

    async with connected(backends) as (listed, failures):
        try:
            node = ref.find([n for nodes in listed.values() for n in nodes])
        except NotFound as problem:
            for failure in described(failures):
                print(f"vtui: {failure}", file=err)
            print(f"vtui: {problem}", file=err)
            return 2
        try:
            session = await open_console(backend_for(listed, node), node, request, ask)
        except VtuiError as problem:
            print(f"vtui: {problem}", file=err)
            return 1
        relay = Relay(session)
        try:
            if log is not None:
                relay.log_to(log)
        except OSError as problem:
            await session.close()
            print(f"vtui: cannot log to {log}: {problem.strerror}", file=err)
            return 1
        banner = f"Connected to {node.name!r} ({node.kind} on {node.host}); {ESCAPE_NAME} leaves.\r\n"
        reader = asyncio.create_task(relay.run())
        try:
            outcome = await hand_over(relay, fd_in=fd_in, fd_out=fd_out, preface=banner.encode())
        finally:
            await session.close()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        print("" if outcome == "escaped" else f"vtui: the console of {node.name!r} ended", file=err)
    return 0


def run(args: argparse.Namespace, backends: Sequence[Backend], config: Config) -> int:
    """`vtui console NODE`, its options read against the config's."""
    try:
        command = tuple(shlex.split(args.shell)) if args.shell else config.console.shell
    except ValueError as err:
        print(f"vtui: --shell: cannot split into words: {err}", file=sys.stderr)
        return 2
    request = ConsoleRequest(attach=args.attach, command=command, user=args.user or config.console.user,
                             force=args.force)
    return asyncio.run(run_console(backends, args.node, request, log=args.log, start=args.start))
