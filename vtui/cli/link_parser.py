"""The grammar of `vtui link …` and `vtui bridge …` (the commands are vtui.cli.links): parsing them
imports no link machinery."""

from __future__ import annotations

import argparse
import re

from vtui.net.plan import DEFAULT_MTU, SIDES

LINK_HELP = "a link's id (from `vtui link ls`), or one of its ends as NODE:IF"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    link = sub.add_parser("link", parents=[common], help="wire, list, change and remove links between nodes",
                          description="Links are made in the kernel (veth pairs; a VM's NIC on a tap; VXLAN "
                                      "between hosts), recorded in ~/.local/state/vtui/links.json and wired again "
                                      "when a node starts.")
    verbs = link.add_subparsers(dest="link_command", metavar="SUBCOMMAND", required=True)
    add = verbs.add_parser(
        "add", parents=[common], help="wire a link between two nodes (containers must run; a VM may be off)",
        description="Two containers of one host: a veth pair, each end made in its container under its final name "
                    "(the next free ethN unless given). A VM: a virtio NIC hot-plugged, now and for good, on a tap "
                    "vtui owns. Two hosts: a VXLAN tunnel over the hosts' own addresses.")
    add.add_argument("a", metavar="A[:IF]", help="a node (NAME, HOST/NAME or HOST/KIND/NAME), and its interface")
    add.add_argument("b", metavar="B[:IF]", help="the other node, and its interface")
    add.add_argument("--mtu", type=int, default=DEFAULT_MTU,
                     help=f"the MTU of both ends (default {DEFAULT_MTU}; 1450 for a VXLAN link)")
    add.add_argument("--kind", default="auto",
                     help="what the link is made of: auto (the default) takes the first kind that fits the two "
                          "ends; naming one of `vtui link kinds` refuses the others")
    add.add_argument("--ip-a", action="append", default=[], metavar="ADDR/LEN", help="an address of end A (repeatable)")
    add.add_argument("--ip-b", action="append", default=[], metavar="ADDR/LEN", help="an address of end B (repeatable)")
    add.add_argument("--json", action="store_true", help="print the link as JSON")
    delete = verbs.add_parser("del", parents=[common], help="remove links (their interfaces and their records)")
    delete.add_argument("links", nargs="*", metavar="LINK", help=LINK_HELP)
    delete.add_argument("--all", action="store_true", help="every link vtui made")
    delete.add_argument("--yes", action="store_true", help="do not ask (required without a terminal)")
    repair = verbs.add_parser("repair", parents=[common], help="wire again what is missing of links",
                              description="What a running vtui does by itself when a node starts again: make what "
                                          "is missing of each link, with its addresses, state and impairments.")
    repair.add_argument("links", nargs="*", metavar="LINK", help=LINK_HELP)
    repair.add_argument("--all", action="store_true", help="every link vtui made")
    kinds = verbs.add_parser("kinds", parents=[common], help="the kinds of link this vtui can make, in the "
                             "order `link add` tries them")
    kinds.add_argument("--json", action="store_true", help="print a JSON array of kinds")
    ls = verbs.add_parser("ls", parents=[common], help="list links with their state and counters")
    ls.add_argument("--json", action="store_true", help="print a JSON array of links")
    set_ = verbs.add_parser("set", parents=[common], help="take a link down, bring it up, or flap it")
    set_.add_argument("link", metavar="LINK", help=LINK_HELP)
    state = set_.add_mutually_exclusive_group(required=True)
    state.add_argument("--down", action="store_true", help="take the end(s) down: the peer loses carrier")
    state.add_argument("--up", action="store_true", help="bring the end(s) up again")
    state.add_argument("--flap", type=float, nargs="?", const=1.0, metavar="SECONDS",
                       help="down, then up after SECONDS (default 1)")
    _dir(set_)
    impair = verbs.add_parser("impair", parents=[common], help="hold what an end sends to a rate, delay or loss",
                              description="Impairments act on what an end sends (its egress): a rate with tbf; "
                                          "delay, jitter, loss and corruption with netem, where the kernel has it.")
    impair.add_argument("link", metavar="LINK", help=LINK_HELP)
    _dir(impair)
    impair.add_argument("--rate", type=rate_kbit, metavar="RATE", help="e.g. 10mbit, 500kbit, 1gbit (a number: kbit)")
    impair.add_argument("--delay", type=milliseconds, metavar="TIME", help="e.g. 50ms, 1s (a number: ms)")
    impair.add_argument("--jitter", type=milliseconds, metavar="TIME", help="variation of the delay")
    impair.add_argument("--loss", type=percent, metavar="PCT", help="packets dropped, in %%")
    impair.add_argument("--corrupt", type=percent, metavar="PCT", help="packets with a flipped bit, in %%")
    impair.add_argument("--clear", action="store_true", help="remove the impairment")
    capture = verbs.add_parser("capture", parents=[common], help="write a link's packets as pcap",
                               description="Capture on one end (tcpdump, run in the node's namespace on its host). "
                                           "`-w -` writes to stdout: vtui link capture L -w - | tcpdump -r -")
    capture.add_argument("link", metavar="LINK", help=LINK_HELP)
    capture.add_argument("-w", dest="file", required=True, metavar="FILE", help="the pcap file, or - for stdout")
    capture.add_argument("-c", "--count", type=int, metavar="N", help="stop after N packets")
    capture.add_argument("--dir", choices=SIDES, help="the end to capture on (default: the one named, else a)")


def add_bridge_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                      common: argparse.ArgumentParser) -> None:
    bridge = sub.add_parser("bridge", parents=[common], help="segments: a bridge that any number of nodes join",
                            description="A segment is a Linux bridge (STP off, forward delay 0) in a network "
                                        "namespace of its own on one host; each member joins it by a veth link.")
    verbs = bridge.add_subparsers(dest="bridge_command", metavar="SUBCOMMAND", required=True)
    add = verbs.add_parser("add", parents=[common], help="make a segment")
    add.add_argument("segment", metavar="NAME[@HOST]", help="its name, and the host it is on (default: local)")
    add.add_argument("--mtu", type=int, default=DEFAULT_MTU, help=f"the MTU of its ports (default {DEFAULT_MTU})")
    attach = verbs.add_parser("attach", parents=[common], help="make running containers members of a segment")
    attach.add_argument("segment", metavar="SEGMENT", help="its name (NAME@HOST where names repeat) or id")
    attach.add_argument("nodes", nargs="+", metavar="NODE[:IF]", help="a node, and its interface (next free ethN)")
    attach.add_argument("--ip", action="append", default=[], metavar="ADDR/LEN",
                        help="an address of the member's interface (one node only; repeatable)")
    detach = verbs.add_parser("detach", parents=[common], help="take members out of a segment (their links go)")
    detach.add_argument("segment", metavar="SEGMENT")
    detach.add_argument("nodes", nargs="+", metavar="NODE[:IF]")
    delete = verbs.add_parser("del", parents=[common], help="remove a segment and its members' links")
    delete.add_argument("segment", metavar="SEGMENT")
    delete.add_argument("--yes", action="store_true", help="do not ask (required without a terminal)")
    ls = verbs.add_parser("ls", parents=[common], help="list segments and their members")
    ls.add_argument("--json", action="store_true", help="print a JSON array of segments")


def _dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", choices=(*SIDES, "both"),
                        help="which end: a, b or both (default: the end named, else both)")


def _number(text: str, units: dict[str, float], what: str) -> float:
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z%]*)\s*", text.lower())
    if not found or found.group(2) not in units:
        raise argparse.ArgumentTypeError(f"{text!r} is not a {what} (units: {', '.join(u for u in units if u)})")
    return float(found.group(1)) * units[found.group(2)]


def rate_kbit(text: str) -> int:
    kbit = _number(text, {"": 1, "kbit": 1, "mbit": 1000, "gbit": 1_000_000, "bit": 0.001}, "rate")
    if kbit < 8:
        raise argparse.ArgumentTypeError(f"rate {text!r}: the least is 8kbit")
    return round(kbit)


def milliseconds(text: str) -> float:
    return _number(text, {"": 1, "ms": 1, "s": 1000, "us": 0.001}, "time")


def percent(text: str) -> float:
    value = _number(text, {"": 1, "%": 1}, "percentage")
    if value > 100:
        raise argparse.ArgumentTypeError(f"{text!r}: a percentage is at most 100")
    return value
