"""Consoles inside the TUI, driven by keys: a container's shell and a VM's serial console in the
embedded terminal, read back from its screen; tabs, leaving, closing; triage's start-and-watch."""

from __future__ import annotations

import re
from collections.abc import Callable

from textual import events
from textual.pilot import Pilot

from tests.conftest import SYSTEM_URI, Containers, docker_status, make_app, virsh_state, wait_for
from tests.engines.test_vm_actions import Vms, conn, vms  # noqa: F401  (fixtures)
from tests.tui.test_tui_actions import SIZE, docker_app, select, toasts
from vtui.app import VtuiApp
from vtui.backends.libvirt import LibvirtBackend
from vtui.screens.confirm import ConfirmScreen
from vtui.screens.consoles import ConsoleScreen
from vtui.widgets.terminal import Terminal


def terminal(app: VtuiApp) -> Terminal:
    pane = app.consoles.active
    assert pane is not None, "no console is open"
    return pane.terminal


def screen_text(app: VtuiApp) -> str:
    return "\n".join(terminal(app).screen_lines())


async def type_line(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*("space" if c == " " else c for c in text), "enter")


async def answer(pilot: Pilot[None], app: VtuiApp, command: str, expected: str, timeout: float = 15) -> None:
    """Type `command` into the open console and wait for a screen line that is exactly `expected`."""
    await type_line(pilot, command)
    try:
        await wait_for(pilot, lambda: any(line.strip() == expected for line in terminal(app).screen_lines()), timeout)
    except BaseException:
        print(screen_text(app))
        raise


def showing(app: VtuiApp, name: str) -> Callable[[], bool]:
    """The console of `name` is the active one and shows a shell prompt."""
    return lambda: (app.consoles.active is not None and app.consoles.active.node_name == name
                    and "/ #" in screen_text(app))


async def test_container_shell_in_the_embedded_terminal(containers: Containers) -> None:
    box = containers.run()
    app = docker_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, app, box.name)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen) and app.consoles.active is not None)
        await wait_for(pilot, lambda: "/ #" in screen_text(app), 10)
        await answer(pilot, app, "echo $((6*7))", "42")

        term = terminal(app)
        before = (term.rows, term.cols)
        await pilot.resize_terminal(100, 30)  # the shell sees the terminal's new size
        await wait_for(pilot, lambda: (term.rows, term.cols) != before)
        assert term.cols == 100 and term.rows < 30
        await answer(pilot, app, "stty size", f"{term.rows} {term.cols}")

        # enter and F3 in one burst, as a terminal delivers them: the enter still reaches the shell
        await pilot.press(*"echo $((7*6))")
        assert app._driver is not None
        app._driver.send_message(events.Key("enter", "\r"))
        app._driver.send_message(events.Key("f3", None))
        await wait_for(pilot, lambda: term.in_copy_mode)
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen_text(app).count("\n42") >= 2)

        await pilot.press("ctrl+right_square_bracket")  # back to the inventory; the console stays open
        await wait_for(pilot, lambda: app.screen is app.inventory_screen)
        await pilot.press("C")
        await wait_for(pilot, lambda: app.screen is app.consoles)
        assert "42" in screen_text(app), "the console kept its screen while away"
        await pilot.press("f8")  # close it: back to the inventory, the container keeps running
        await wait_for(pilot, lambda: app.screen is app.inventory_screen and not app.consoles.panes)
    assert docker_status(box.name) == "running"


async def test_two_consoles_in_tabs_and_a_shell_that_exits(containers: Containers) -> None:
    first, second = containers.run(), containers.run()
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        for box in (first, second):
            await pilot.press("escape")
            await select(pilot, app, box.name)
            await pilot.press("c")
            await wait_for(pilot, showing(app, box.name), 10)
            await answer(pilot, app, f"echo {box.name[-4:]}$((1+1))", f"{box.name[-4:]}2")
            await pilot.press("ctrl+right_square_bracket")
        await pilot.press("C")
        await wait_for(pilot, lambda: app.screen is app.consoles)
        assert [p.node_name for p in app.consoles.panes] == [first.name, second.name]
        await pilot.press("f5")  # the previous tab: the first console, as it was
        assert app.consoles.active is not None and app.consoles.active.node_name == first.name
        assert f"{first.name[-4:]}2" in screen_text(app)
        await type_line(pilot, "exit")  # the shell ends: its tab closes, the other stays
        await wait_for(pilot, lambda: [p.node_name for p in app.consoles.panes] == [second.name], 10)
        await wait_for(pilot, lambda: "ended" in toasts(app))


async def test_attach_and_logging_to_a_file(containers: Containers) -> None:
    box = containers.run("exec sh", tty=True, stdin_open=True)
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, box.name)
        await pilot.press("A")
        await wait_for(pilot, lambda: app.consoles.active is not None)
        assert app.consoles.active is not None and "terminal of" in app.consoles.active.what
        await pilot.press("f4")
        pane = app.consoles.active
        await wait_for(pilot, lambda: pane.relay.log_path is not None)
        log_path = pane.relay.log_path
        assert log_path is not None
        await answer(pilot, app, "echo logged-$((40+2))", "logged-42")
        await pilot.press("f4")  # stop logging
        await wait_for(pilot, lambda: pane.relay.log_path is None)
        assert b"logged-42" in log_path.read_bytes()
    assert docker_status(box.name) == "running", "leaving an attached console must not stop the container"


async def test_vm_serial_console_started_on_request(vms: Vms) -> None:
    """c on a shut-off VM offers to start it; y starts it and shows it booting to a shell."""
    dom = vms.define()
    name = dom.name()
    app = make_app([LibvirtBackend("local", SYSTEM_URI)])
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, app, name)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Start it and attach?" in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("y")
        await wait_for(pilot, lambda: app.consoles.active is not None, 10)
        # the boot shows in the console: the kernel's lines, then busybox's shell
        await wait_for(pilot, lambda: re.search(r"Linux version|\[\s*\d+\.\d+\]", screen_text(app)) is not None, 30)
        await wait_for(pilot, lambda: "/ #" in screen_text(app), 30)
        await answer(pilot, app, "echo $((6*7))", "42")
        await pilot.press("f8")
        await wait_for(pilot, lambda: not app.consoles.panes)
    assert virsh_state(name) == "running", "closing the console must not stop the VM"


async def test_triage_start_opens_the_vm_console(vms: Vms) -> None:
    dom = vms.define()
    name = dom.name()
    app = make_app([LibvirtBackend("local", SYSTEM_URI)])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await select(pilot, app, name)
        await pilot.press("U")  # no question: U in triage starts it and watches the console
        await wait_for(pilot, lambda: app.consoles.active is not None, 10)
        await wait_for(pilot, lambda: "/ #" in screen_text(app), 30)
        await answer(pilot, app, "echo $((6*7))", "42")
    assert virsh_state(name) == "running"


async def test_read_only_refuses_a_shell_and_says_so(containers: Containers) -> None:
    box = containers.run()
    app = docker_app(read_only=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, box.name)
        await pilot.press("c")
        await wait_for(pilot, lambda: "read-only mode: refused to open a shell" in toasts(app))
        assert app.screen is app.inventory_screen and not app.consoles.panes




async def test_read_only_attach_shows_output_and_says_keys_are_not_sent(containers: Containers) -> None:
    box = containers.run("exec sh", tty=True, stdin_open=True)
    app = docker_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, app, box.name)
        await pilot.press("A")
        await wait_for(pilot, lambda: app.consoles.active is not None)
        await pilot.press("x")
        await wait_for(pilot, lambda: "keys are not sent" in screen_text(app))
        assert app.is_running and app.consoles.active is not None
    assert box.handle.exec_run("ls /x").exit_code != 0
