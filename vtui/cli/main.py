"""Command line: `vtui` runs the TUI, `vtui ls` lists without one. Each command imports what it
needs when it runs: the grammar (vtui.cli.parser) is all that `vtui --help` pays for."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from vtui.backends.registry import ENGINES
from vtui.cli.parser import parser
from vtui.errors import ConfigError, VtuiError

if TYPE_CHECKING:
    from vtui.session import Choices, Session

__all__ = ["choices", "main", "parser", "run"]


def choices(args: argparse.Namespace) -> Choices:
    """What the command line chose, for Session.open."""
    from vtui.session import Choices

    hosts = getattr(args, "hosts", None)
    if args.command == "trust":
        hosts = [args.target]
    return Choices(
        config=getattr(args, "config", None), demo=getattr(args, "demo", False),
        read_only=getattr(args, "read_only", False), hosts=hosts,
        addresses={name: getattr(args, name) for name in ENGINES if getattr(args, name, None)},
        left_out=frozenset(name for name in ENGINES if getattr(args, f"no_{name}", False)),
        interval=getattr(args, "interval", None))


def _log_to_file() -> None:
    state = Path(platformdirs.user_state_dir("vtui"))
    state.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=state / "vtui.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every VtuiError that reaches here is said as `vtui: SENTENCE` with its exit code."""
    args = parser().parse_args(argv)
    _log_to_file()
    try:
        return run(args)
    except VtuiError as err:
        print(f"vtui: {err}", file=sys.stderr)
        return err.exit_code


def run(args: argparse.Namespace) -> int:
    """Carry out the parsed command; the modules of each command are imported here, when it runs."""
    import asyncio

    if args.command == "discover":
        from vtui.cli.discover import run_discover
        from vtui.transport.scan_terms import PORTS

        return asyncio.run(run_discover(args.cidr, ports=args.ports or PORTS, concurrency=args.concurrency,
                                        rate=args.rate, timeout=args.timeout, json_out=args.json, add=args.add))
    if args.command == "link" and args.link_command == "kinds":
        from vtui.cli.links import print_kinds

        return print_kinds(args.json)
    if args.command == "lab" and not getattr(args, "hosts", None):
        from vtui.cli.labs import hosts_of

        args.hosts = hosts_of(args)  # the hosts of the lab's nodes
    from vtui.session import Session

    try:
        session = Session.open(choices(args))
    except ValueError as err:  # a target of the user's that the parser refused, in its own words
        raise ConfigError(str(err)) from err
    except OSError as err:  # a config or hosts file that cannot be read
        raise VtuiError(err.strerror or str(err)) from err
    if not args.command:
        session.warm_up()  # the first listings, read while textual loads
        from vtui.app import VtuiApp  # the TUI (and textual) only when needed

        app = VtuiApp(session)
        app.run()
        return app.return_code or 0
    return _command(args, session)


def _command(args: argparse.Namespace, session: Session) -> int:
    import asyncio

    from vtui.cli.trust import run_trust, trust_terminal_where_possible

    backends = session.backends
    if args.command == "trust":
        return asyncio.run(run_trust(backends, args.target, args.fingerprint, sys.stderr))
    trust_terminal_where_possible(backends)
    if args.command == "ls":
        from vtui.cli import ls

        return ls.run(args, backends, session.interval)
    if args.command == "logs":
        from vtui.cli.logs import print_logs

        return asyncio.run(print_logs(backends, args.node, args.tail, args.follow, sys.stdout))
    if args.command == "console":
        from vtui.cli import console

        return console.run(args, backends, session.config)
    if args.command in ("link", "bridge"):
        from vtui.cli import links

        return links.run(args, backends)
    if args.command == "lab":
        from vtui.cli import labs

        return labs.run(args, backends)
    from vtui.cli import actions

    if getattr(args, "query", None) == "snapshot-list":
        return actions.run_snapshot_list(args, backends)
    return actions.run(args, backends)
