"""The same plans as vtui.net.local, as one POSIX sh script of `ip` commands: what runs on a remote
host over its SSH connection (one exec per change), where no Python of vtui's is installed.

The script holds only checked tokens (PIDs, interface names, the link's hex id, numbers): names of
nodes never reach a shell. It reports on its last line, which `outcome()` turns into a sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vtui.errors import LinkError
from vtui.net.plan import GROUP, HERE, NO_NETEM, End, Impairment, Veth, check_end, check_mtu

# The script's last line: what happened, for outcome()
MADE, PRESENT, REMOVED, ABSENT = "vtui-made", "vtui-present", "vtui-removed", "vtui-absent"
_FUNCTIONS = """\
set -u -f
gone() { echo "vtui-gone $1"; exit 1; }
# absent | ours | foreign: is interface $2 of namespace $1 there, and with alias $3?
state() {
  out=$(nsenter --net="$1" ip -j link show dev "$2" 2>/dev/null) || { echo absent; return; }
  case $out in *"\\"ifalias\\":\\"$3\\""*) echo ours ;; *) echo foreign ;; esac
}
drop() { [ "$(state "$1" "$2" "$3")" != ours ] || nsenter --net="$1" ip link del dev "$2" 2>/dev/null || true; }
"""


def header_for(end: End, alias: str, *, running: bool = True) -> str:
    """The functions and one end's tokens as $A, $AI, $AL (a link with one end on this host)."""
    check_end(end)
    return (_FUNCTIONS + f"A={end.netns} AI={end.ifname} AL={alias}\n"
            + ('[ -e "$A" ] || gone a\n' if running else ""))


def netns_arg(end: End) -> str:
    return _pid(end)


def _pid(end: End) -> str:
    """What `ip … netns` is given: a named namespace, a process, or the script's own shell for HERE."""
    return end.named or ("$$" if end.pid == HERE else str(end.pid))


def _header(veth: Veth, *, running: bool) -> str:
    """The functions and the link's tokens; with `running`, a check that both namespaces exist."""
    for end in (veth.a, veth.b):
        check_end(end)
    check_mtu(veth.mtu)
    return (_FUNCTIONS + f"A={veth.a.netns} B={veth.b.netns}\n"
            f"AI={veth.a.ifname} BI={veth.b.ifname} AL={veth.alias('a')} BL={veth.alias('b')}\n"
            + ('[ -e "$A" ] || gone a\n[ -e "$B" ] || gone b\n' if running else ""))


def wire_script(veth: Veth) -> str:
    """Make the pair, or find it made; a failure after the add removes it."""
    return _header(veth, running=True) + f"""\
sa=$(state "$A" "$AI" "$AL") sb=$(state "$B" "$BI" "$BL")
[ "$sa" != foreign ] || {{ echo "vtui-taken a"; exit 2; }}
[ "$sb" != foreign ] || {{ echo "vtui-taken b"; exit 2; }}
[ "$sa$sb" != oursours ] || {{ echo {PRESENT}; exit 0; }}
[ "$sa" != ours ] || nsenter --net="$A" ip link del dev "$AI" 2>/dev/null  # half a pair: start afresh
[ "$sb" != ours ] || nsenter --net="$B" ip link del dev "$BI" 2>/dev/null
err=$(ip link add "$AI" netns {_pid(veth.a)} mtu {veth.mtu} address {veth.mac("a")} group {GROUP} type veth \\
  peer name "$BI" netns {_pid(veth.b)} mtu {veth.mtu} address {veth.mac("b")} group {GROUP} 2>&1) || {{
  echo "vtui-failed" $err; exit 3; }}
if ! err=$(nsenter --net="$A" ip link set dev "$AI" alias "$AL" up 2>&1 &&
           nsenter --net="$B" ip link set dev "$BI" alias "$BL" up 2>&1{_addresses(veth)}); then
  nsenter --net="$A" ip link del dev "$AI" 2>/dev/null
  echo "vtui-failed" $err; exit 3
fi
echo {MADE}
"""


def _addresses(veth: Veth) -> str:
    return "".join(f' &&\n           nsenter --net="{ns}" ip addr add {address} dev "{name}" 2>&1'
                   for end, ns, name in ((veth.a, "$A", "$AI"), (veth.b, "$B", "$BI")) for address in end.addresses)


def unwire_script(veth: Veth) -> str:
    """Remove the pair if it is there (only interfaces with this link's alias)."""
    return _header(veth, running=False) + f"""\
if [ "$(state "$A" "$AI" "$AL")" = ours ] || [ "$(state "$B" "$BI" "$BL")" = ours ]; then
  drop "$A" "$AI" "$AL"; drop "$B" "$BI" "$BL"; echo {REMOVED}
else
  echo {ABSENT}
fi
"""


def doom_script(veth: Veth, group: int) -> str:
    """unwire_script's half for many links at once: an end of the pair (its peer goes with it) joins
    the interface group `group`, which gone_script then deletes in each namespace in one call."""
    return _header(veth, running=False) + f"""\
if [ "$(state "$A" "$AI" "$AL")" = ours ]; then nsenter --net="$A" ip link set dev "$AI" group {group}; echo {REMOVED}
elif [ "$(state "$B" "$BI" "$BL")" = ours ]; then nsenter --net="$B" ip link set dev "$BI" group {group}; echo {REMOVED}
else echo {ABSENT}; fi
"""


def gone_script(veths: Sequence[Veth], group: int) -> str:
    """Delete the interface group in every namespace of these links: one kernel call each, where
    deleting veths one by one waits ~20 ms apiece for the network to settle."""
    spaces = " ".join(sorted({end.netns for veth in veths for end in (veth.a, veth.b)}))
    return f'for ns in {spaces}; do [ ! -e $ns ] || nsenter --net=$ns ip link del group {group} 2>/dev/null; done\n'


def _on_end(veth: Veth, side: str, change: Callable[[str, str], str]) -> str:
    """A script that runs `change(namespace, interface)` on one end, once it is found wired."""
    ns, name, alias = ("$A", "$AI", "$AL") if side == "a" else ("$B", "$BI", "$BL")
    return _header(veth, running=True) + f"""\
[ "$(state "{ns}" "{name}" "{alias}")" = ours ] || {{ echo "vtui-unwired {side}"; exit 2; }}
{change(ns, name)}
echo {MADE}
"""


def admin_script(veth: Veth, side: str, up: bool) -> str:
    """Take one end down (its peer loses carrier) or up again."""
    state = "up" if up else "down"
    return _on_end(veth, side, lambda ns, name: f'err=$(nsenter --net="{ns}" ip link set dev "{name}" {state} 2>&1) '
                                                '|| { echo "vtui-failed" $err; exit 3; }')


def impair_script(veth: Veth, side: str, impairment: Impairment) -> str:
    """Hold what one end sends to `impairment` (replacing what was set); Impairment() clears it."""
    return _on_end(veth, side, lambda ns, name: _qdisc(f'nsenter --net="{ns}" tc qdisc', name, side, impairment))


def _qdisc(tc: str, name: str, side: str, impairment: Impairment) -> str:
    """The tc command for one end: netem when anything but a rate is set, else tbf, or nothing."""
    clear = f'{tc} del dev "{name}" root 2>/dev/null'  # a qdisc of another kind cannot be replaced
    if impairment.none:
        return clear + " || true"
    if impairment.netem:
        words = [f"delay {impairment.delay_ms or 0:g}ms", f"{impairment.jitter_ms:g}ms" if impairment.jitter_ms else "",
                 f"loss {impairment.loss_pct:g}%" if impairment.loss_pct else "",
                 f"corrupt {impairment.corrupt_pct:g}%" if impairment.corrupt_pct else "",
                 f"rate {impairment.rate_kbit}kbit" if impairment.rate_kbit else ""]
        return (f'{clear}; err=$({tc} add dev "{name}" root handle 1: netem {" ".join(w for w in words if w)} 2>&1) || '
                '{ case $err in *"No such file"*|*"qdisc kind is unknown"*) echo "vtui-nonetem ' + side + '";; '
                '*) echo "vtui-failed" $err;; esac; exit 3; }')
    return (f'{clear}; err=$({tc} add dev "{name}" root handle 1: tbf rate {impairment.rate_kbit}kbit '
            f'burst {impairment.tbf_burst()} latency 50ms 2>&1) || {{ echo "vtui-failed" $err; exit 3; }}')


def outcome(veth: Veth, output: str) -> bool:
    """True when the script changed something, False when there was nothing to do; LinkError with a
    sentence otherwise."""
    lines = output.strip().splitlines()
    last = lines[-1] if lines else ""
    word, _, rest = last.partition(" ")
    end = {"a": veth.a, "b": veth.b}.get(rest)
    sentences: dict[str, Callable[[], str]] = {
        "vtui-gone": lambda: f"{end.where if end else rest} is not running (no network namespace)",
        "vtui-taken": lambda: f"{end}: that name is taken (by an interface vtui did not make for this link)",
        "vtui-unwired": lambda: f"{end}: the link is not wired (wire it first)",
        "vtui-nonetem": lambda: f"{end}: {NO_NETEM}",
        "vtui-failed": lambda: f"the link {veth.a} — {veth.b}: {rest}",
    }
    if word in (MADE, REMOVED):
        return True
    if word in (PRESENT, ABSENT):
        return False
    if word in sentences:
        raise LinkError(sentences[word]())
    raise LinkError(f"the link {veth.a} — {veth.b}: unexpected answer {output.strip()[-200:]!r}")


LINK = "vtui-link"  # a joined script's line for link N: "vtui-link N <its script's last line>"
MAX_COMMAND = 124_000  # bytes of a joined script: a command line is one argument, < 128 KiB on Linux
_LAST_LINE = """\
case $r in *"$nl"*) printf '%s\\n' "${r%"$nl"*}" ;; esac
echo "vtui-link $i ${r##*"$nl"}"
"""


def join_scripts(scripts: Sequence[str]) -> str:
    """Several links' scripts as one (one command on the host): each in its own subshell, so its
    `exit` ends only it, its output's last line prefixed "vtui-link N " (N its index). The functions
    every script starts with are given once."""
    parts = [_FUNCTIONS, 'nl=$(printf "\\n."); nl=${nl%.}\n']
    for index, script in enumerate(scripts):
        parts.append(f"i={index} r=$( (\n{script.removeprefix(_FUNCTIONS)}) )\n{_LAST_LINE}")
    return "".join(parts)


def joined_size(script: str) -> int:
    """What one script adds to a joined one, in bytes (quoting for the command line aside)."""
    return len(script.removeprefix(_FUNCTIONS)) + len(_LAST_LINE) + 40


def split_outcomes(veths: Sequence[Veth], output: str) -> list[bool | LinkError]:
    """Each link's outcome() from a joined script's output, in order: its result, or its LinkError
    (also for a link the script never reached)."""
    found: dict[int, str] = {}
    before: list[str] = []  # a link's earlier lines come before its "vtui-link N" line
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        number, _, last = rest.partition(" ")
        if word == LINK and number.isdigit() and int(number) < len(veths) and int(number) not in found:
            found[int(number)] = "\n".join([*before, last])
            before = []
        else:
            before.append(line)
    results: list[bool | LinkError] = []
    for index, veth in enumerate(veths):
        try:
            if index not in found:
                raise LinkError(f"the link {veth.a} — {veth.b}: no answer (the script ended before it)")
            results.append(outcome(veth, found[index]))
        except LinkError as err:
            results.append(err)
    return results


def status_script(veth: Veth) -> str:
    """Each end as `ip -j -s link` and `tc -j qdisc` show it, on lines "a …", "aq …", "b …", "bq …"."""
    return _header(veth, running=False) + """\
for side in a b; do
  if [ $side = a ]; then ns=$A name=$AI; else ns=$B name=$BI; fi
  link=$(nsenter --net="$ns" ip -j -s link show dev "$name" 2>/dev/null) || continue
  echo "$side $link"
  echo "${side}q $(nsenter --net="$ns" tc -j qdisc show dev "$name" 2>/dev/null)"
done
"""
