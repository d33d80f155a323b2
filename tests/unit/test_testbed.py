"""The test bed installs every program that vtui, the tests and the benchmarks run, and a test run
removes only what a dead run left behind.

The programs are read from the code, so the list cannot drift: the program of each argv that
reaches subprocess (or asyncio's, or os.exec*), each `which`/`_tool` look-up, and the commands of
shell lines (`sh -c SCRIPT`, and command lines given to an SSH connection's `run`/`stream`). Each
must be in the TOOLS table of scripts/testbed.sh, whose packages dpkg confirms, unless it comes
with one of Debian's Essential packages (coreutils, dash, util-linux…), which every machine has.
"""

from __future__ import annotations

import ast
import contextlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import docker
import docker.errors
import libvirt
import pytest

from tests.conftest import (
    RUN,
    SYSTEM_URI,
    TEST_IMAGE,
    TEST_LABEL,
    TEST_LABELS,
    define_copy,
    discard,
    owner_alive,
    started,
    sweep_dead_runs,
    sweep_dead_vms,
    vm_template,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("vtui", "tests", "bench")
DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # where packages put programs (not /usr/local)
ARGV_CALLS = {"run", "Popen", "check_output", "check_call", "call", "create_subprocess_exec", "subprocess_exec",
              "execv", "execvp", "sh", "_run"}  # the program is the first argument or its first element
PROGRAM_CALLS = {"sh", "_run", "create_subprocess_exec", "subprocess_exec", "execv", "execvp"}  # argv as *args
LOOKUPS = {"which", "_tool"}
SHELL_LINE_CALLS = {"run", "stream", "create_subprocess_shell"}  # given a whole command line
SHELLS = {"sh", "bash", "dash"}
# shell keywords and builtins of dash and busybox ash: never looked up on PATH
BUILTINS = {"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac", "in",
            "echo", "printf", "test", "read", "set", "export", "cd", "exit", "return", "trap", "wait", "shift",
            "local", "true", "false", "break", "continue", "eval", "exec", "unset", "command", "kill", "type"}


@dataclass(frozen=True)
class Use:
    program: str
    where: str  # "tests/engines/test_vm_actions.py:80"


def tools_table() -> dict[str, str]:
    """scripts/testbed.sh's TOOLS: program -> Debian package."""
    text = (ROOT / "scripts/testbed.sh").read_text()
    body = re.search(r"declare -A TOOLS=\((.*?)\n\)", text, re.S)
    assert body, "no `declare -A TOOLS=(…)` in scripts/testbed.sh"
    return dict(re.findall(r"\[([\w.+-]+)\]=([\w.+-]+)", body.group(1)))


def shell_commands(script: str) -> set[str]:
    """The programs a POSIX shell script runs: the first word of each simple command."""
    found = set()
    script = re.sub(r"\$\(\(.*?\)\)", "", script)  # arithmetic, not a command
    for segment in re.split(r"\$\(|[;&|\n(){}`]|\b(?:then|do|else)\b", script):
        words = segment.split()
        while words and (words[0] in {"!", "if", "while", "until", "exec", "command"} or re.match(r"\w+=", words[0])):
            words.pop(0)
        if words and re.fullmatch(r"[A-Za-z][\w.+-]*", words[0]):
            found.add(words[0])
    return found - BUILTINS


class _Scan(ast.NodeVisitor):
    """The programs one module runs, with the line of each."""

    def __init__(self, path: Path, tree: ast.Module) -> None:
        self.where = str(path.relative_to(ROOT))
        self.uses: list[Use] = []
        self.names: dict[str, list[ast.expr]] = {}  # every `name = value` of the module, any scope
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.names.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                self.names.setdefault(node.target.id, []).append(node.value)

    def add(self, program: str, line: int) -> None:
        self.uses.append(Use(program, f"{self.where}:{line}"))

    def strings(self, node: ast.expr) -> list[str]:
        """The text `node` may hold: a literal, an f-string (its literal parts), a name assigned those."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.JoinedStr):
            return ["".join(str(v.value) if isinstance(v, ast.Constant) else " \0 " for v in node.values)]
        if isinstance(node, ast.Name):
            return [s for value in self.names.get(node.id, []) for s in self.strings(value)]
        return []

    def elements(self, node: ast.expr) -> list[ast.expr]:
        """The elements of an argv list or tuple, names of list constants spliced in."""
        if isinstance(node, ast.Name):
            return next((self.elements(v) for v in self.names.get(node.id, []) if isinstance(v, ast.List | ast.Tuple)),
                        [])
        if not isinstance(node, ast.List | ast.Tuple):
            return []
        out: list[ast.expr] = []
        for element in node.elts:
            out += self.elements(element.value) if isinstance(element, ast.Starred) else [element]
        return out

    def argv(self, elements: list[ast.expr], line: int) -> None:
        if not elements:
            return
        for program in self.strings(elements[0]):
            self.add(program, line)
        for i, element in enumerate(elements[:-2]):  # sh -c SCRIPT
            if self.strings(element) and self.strings(element)[0] in SHELLS and self.strings(elements[i + 1]) == ["-c"]:
                for script in self.strings(elements[i + 2]):
                    for program in shell_commands(script):
                        self.add(program, line)

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
        if not node.args or "container" in receiver or "handle" in receiver:  # docker-py: runs in the test image
            return
        first = node.args[0]
        if name in LOOKUPS:
            for program in self.strings(first):
                self.add(program, node.lineno)
        if name in ARGV_CALLS or (receiver, name) == ("shlex", "join"):  # a command line to run elsewhere
            if isinstance(first, ast.List | ast.Tuple | ast.Starred) or (
                    isinstance(first, ast.Name) and self.elements(first)):
                self.argv(self.elements(first.value if isinstance(first, ast.Starred) else first), node.lineno)
            elif name in PROGRAM_CALLS:
                self.argv(list(node.args), node.lineno)
        if name in SHELL_LINE_CALLS and receiver not in ("asyncio", "subprocess") and name not in PROGRAM_CALLS:
            for line in self.strings(first):
                if " " in line.strip():
                    for program in shell_commands(line):
                        self.add(program, node.lineno)


@cache
def programs_run() -> tuple[Use, ...]:
    uses: list[Use] = []
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            scan = _Scan(path, tree)
            scan.visit(tree)
            uses += scan.uses
    return tuple(uses)


def _candidates(program: str) -> list[str]:
    """The paths dpkg may know the program by: as found, resolved, and as its package ships it
    (/bin/ip, not /usr/bin/ip on a merged /usr)."""
    found = shutil.which(program, path=DEBIAN_PATH)
    if found is None:
        return []
    paths = [p for f in (found, str(Path(found).resolve())) for p in (f, re.sub(r"^/usr/(s?bin)/", r"/\1/", f))]
    return list(dict.fromkeys(paths))


@cache
def packages() -> dict[str, tuple[str, bool]]:
    """Each program the code runs or TOOLS names, installed here: (its Debian package, whether that
    package is Essential). Two dpkg-query calls in all."""
    programs = {use.program for use in programs_run()} | set(tools_table())
    paths = {program: _candidates(program) for program in programs}
    listed = subprocess.run(["dpkg-query", "-S", *{p for ps in paths.values() for p in ps}], capture_output=True,
                            text=True, timeout=60).stdout  # exit 1 when some path is no package's
    owners = {path: names.split(",")[0].strip() for line in listed.splitlines()
              if not line.startswith("diversion ") for names, _, path in [line.partition(": ")]}
    owned = {program: next(owners[p] for p in ps if p in owners) for program, ps in paths.items()
             if any(p in owners for p in ps)}
    flags = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Essential}\n", *set(owned.values())],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    essential = {name for name, _, flag in (line.partition(" ") for line in flags.splitlines()) if flag == "yes"}
    return {program: (package, package in essential) for program, package in owned.items()}


def package_of(program: str) -> tuple[str | None, bool]:
    """(the Debian package of the program as installed here, or None; whether that package is Essential)."""
    return packages().get(program, (None, False))


def test_the_shell_scanner_finds_the_commands_of_a_script() -> None:
    script = ('test -r "$1" || { echo no; exit 1; }; X=1 tail -n 5 "$1" | sed s/a/b/; if ! grep -q x; then cat; fi;'
              ' k=$((k + 1))')
    assert shell_commands(script) == {"tail", "sed", "grep", "cat"}
    assert shell_commands("for f in $(ls /x); do exec busybox nc h 22; done") == {"ls", "busybox"}


def test_the_scan_finds_programs_run_in_each_way() -> None:
    found = {use.program for use in programs_run()}
    by_argv = {"virsh", "qemu-img", "tmux", "ssh-agent", "ssh-add", "unshare", "docker"}
    by_lookup = {"sshd", "tini", "nsenter", "ip"}
    in_shell_lines = {"tail", "id"}  # vtui's remote log command and socket check
    assert by_argv | by_lookup | in_shell_lines <= found, sorted(by_argv | by_lookup | in_shell_lines - found)


def unlisted() -> Iterator[str]:
    tools = tools_table()
    for use in programs_run():
        if use.program in tools:
            continue
        package, essential = package_of(use.program)
        if package is None:
            yield f"{use.program} (run at {use.where}) is not in TOOLS and no Debian package here provides it"
        elif not essential:
            yield f"{use.program} (run at {use.where}) is from {package}: add [{use.program}]={package} to TOOLS"


def test_every_program_the_code_runs_is_installed_by_the_test_bed() -> None:
    assert list(unlisted()) == []


@pytest.mark.parametrize("program", sorted(tools_table()))
def test_each_tool_comes_from_the_package_the_test_bed_installs(program: str) -> None:
    package, _ = package_of(program)
    assert package == tools_table()[program], f"{program} is in {package}, not {tools_table()[program]}"


# --- what a test run may remove: only what a dead run left behind ----------------------------------

def dead_owner() -> str:
    """The OWNER a test run in a process that has ended would have written."""
    gone = subprocess.Popen(["sleep", "0"])
    owner = f"{gone.pid}:{started(gone.pid)}"
    gone.wait()
    assert not owner_alive(owner)
    return owner


def test_only_a_dead_runs_containers_and_networks_are_swept(docker_client: docker.DockerClient) -> None:
    dead = dead_owner()
    made = {
        "dead": docker_client.containers.create(TEST_IMAGE, ["true"], name=f"vtui-t-dead-{RUN}",
                                                labels={TEST_LABEL: dead}),
        "ours": docker_client.containers.create(TEST_IMAGE, ["true"], name=f"vtui-t-ours-{RUN}", labels=TEST_LABELS),
        "unmarked": docker_client.containers.create(TEST_IMAGE, ["true"], name=f"vtui-t-unmarked-{RUN}"),
    }
    nets = {
        "dead": docker_client.networks.create(f"vtui-t-dead-{RUN}", labels={TEST_LABEL: dead}),
        "ours": docker_client.networks.create(f"vtui-t-ours-{RUN}", labels=TEST_LABELS),
    }
    try:
        sweep_dead_runs(docker_client)
        left = {c.name for c in docker_client.containers.list(all=True, filters={"name": f"vtui-t-.*-{RUN}"})}
        assert left == {f"vtui-t-ours-{RUN}", f"vtui-t-unmarked-{RUN}"}
        networks = {n.name for n in docker_client.networks.list(names=[f"vtui-t-dead-{RUN}", f"vtui-t-ours-{RUN}"])}
        assert networks == {f"vtui-t-ours-{RUN}"}
    finally:
        for container in made.values():
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        for network in nets.values():
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()


def test_only_a_dead_runs_vms_are_swept(bed_vm: str) -> None:
    conn = libvirt.open(SYSTEM_URI)
    dead = define_copy(conn, vm_template(), f"vtui-t-dead-{RUN}", owner=dead_owner())
    ours = define_copy(conn, vm_template(), f"vtui-t-ours-{RUN}")
    tree = ET.fromstring(vm_template())
    tree.find("name").text = f"vtui-t-unmarked-{RUN}"  # type: ignore[union-attr]
    unmarked = conn.defineXML(ET.tostring(tree, encoding="unicode"))  # as a user would define it
    try:
        sweep_dead_vms(conn)
        names = {dom.name() for dom in conn.listAllDomains()}
        assert {f"vtui-t-ours-{RUN}", f"vtui-t-unmarked-{RUN}", bed_vm} <= names
        assert f"vtui-t-dead-{RUN}" not in names
    finally:
        discard([dead, ours, unmarked])
        conn.close()
