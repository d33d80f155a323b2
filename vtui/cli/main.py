"""Command line: `vtui` runs the TUI, `vtui ls` lists without one."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from vtui.actions import ACTIONS
from vtui.backends import Backend
from vtui.backends.registry import ENGINES
from vtui.cli import labs, links
from vtui.cli.actions import GROUPS, act, snapshot_list
from vtui.cli.console import run_console
from vtui.cli.discover import run_discover
from vtui.cli.logs import DEFAULT_TAIL, print_logs, tail_arg
from vtui.cli.ls import described, list_all, table
from vtui.cli.terminal import agreed, answer, columns
from vtui.cli.trust import run_trust, trust_terminal_where_possible
from vtui.config.settings import Config
from vtui.console.session import ConsoleRequest
from vtui.errors import ConfigError, VtuiError
from vtui.model import SnapshotInfo
from vtui.model.refs import NodeRef
from vtui.model.stats import NodeStats
from vtui.session import Choices, Session
from vtui.transport.discovery import PORTS

NODES_HELP = "NAME, HOST/NAME or HOST/KIND/NAME"


def _common_options() -> argparse.ArgumentParser:
    # SUPPRESS lets the options stand before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    opt = common.add_argument
    opt("--demo", action="store_true", default=argparse.SUPPRESS,
        help="use the embedded demo (libvirt's test driver) instead of this host's engines")
    opt("--config", type=Path, default=argparse.SUPPRESS, metavar="FILE",
        help="config file (default: $VTUI_CONFIG or ~/.config/vtui/config.toml)")
    for engine in ENGINES.values():
        opt(f"--{engine.name}", default=argparse.SUPPRESS, metavar=engine.address,
            help=f"{engine.name} {engine.address} on this machine (default: {engine.default()})")
    for engine in ENGINES.values():
        opt(f"--no-{engine.name}", action="store_true", default=argparse.SUPPRESS, help=f"leave {engine.name} out")
    opt("--interval", type=float, default=argparse.SUPPRESS, metavar="SECONDS",
        help="seconds between stats samples (default: the config's, or 1)")
    opt("--read-only", action="store_true", default=argparse.SUPPRESS,
        help="refuse every action that changes a VM or container")
    opt("--host", action="append", default=argparse.SUPPRESS, metavar="TARGET", dest="hosts",
        help="a host to show, instead of those of hosts.toml: user@host:port, a ~/.ssh/config alias, a name "
             "from hosts.toml, or 'local' (repeatable)")
    return common


def parser() -> argparse.ArgumentParser:
    common = _common_options()
    top = argparse.ArgumentParser(
        prog="vtui", parents=[common],
        description="Keyboard-driven manager for libvirt VMs and Docker containers.")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    ls = sub.add_parser("ls", parents=[common], help="list VMs and containers and exit")
    ls.add_argument("--json", action="store_true", help="print a JSON array of nodes")
    ls.add_argument("--stats", action="store_true",
                    help="add CPU, memory, disk and network figures, sampled over --interval")
    grouped = {f"{group}-{sub}" for group, subs in GROUPS.items() for sub in subs}
    logs = sub.add_parser("logs", parents=[common], help="print a VM's or container's log")
    logs.add_argument("node", metavar="NODE", type=NodeRef.parse, help=NODES_HELP)
    logs.add_argument("--tail", type=tail_arg, default=DEFAULT_TAIL, metavar="N",
                      help="last N lines, or 'all' (default 200)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    _console_parser(sub, common)
    _discover_parser(sub, common)
    trust = sub.add_parser(
        "trust", parents=[common], help="accept a remote host's SSH key (recorded in ~/.ssh/known_hosts)",
        description="Connects to the host and shows its key's fingerprint; the key is recorded only if you "
                    "say yes, or if it matches --fingerprint.")
    trust.add_argument("target", metavar="HOST", help="a name from hosts.toml, or user@host:port")
    trust.add_argument("--fingerprint", metavar="SHA256:…", help="accept the key only if it has this fingerprint")
    for action in ACTIONS.values():
        if action.name not in grouped:
            _verb_parser(sub, action.name, action.name, common)
    _snapshot_parser(sub, common)
    links.add_parser(sub, common)
    links.add_bridge_parser(sub, common)
    labs.add_parser(sub, common)
    autostart = sub.add_parser("autostart", parents=[common], help="start VMs when the host boots, or not",
                               description="Autostart: whether libvirt starts the VMs when the host boots.")
    switch = autostart.add_subparsers(dest="switch", metavar="on|off", required=True)
    for state in GROUPS["autostart"]:
        _verb_parser(switch, state, f"autostart-{state}", common)
    return top


def _console_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    console = sub.add_parser(
        "console", parents=[common], help="a VM's serial console or a container's shell, on this terminal",
        description="Opens the node's console on this terminal; ctrl+] leaves it (the node keeps running).")
    opt = console.add_argument
    opt("node", metavar="NODE", type=NodeRef.parse, help=NODES_HELP)
    opt("--attach", action="store_true", help="a container's own terminal (docker attach) instead of a shell")
    opt("--shell", metavar="COMMAND", help="a container shell's command (default: the config's, or bash, else sh)")
    opt("--user", metavar="USER", help="the user a container shell runs as")
    opt("--force", action="store_true", help="take a VM's console over from another client without asking")
    opt("--start", action="store_true", help="start (or resume) a node that is not running without asking")
    opt("--log", type=Path, metavar="FILE", help="also append everything the console prints to FILE")


def _discover_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                     common: argparse.ArgumentParser) -> None:
    discover = sub.add_parser(
        "discover", parents=[common], help="scan a network for hosts with SSH, libvirt or docker ports",
        description="Tries TCP connects to every address of the range (no external scanner) and lists the hosts "
                    "that answer on SSH (22), libvirt (16509, 16514) or docker (2375, 2376).")
    opt = discover.add_argument
    opt("cidr", metavar="CIDR", help="the range, e.g. 192.168.1.0/24, or one address")
    opt("--ports", default=None, metavar="SPEC", help="services to try, e.g. ssh,docker:2375,16509 (default: all five)")
    opt("--concurrency", type=int, default=256, metavar="N", help="connections at once (default 256)")
    opt("--rate", type=float, default=500.0, metavar="N", help="connection attempts per second (default 500)")
    opt("--timeout", type=float, default=1.0, metavar="SECONDS", help="per connect and banner read (default 1)")
    opt("--json", action="store_true", help="print a JSON array of the hosts that answered")
    opt("--add", action="store_true", help="add the hosts that answer on SSH to hosts.toml")


def _verb_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], verb: str, name: str, common: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """The subcommand of one registered action: `VERB NODE…` and the action's options as flags, or
    `VERB NODE ARG` when an option is positional (one node at a time)."""
    action = ACTIONS[name]
    parser = sub.add_parser(verb, parents=[common], help=action.description,
                            description=f"{action.title}: {action.description}.")
    parser.set_defaults(action=name)
    one_node = any(o.positional for o in action.options)
    parser.add_argument("nodes", nargs=1 if one_node else "+", metavar="NODE", type=NodeRef.parse, help=NODES_HELP)
    for option in action.options:
        if option.positional:
            parser.add_argument(option.name, metavar=option.metavar, help=option.help)
        elif option.type is bool:
            parser.add_argument(f"--{option.name}", action="store_true", help=option.help)
        else:
            parser.add_argument(f"--{option.name}", type=option.type, metavar=option.metavar, help=option.help)
    parser.add_argument("--json", action="store_true", help="print a JSON array of results")
    if action.destructive:
        parser.add_argument("--yes", action="store_true", help="do not ask (required without a terminal)")
    return parser


def _snapshot_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    snapshot = sub.add_parser("snapshot", parents=[common], help="create, list, revert to or delete a VM's snapshots",
                              description="Snapshots of a VM: its disks (qcow2), and its memory when it runs.")
    verbs = snapshot.add_subparsers(dest="snapshot_command", metavar="SUBCOMMAND", required=True)
    listing = verbs.add_parser("list", parents=[common], help="list a VM's snapshots",
                               description="List a VM's snapshots, oldest first.")
    listing.set_defaults(query="snapshot-list")
    listing.add_argument("node", metavar="NODE", type=NodeRef.parse, help=NODES_HELP)
    listing.add_argument("--json", action="store_true", help="print a JSON array of snapshots")
    for verb in GROUPS["snapshot"]:
        _verb_parser(verbs, verb, f"snapshot-{verb}", common)


def choices(args: argparse.Namespace) -> Choices:
    """What the command line chose, for Session.open."""
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


def cmd_ls(args: argparse.Namespace, backends: list[Backend], interval: float) -> int:
    listing = asyncio.run(list_all(backends, stats_over=interval if args.stats else None))
    for problem in described(listing.failures) + listing.notes:
        print(f"vtui: {problem}", file=sys.stderr)
    if args.json:
        nodes = [n.to_json() | (listing.stats.get(n.key, NodeStats()).to_json() if args.stats else {})
                 for n in listing.nodes]
        json.dump(nodes, sys.stdout, indent=2)
        print()
    else:
        print(table(listing.nodes, listing.stats if args.stats else None))
    return 1 if listing.failures else 0


def _confirmed(args: argparse.Namespace) -> bool:
    """Destructive actions ask first; without a terminal to ask, only --yes will do."""
    action = ACTIONS[args.action]
    if not action.destructive or args.yes:
        return True
    if not sys.stdin.isatty():
        verb = " ".join(args.action.split("-", 1)) if args.action.startswith("snapshot-") else action.name
        print(f"vtui: {verb} is destructive and there is no terminal to ask: pass --yes", file=sys.stderr)
        return False
    if action.name == "delete":
        return all(_name_typed(ref, args.storage) for ref in args.nodes)
    names = ", ".join(repr(str(n)) for n in args.nodes)
    if snapshot := getattr(args, "snapshot", None):
        names += f", snapshot {snapshot!r}"
    return agreed(answer(f"{action.title} {names}? {action.description}. [y/N] "))


def _name_typed(ref: NodeRef, storage: bool) -> bool:
    """Deleting a VM cannot be undone: the user types its name, not just y."""
    name = ref.name
    print(f"Delete the VM {name!r}{' and its disk volumes' if storage else ''}? This cannot be undone.")
    if answer("Type the VM's name to confirm: ") == name.strip():
        return True
    print(f"vtui: that is not {name!r}; nothing was deleted", file=sys.stderr)
    return False


def cmd_act(args: argparse.Namespace, backends: list[Backend]) -> int:
    if not _confirmed(args):
        return 2
    options = {option.name: getattr(args, option.name) for option in ACTIONS[args.action].options}
    outcome = asyncio.run(act(backends, args.action, args.nodes, options))
    for problem in outcome.problems:
        print(f"vtui: {problem}", file=sys.stderr)
    if args.json:
        json.dump([r.to_json() for r in outcome.results], sys.stdout, indent=2)
        print()
    else:
        for result in outcome.results:
            print(result.message if result.ok else f"failed: {result.message}",
                  file=sys.stdout if result.ok else sys.stderr)
    if outcome.problems and not outcome.results:
        return 2  # nothing was done: a name did not resolve
    return 0 if all(r.ok for r in outcome.results) else 1


def cmd_snapshot_list(args: argparse.Namespace, backends: list[Backend]) -> int:
    listing = asyncio.run(snapshot_list(backends, args.node))
    for problem in listing.problems:
        print(f"vtui: {problem}", file=sys.stderr)
    if listing.node is None:
        return 2
    if listing.error:
        print(f"failed: {listing.error}", file=sys.stderr)
        return 1
    if args.json:
        json.dump([s.to_json() for s in listing.snapshots], sys.stdout, indent=2)
        print()
    elif listing.snapshots:
        print(snapshot_table(listing.snapshots))
    else:
        print(f"{listing.node.name!r} has no snapshots")
    return 0


def snapshot_table(snapshots: Sequence[SnapshotInfo]) -> str:
    return columns([("NAME", "CREATED", "STATE", "CURRENT", "DESCRIPTION")] + [
        (s.name, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created)), s.state, "*" if s.current else "",
         " ".join(s.description.split())) for s in snapshots])


def cmd_console(args: argparse.Namespace, backends: list[Backend], config: Config) -> int:
    try:
        command = tuple(shlex.split(args.shell)) if args.shell else config.console.shell
    except ValueError as err:
        print(f"vtui: --shell: cannot split into words: {err}", file=sys.stderr)
        return 2
    request = ConsoleRequest(attach=args.attach, command=command, user=args.user or config.console.user,
                             force=args.force)
    return asyncio.run(run_console(backends, args.node, request, log=args.log, start=args.start))


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
    if args.command == "discover":
        return asyncio.run(run_discover(args.cidr, ports=args.ports or PORTS, concurrency=args.concurrency,
                                        rate=args.rate, timeout=args.timeout, json_out=args.json, add=args.add))
    if args.command == "lab" and not getattr(args, "hosts", None):
        args.hosts = labs.hosts_of(args)  # the hosts of the lab's nodes
    try:
        session = Session.open(choices(args))
    except ValueError as err:  # a target of the user's that the parser refused, in its own words
        raise ConfigError(str(err)) from err
    except OSError as err:  # a config or hosts file that cannot be read
        raise VtuiError(err.strerror or str(err)) from err
    backends = session.backends
    if args.command == "trust":
        return asyncio.run(run_trust(backends, args.target, args.fingerprint, sys.stderr))
    if args.command:
        trust_terminal_where_possible(backends)
    if args.command == "ls":
        return cmd_ls(args, backends, session.interval)
    if args.command == "logs":
        return asyncio.run(print_logs(backends, args.node, args.tail, args.follow, sys.stdout))
    if args.command == "console":
        return cmd_console(args, backends, session.config)
    if args.command in ("link", "bridge"):
        return links.run(args, backends)
    if args.command == "lab":
        return labs.run(args, backends)
    if getattr(args, "query", None) == "snapshot-list":
        return cmd_snapshot_list(args, backends)
    if getattr(args, "action", None):
        return cmd_act(args, backends)
    from vtui.app import VtuiApp  # the TUI (and textual) only when needed

    app = VtuiApp(session)
    app.run()
    return app.return_code or 0
