"""`vtui console NODE` in a real terminal (tmux): type, read the answer, leave with ctrl+]."""

from __future__ import annotations

import time

from tests.conftest import Containers, virsh_state
from tests.engines.test_vm_actions import Vms, conn, vms  # noqa: F401  (fixtures)
from tests.support.tmux import Tmux, vtui_in_tmux


def test_container_shell_answers_and_ctrl_bracket_leaves(containers: Containers) -> None:
    box = containers.run()
    with vtui_in_tmux("console", box.name, "--no-libvirt", cols=100, rows=30) as term:
        term.wait_for("ctrl+] leaves")
        term.wait_for("/ #")
        term.type("echo $((6*7))")
        term.wait_for("\n42")
        term.type("stty size")
        term.wait_for("30 100")
        term.keys("C-]")
        assert term.exit_code() == 0
    box.handle.reload()
    assert box.handle.status == "running", "leaving the console must not stop the container"


def test_a_stopped_container_is_offered_a_start(containers: Containers) -> None:
    box = containers.run()
    box.handle.kill()
    box.handle.wait()
    with vtui_in_tmux("console", box.name, "--no-libvirt") as term:
        term.wait_for("Start it and attach? [y/N]")
        term.type("n")
        assert term.exit_code() == 1
        box.handle.reload()
        assert box.handle.status == "exited", "declining must leave it as it was"
    with vtui_in_tmux("console", box.name, "--no-libvirt", "--shell", "sh -c 'echo started; sleep 5'") as term:
        term.wait_for("Start it and attach? [y/N]")
        term.type("y")
        term.wait_for("started")
        term.keys("C-]")
        assert term.exit_code() == 0


def test_unknown_node_and_no_terminal_are_errors() -> None:
    with vtui_in_tmux("console", "no-such-node", "--no-libvirt") as term:
        assert term.exit_code() == 2
        assert "no VM or container is named 'no-such-node'" in term.screen()


def test_vm_serial_console_started_with_start_answers_and_ctrl_bracket_leaves(vms: Vms) -> None:
    name = vms.define().name()
    with vtui_in_tmux("console", name, "--no-docker", "--start") as term:
        term.wait_for("ctrl+] leaves")
        prompt(term)
        term.type("echo $((6*7))")
        term.wait_for("\n42")
        term.keys("C-]")
        assert term.exit_code() == 0
    assert virsh_state(name) == "running", "leaving the console must not stop the VM"


def prompt(term: Tmux, timeout: float = 40) -> None:
    """Wait for the VM's shell prompt, pressing enter now and then as one does on a serial line."""
    deadline = time.monotonic() + timeout
    while "/ #" not in term.screen():
        assert time.monotonic() < deadline, f"no shell prompt within {timeout:g} s:\n{term.screen()}"
        term.keys("Enter")
        time.sleep(1)
