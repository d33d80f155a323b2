"""The command line's grammar: every verb, option and help text, and nothing behind them, so that
`vtui --help` and a mistyped option cost only this (the commands import their machinery when run)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vtui.actions import ACTIONS
from vtui.backends.registry import ENGINES
from vtui.cli import lab_parser, link_parser
from vtui.model.refs import NodeRef

NODES_HELP = "NAME, HOST/NAME or HOST/KIND/NAME"
# Actions the CLI spells as `GROUP SUB`: ACTIONS["snapshot-create"] is `vtui snapshot create`.
GROUPS = {"snapshot": ("create", "revert", "delete"), "autostart": ("on", "off")}
DEFAULT_TAIL = 200


def tail_arg(text: str) -> int | None:
    """argparse type of --tail: a count of lines, or `all` (None)."""
    if text.strip().lower() == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected a number of lines or 'all', not {text!r}")
    return count


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
    link_parser.add_parser(sub, common)
    link_parser.add_bridge_parser(sub, common)
    lab_parser.add_parser(sub, common)
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
