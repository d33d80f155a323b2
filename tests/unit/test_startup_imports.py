"""Start-up pays only for what a command uses: which libraries each entry point imports (the
timings themselves are bench/startup_bench.py's)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("textual", "asyncssh", "pyroute2", "docker", "libvirt", "pyte", "yaml")


def imported(code: str) -> set[str]:
    probe = f"import sys; {code}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(result.stdout.split()) & set(HEAVY)


@pytest.mark.parametrize(("code", "allowed"), [
    ("import vtui.cli.main", set()),  # `vtui --help`: the parser and nothing behind it
    ("from vtui.cli.parser import parser; parser().format_help()", set()),
    ("import vtui.app", {"textual"}),  # the TUI's first frame: no console emulator, no netlink, no SSH
    ("import vtui.links.wiring, vtui.session, vtui.labs.deploy", set()),  # links cost nothing until used
])
def test_an_entry_point_imports_only_what_it_needs(code: str, allowed: set[str]) -> None:
    assert imported(code) == allowed


def test_a_session_without_remote_hosts_does_not_import_asyncssh() -> None:
    code = ("from vtui.session import Session; from vtui.config.settings import Config; "
            "from vtui.backends.registry import local_backends; Session(Config(), local_backends({'libvirt': "
            "'test:///default'}))")
    assert "asyncssh" not in imported(code) and "docker" not in imported(code)


def test_the_grammar_imports_no_event_loop_and_no_link_machinery() -> None:
    """`vtui --help` and a mistyped option: argparse and the registries' names, not asyncio (about
    60 ms here) or the link kinds (about 200 ms with pyroute2 behind them)."""
    probe = ("import sys; from vtui.cli.main import parser; parser().format_help(); "
             "print(' '.join(m for m in sys.modules if m.startswith(('asyncio', 'vtui.net.kinds', 'vtui.session'))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == []
