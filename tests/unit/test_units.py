"""Pure pieces: state maps, filtering, formatting, the import boundary."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

from vtui.backends.docker import explain
from vtui.backends.docker_nodes import STATES as DOCKER_STATES
from vtui.backends.docker_nodes import container_node
from vtui.backends.libvirt_states import describe
from vtui.model import Kind, Node, State
from vtui.model.filtering import filter_nodes
from vtui.model.format import human_bytes


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        ((1, 1), (State.RUNNING, "running", "booted")),
        ((2, 0), (State.RUNNING, "blocked", "")),
        ((3, 1), (State.PAUSED, "paused", "user")),
        ((3, 5), (State.PAUSED, "paused", "I/O error")),
        ((4, 1), (State.SHUTTING_DOWN, "shutdown", "user")),
        ((5, 2), (State.STOPPED, "shutoff", "destroyed")),
        ((5, 3), (State.STOPPED, "shutoff", "crashed")),
        ((5, 5), (State.STOPPED, "shutoff", "saved")),
        ((6, 1), (State.CRASHED, "crashed", "panicked")),
        ((7, 0), (State.SUSPENDED, "pmsuspended", "")),
        ((9, 0), (State.UNKNOWN, "state 9", "")),
        ((5, 99), (State.STOPPED, "shutoff", "reason 99")),
    ],
)
def test_libvirt_states_keep_native_state_and_reason(pair: tuple[int, int], expected: tuple[State, str, str]) -> None:
    assert describe(*pair) == expected


def test_docker_states_lump_nothing() -> None:
    assert len(set(DOCKER_STATES.values())) == len(DOCKER_STATES)


def test_container_node_from_list_entry() -> None:
    node = container_node("local", {"Id": "abc", "Names": ["/web"], "Image": "img", "State": "exited",
                                    "Status": "Exited (137) 2 minutes ago", "Labels": {"vtui.lab": "line3"}})
    assert (node.name, node.state, node.native_state, node.reason) == ("web", State.STOPPED, "exited", "exit code 137")
    assert (node.key, node.lab) == ("local/container/abc", "line3")


def test_docker_errors_become_sentences() -> None:
    missing = explain("unix:///x.sock", FileNotFoundError(2, "No such file"))
    assert missing == "dockerd is not running (no socket at /x.sock)"
    wrapped = ConnectionError(OSError("x"), PermissionError(13, "Permission denied"))
    assert explain("unix:///x.sock", wrapped).startswith("permission denied on /x.sock")


def node(name: str, state: State = State.RUNNING, image: str = "", lab: str = "") -> Node:
    return Node("local", Kind.VM, "libvirt", name, name, state, str(state), image=image, lab=lab)


DEMO = [node("web-1", lab="shop"), node("web-2", lab="shop"), node("db-primary"), node("db-replica", State.PAUSED),
        node("vm-0101"), node("vm-011")]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["web-1", "web-2", "db-primary", "db-replica", "vm-0101", "vm-011"]),
        ("WEB", ["web-1", "web-2"]),
        ("db paused", ["db-replica"]),
        ("vm-011", ["vm-011"]),  # exact hits win over fuzzy ones (vm-0101)
        ("wb1", ["web-1"]),  # nothing exact: fuzzy on the name
        ("xyz", []),
        ("lab:shop", ["web-1", "web-2"]),  # the nodes a lab made
        ("lab:shop 2", ["web-2"]),
        ("lab:none", []),
    ],
)
def test_filter(query: str, expected: list[str]) -> None:
    assert [n.name for n in filter_nodes(DEMO, query)] == expected


def test_human_bytes() -> None:
    assert [human_bytes(v) for v in (None, 0, 1023, 1024, 192 * 2**20, 3 * 2**40)] == [
        "", "0 B", "1023 B", "1.0 KiB", "192.0 MiB", "3.0 TiB"]


UI = ("vtui.app", "vtui.messages", "vtui.screens", "vtui.widgets")  # the modules that may import textual


def test_nothing_below_the_ui_imports_textual() -> None:
    """Every module but the UI's, each imported in a fresh interpreter (the import-linter contract of
    pyproject.toml states the same from the source; this checks what really loads)."""
    import vtui

    modules = [m.name for m in pkgutil.walk_packages(vtui.__path__, "vtui.")
               if not m.name.startswith(UI) and m.name != "vtui.__main__"]
    assert "vtui.backends.docker" in modules and "vtui.cli.main" in modules and "vtui.transport.ssh" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    if bad := sorted(m for m in sys.modules if m.split('.')[0] == 'textual'):\n"
        "        sys.exit(f'{name} imported {bad[0]}')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"textual imported below the UI: {result.stdout}{result.stderr}"


async def test_backends_advertise_their_optional_methods_and_the_rest_raise() -> None:
    from vtui.backends.base import Capability
    from vtui.backends.docker import DockerBackend
    from vtui.backends.libvirt import LibvirtBackend
    from vtui.model import Kind, Node, State

    docker_, libvirt_ = DockerBackend("local", "unix:///nowhere"), LibvirtBackend("local", "test:///default")
    assert docker_.supports(Capability.EXIT_STATE) and not docker_.supports(Capability.SNAPSHOTS)
    assert libvirt_.supports(Capability.SNAPSHOTS) and not libvirt_.supports(Capability.EXIT_STATE)
    assert docker_.supports(Capability.NETNS) and not libvirt_.supports(Capability.NETNS)
    node = Node("local", Kind.VM, "libvirt", "x", "x", State.STOPPED, "shutoff")
    with pytest.raises(NotImplementedError):
        await docker_.snapshots(node)
    with pytest.raises(NotImplementedError):
        await libvirt_.exit_state(node)
    with pytest.raises(NotImplementedError):
        await libvirt_.netns_pid(node)


def test_a_refusals_remedy_is_spelled_as_a_command_by_the_cli_only() -> None:
    from vtui.cli.actions import command, with_command
    from vtui.errors import Refused
    from vtui.model import Kind, Node, State

    node = Node("local", Kind.VM, "libvirt", "x", "my vm; rm", State.RUNNING, "running")
    refused = Refused("delete 'my vm; rm': it is running; force it off first", remedy="force-off")
    assert "vtui" not in str(refused)  # the engine's words name no command or key
    assert with_command(refused, node) == f"{refused}: vtui force-off 'my vm; rm'"
    assert with_command(Refused("no"), node) == "no"
    assert (command("snapshot-create"), command("autostart-on"), command("force-off")) == (
        "snapshot create", "autostart on", "force-off")


def test_the_cli_takes_each_actions_declared_options() -> None:
    from vtui.actions import ACTIONS
    from vtui.cli.actions import command
    from vtui.cli.parser import parser

    cli = parser()
    checked = 0
    for name, action in ACTIONS.items():
        argv, expected = [*command(name).split(), "node"], dict[str, object]()
        for option in action.options:
            if option.positional:
                argv.append("pre-upgrade")
                expected[option.name] = "pre-upgrade"
            elif option.type is bool:
                argv.append(f"--{option.name}")
                expected[option.name] = True
            else:
                argv += [f"--{option.name}", "7"]
                expected[option.name] = option.type("7")
        args = cli.parse_args(argv)
        assert args.action == name and {k: getattr(args, k) for k in expected} == expected, name
        checked += len(expected)
    assert checked == 9  # timeout (3 actions), volumes, snapshot (3), description, storage


def test_every_declared_option_is_a_typed_field_of_the_options_the_backends_read() -> None:
    from dataclasses import fields

    from vtui.actions import ACTIONS, Options

    typed = {f.name: f.type for f in fields(Options)}  # the annotations, as written
    declared = {o.name: o.type for a in ACTIONS.values() for o in a.options}
    assert set(declared) == set(typed)
    for name, kind in declared.items():
        assert typed[name] in (kind.__name__, f"{kind.__name__} | None"), name
    options = Options.of({"timeout": 7.0, "volumes": True, "snapshot": "pre-upgrade", "description": None})
    assert (options.timeout, options.volumes, options.snapshot, options.description) == (7.0, True, "pre-upgrade", "")
    with pytest.raises(TypeError, match="no action option is named colour"):
        Options.of({"colour": "red"})
