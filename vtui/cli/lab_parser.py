"""The grammar of `vtui lab …` (the commands are vtui.cli.labs): parsing it reads no lab file."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    lab = sub.add_parser(
        "lab", parents=[common], help="deploy, inspect, change, destroy and draw labs (containerlab files)",
        description="A lab is a containerlab topology file (*.clab.yml), read as it is, plus vtui's own keys: a "
                    "node's host:, kind: libvirt with domain: or xml:, a link's impair: and state: down. What a lab "
                    "makes carries its name, so destroy removes exactly that.")
    verbs = lab.add_subparsers(dest="lab_command", metavar="SUBCOMMAND", required=True)
    deploy = verbs.add_parser("deploy", parents=[common],
                              help="make the lab's nodes and links (again: make what is missing)")
    deploy.add_argument("file", type=Path, metavar="FILE")
    apply = verbs.add_parser("apply", parents=[common], help="change a running lab to what its edited file says",
                             description="Compares the file with the running lab and changes only what differs: "
                                         "nodes and links added or removed, a node made again when its image or "
                                         "command changed, impairments and link state set.")
    apply.add_argument("file", type=Path, metavar="FILE")
    apply.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    destroy = verbs.add_parser("destroy", parents=[common], help="remove everything the lab made")
    destroy.add_argument("lab", metavar="NAME|FILE")
    destroy.add_argument("--yes", action="store_true", help="do not ask (required without a terminal)")
    inspect = verbs.add_parser("inspect", parents=[common], help="the labs deployed: nodes, state, links, addresses")
    inspect.add_argument("lab", nargs="?", metavar="NAME|FILE", help="one lab (default: every lab deployed)")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    export = verbs.add_parser("export", parents=[common], help="write a deployed lab as plain containerlab files",
                              description="One containerlab file per host (LAB-HOST.clab.yml): the host's nodes and "
                                          "links, and its side of each link to another host as a vxlan link with "
                                          "the tunnel's VNI, port and addresses. vtui's own keys are left out.")
    export.add_argument("lab", metavar="NAME|FILE")
    export.add_argument("--clab", action="store_true", required=True, help="containerlab's format (the only one)")
    export.add_argument("--dir", type=Path, default=Path("."), metavar="DIR", help="where to write (default: here)")
    graph = verbs.add_parser("graph", parents=[common], help="draw a lab file's topology")
    graph.add_argument("file", type=Path, metavar="FILE")
    graph.add_argument("--format", default="ascii", help="ascii (default), mermaid or dot")
