"""Command line: `vtui` runs the TUI, `vtui ls` lists without one."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from vtui.acting import act
from vtui.actions import ACTIONS
from vtui.backends import Backend
from vtui.config import MAX_INTERVAL, MIN_INTERVAL, Config, ConfigError, load_config
from vtui.engines import demo_backends, local_backends
from vtui.listing import list_all, table
from vtui.stats import NodeStats


def _common_options() -> argparse.ArgumentParser:
    # SUPPRESS lets the options stand before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    opt = common.add_argument
    opt("--demo", action="store_true", default=argparse.SUPPRESS,
        help="use the embedded demo (libvirt's test driver) instead of this host's engines")
    opt("--config", type=Path, default=argparse.SUPPRESS, metavar="FILE",
        help="config file (default: $VTUI_CONFIG or ~/.config/vtui/config.toml)")
    opt("--libvirt", default=argparse.SUPPRESS, metavar="URI", help="libvirt URI (default: qemu:///system)")
    opt("--docker", default=argparse.SUPPRESS, metavar="URL",
        help="docker base URL (default: $DOCKER_HOST or unix:///var/run/docker.sock)")
    opt("--no-libvirt", action="store_true", default=argparse.SUPPRESS, help="leave libvirt out")
    opt("--no-docker", action="store_true", default=argparse.SUPPRESS, help="leave docker out")
    opt("--interval", type=float, default=argparse.SUPPRESS, metavar="SECONDS",
        help="seconds between stats samples (default: the config's, or 1)")
    opt("--read-only", action="store_true", default=argparse.SUPPRESS,
        help="refuse every action that changes a VM or container")
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
    for action in ACTIONS.values():
        verb = sub.add_parser(action.name, parents=[common], help=action.description,
                              description=f"{action.title}: {action.description}.")
        verb.add_argument("nodes", nargs="+", metavar="NODE", help="NAME, HOST/NAME or HOST/KIND/NAME")
        verb.add_argument("--json", action="store_true", help="print a JSON array of results")
        if action.destructive:
            verb.add_argument("--yes", action="store_true", help="do not ask (required without a terminal)")
        if action.name in ("shutdown", "stop", "restart"):
            verb.add_argument("--timeout", type=float, metavar="SECONDS",
                              help="seconds to wait (shutdown: 60, then suggest force-off; stop: 10, then SIGKILL)")
        if action.name == "remove":
            verb.add_argument("--volumes", action="store_true", help="also remove the container's anonymous volumes")
    return top


def _backends(args: argparse.Namespace, config: Config) -> list[Backend]:
    read_only = getattr(args, "read_only", False) or config.read_only
    if getattr(args, "demo", False):
        return demo_backends(read_only=read_only)
    return local_backends(
        config,
        read_only=read_only,
        libvirt_uri=getattr(args, "libvirt", None),
        docker_url=getattr(args, "docker", None),
        libvirt=not getattr(args, "no_libvirt", False),
        docker=not getattr(args, "no_docker", False),
    )


def _log_to_file() -> None:
    state = Path(platformdirs.user_state_dir("vtui"))
    state.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=state / "vtui.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_ls(args: argparse.Namespace, backends: list[Backend], interval: float) -> int:
    listing = asyncio.run(list_all(backends, stats_over=interval if args.stats else None))
    for problem in [str(f) for f in listing.failures] + listing.notes:
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
    action = ACTIONS[args.command]
    if not action.destructive or args.yes:
        return True
    if not sys.stdin.isatty():
        print(f"vtui: {action.name} is destructive and there is no terminal to ask: pass --yes", file=sys.stderr)
        return False
    names = ", ".join(repr(n) for n in args.nodes)
    answer = input(f"{action.title} {names}? {action.description}. [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def cmd_act(args: argparse.Namespace, backends: list[Backend]) -> int:
    if not _confirmed(args):
        return 2
    options = {"timeout": getattr(args, "timeout", None), "volumes": getattr(args, "volumes", False)}
    outcome = asyncio.run(act(backends, args.command, args.nodes, options))
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _log_to_file()
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as err:
        print(f"vtui: {err}", file=sys.stderr)
        return 2
    backends = _backends(args, config)
    interval = getattr(args, "interval", config.interval)
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        print(f"vtui: --interval must be from {MIN_INTERVAL} to {MAX_INTERVAL} seconds", file=sys.stderr)
        return 2
    if args.command == "ls":
        return cmd_ls(args, backends, interval)
    if args.command in ACTIONS:
        return cmd_act(args, backends)
    from vtui.app import VtuiApp  # the TUI (and textual) only when needed

    demo = getattr(args, "demo", False)
    app = VtuiApp(backends, demo=demo, keymap=config.keymap, interval=interval)
    app.run()
    return app.return_code or 0
