"""Actions from the keyboard: the menu, confirmations, bulk marks, read-only; engines are the referees."""

from __future__ import annotations

import re
import uuid

import docker
import libvirt
from textual.widgets import OptionList

from tests.conftest import (
    SYSTEM_URI,
    TEST_IMAGE,
    TEST_LABELS,
    TEST_VM,
    Containers,
    docker_status,
    make_app,
    run_from_palette,
    virsh_state,
    wait_for,
)
from tests.engines.test_actions import odd_vm  # noqa: F401  (fixture)
from tests.engines.test_vm_actions import Vms, conn, defined, dominfo, file_disk, snapshot_names, vms  # noqa: F401
from vtui.actions import ACTIONS
from vtui.app import VtuiApp
from vtui.backends.cgroups import LocalCounters
from vtui.backends.docker import DockerBackend
from vtui.backends.libvirt import LibvirtBackend
from vtui.screens.action_menu import ActionMenu
from vtui.screens.confirm import ConfirmScreen
from vtui.screens.consoles import ConsoleScreen
from vtui.screens.inventory import InventoryScreen
from vtui.screens.prompt import PickScreen, PromptScreen

SIZE = (160, 45)
SOCKET = "unix:///var/run/docker.sock"


def docker_app(read_only: bool = False) -> VtuiApp:
    return make_app([DockerBackend("local", SOCKET, LocalCounters(), read_only=read_only)])


def toasts(app: VtuiApp) -> str:
    return " ".join(str(t.render()) for t in app.screen.query("Toast"))


def shown(app: VtuiApp) -> list[str]:
    return [n.name for n in app.inventory_screen.table.ordered_nodes()]


async def select(pilot: object, app: VtuiApp, name: str) -> None:
    """Put the cursor on `name`: the filter, then j down to it, as a user would."""
    await pilot.press("slash", *name, "enter")  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: name in shown(app))  # type: ignore[arg-type]
    await pilot.press("g", *["j"] * shown(app).index(name))  # type: ignore[attr-defined]
    assert app.inventory_screen.table.selected is not None and app.inventory_screen.table.selected.name == name


def state_of(app: VtuiApp, name: str) -> str:
    return next(str(n.state) for n in app.inventory_screen.table.ordered_nodes() if n.name == name)


async def choose(pilot: object, app: VtuiApp, action: str) -> None:
    """Open the menu with enter and pick `action` with the arrow keys."""
    await pilot.press("enter")  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: isinstance(app.screen, ActionMenu))  # type: ignore[arg-type]
    options = app.screen.query_one(OptionList)
    await pilot.press("home", *["down"] * options.get_option_index(action), "enter")  # type: ignore[attr-defined]


async def snapshot_by_keys(pilot: object, app: VtuiApp, vm: str, snapshot: str) -> None:
    """Snapshot from the menu, typing its name; virsh must list it."""
    await choose(pilot, app, "snapshot-create")
    await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))  # type: ignore[arg-type]
    await pilot.press(*snapshot, "enter")  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: snapshot in snapshot_names(vm), timeout=15)  # type: ignore[arg-type]


async def test_menu_offers_what_fits_and_pauses(containers: Containers) -> None:
    web = containers.run()
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, web.name)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionMenu))
        offered = [str(o.id) for o in app.screen.query_one(OptionList).options]
        assert offered == ["pause", "stop", "restart", "kill"]  # running container: no start, resume, remove
        await pilot.press("escape")
        await choose(pilot, app, "pause")
        await wait_for(pilot, lambda: docker_status(web.name) == "paused")
        await wait_for(pilot, lambda: "paused" in toasts(app))


async def test_destructive_action_asks_first(containers: Containers) -> None:
    web = containers.run()
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, web.name)
        await choose(pilot, app, "kill")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, InventoryScreen))
        assert docker_status(web.name) == "running"
        await choose(pilot, app, "kill")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: docker_status(web.name) == "exited")


async def test_bulk_on_marked_nodes_with_one_failing_member(
    containers: Containers, docker_client: docker.DockerClient
) -> None:
    a, b = containers.run(), containers.run()
    for stopped in (a, b):
        stopped.handle.stop(timeout=0)
    broken = docker_client.containers.create(TEST_IMAGE, ["no-such-program"], labels=TEST_LABELS,
                                             name=f"vtui-t-{uuid.uuid4().hex[:8]}")
    containers.made.append(broken)
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("slash", *"vtui-t-", "enter")
        await wait_for(pilot, lambda: app.inventory_screen.table.row_count == 3)
        await pilot.press("g", "space", "space", "space")
        assert len(app.inventory_screen.table.marked) == 3
        assert "3 marked" in str(app.inventory_screen.table.border_subtitle)
        await choose(pilot, app, "start")
        await wait_for(pilot, lambda: "Start: 2 done, 1 failed, 0 did not fit" in toasts(app), timeout=15)
        assert [docker_status(c.name) for c in (a, b)] == ["running", "running"]
        assert docker_status(str(broken.name)) == "created"
        assert "no-such-program" in toasts(app)  # the engine's own reason, per node


async def test_vm_shutdown_ignored_by_the_guest_ends_in_the_offered_force_off(test_vm: libvirt.virDomain) -> None:
    test_vm.create()
    app = make_app([LibvirtBackend("local", SYSTEM_URI)])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.inventory_screen.shutdown_timeout = 3
        await select(pilot, app, TEST_VM)
        await choose(pilot, app, "shutdown")
        # the dialog, once mounted (a loaded machine shows the screen a moment before its widgets)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and bool(app.screen.query("#detail")),
                       timeout=10)
        assert "still running after 3 s" in str(app.screen.query_one("#detail").render())
        assert virsh_state(TEST_VM) == "running"
        await pilot.press("y")
        await wait_for(pilot, lambda: virsh_state(TEST_VM) == "shut off")


async def test_odd_vm_name_from_the_tui(odd_vm: str) -> None:
    app = make_app([LibvirtBackend("local", SYSTEM_URI)])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, odd_vm)
        await choose(pilot, app, "start")
        await wait_for(pilot, lambda: virsh_state(odd_vm) == "running")
        await wait_for(pilot, lambda: state_of(app, odd_vm) == "running")  # the event reached the table
        await choose(pilot, app, "force-off")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: virsh_state(odd_vm) == "shut off")


async def test_read_only_refuses_from_the_tui(containers: Containers) -> None:
    web = containers.run()
    app = docker_app(read_only=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, web.name)
        await choose(pilot, app, "pause")
        await wait_for(pilot, lambda: "read-only mode: refused to pause" in toasts(app))
        assert docker_status(web.name) == "running"


async def test_palette_offers_the_actions_of_the_selection(containers: Containers) -> None:
    web = containers.run()
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, web.name)
        await run_from_palette(pilot, f"pause {web.name}", f"Pause {web.name}")
        await wait_for(pilot, lambda: docker_status(web.name) == "paused")


async def test_l_opens_the_selected_nodes_log(containers: Containers) -> None:
    talker = containers.run("echo 'hello [bold]from[/bold] the log'; sleep 3600")
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, talker.name)
        await pilot.press("l")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LogsScreen")
        log = app.screen.query_one("Log")
        await wait_for(pilot, lambda: "hello [bold]from[/bold] the log" in "\n".join(log.lines))  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, InventoryScreen))


async def test_snapshot_create_and_revert_from_the_tui(vms: Vms) -> None:
    dom = vms.define(disks=(file_disk(vms.qcow2(), "vda"),))
    name = dom.name()
    app = make_app([LibvirtBackend("local", SYSTEM_URI)])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, name)
        await snapshot_by_keys(pilot, app, name, "before-change")

        await choose(pilot, app, "snapshot-revert")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.press("enter")  # the one snapshot
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "reverted" in toasts(app), timeout=15)


async def test_deleting_a_vm_takes_its_name_typed_out(vms: Vms) -> None:
    name = vms.define().name()
    app = make_app([LibvirtBackend("local", SYSTEM_URI)])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, name)
        await choose(pilot, app, "delete")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*"wrong-name", "enter")
        assert "nothing was done" in str(app.screen.query_one("#problem").render())
        await pilot.press("escape")
        assert name in defined()
        await choose(pilot, app, "delete")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*name, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))  # and the disks?
        await pilot.press("n")
        await wait_for(pilot, lambda: name not in defined(), timeout=10)


async def test_direct_keys_pause_and_resume(containers: Containers) -> None:
    web = containers.run()
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, web.name)
        await pilot.press("P")
        await wait_for(pilot, lambda: docker_status(web.name) == "paused")
        await wait_for(pilot, lambda: state_of(app, web.name) == "paused")
        await pilot.press("P")  # the same key resumes what is paused
        await wait_for(pilot, lambda: docker_status(web.name) == "running")
        await wait_for(pilot, lambda: state_of(app, web.name) == "running")  # what the user sees before K
        await pilot.press("K")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))  # destructive: asks first
        await pilot.press("n")
        assert docker_status(web.name) == "running"


async def test_triage_says_why_each_node_stopped(
    containers: Containers, docker_client: docker.DockerClient, test_vm: libvirt.virDomain
) -> None:
    quitter = containers.run("echo 'goodbye [red]world'; exit 3")
    hog = docker_client.containers.run(TEST_IMAGE, ["sh", "-c", "head -c 200000000 /dev/zero | tail"], detach=True,
                                       mem_limit="16m", memswap_limit="16m", labels=TEST_LABELS,
                                       name=f"vtui-t-{uuid.uuid4().hex[:8]}")
    containers.made.append(hog)
    running = containers.run()
    quitter.handle.wait(), hog.wait()
    test_vm.create()
    test_vm.destroy()
    app = make_app([LibvirtBackend("local", SYSTEM_URI), DockerBackend("local", SOCKET, LocalCounters())])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: {quitter.name, str(hog.name), running.name, TEST_VM} <= set(shown(app)))
        await pilot.press("t")
        await wait_for(pilot, lambda: running.name not in shown(app))  # only what stopped
        report = app.screen.query_one("#stop-report")

        def says(*parts: str) -> bool:
            text = str(report.render())
            return all(p in text for p in parts)

        await select(pilot, app, quitter.name)
        await wait_for(pilot, lambda: says("exited: exit code 3", "goodbye [red]world", " at 20"))
        await pilot.press("escape")
        await select(pilot, app, str(hog.name))
        await wait_for(pilot, lambda: says("exit code 137", "OOM killer"))
        await pilot.press("escape")
        await select(pilot, app, TEST_VM)
        await wait_for(pilot, lambda: says("shutoff: destroyed", "QEMU stopped: reason=destroyed", " at 20"))
        await pilot.press("U")  # start it from triage, and watch it boot in its console
        await wait_for(pilot, lambda: virsh_state(TEST_VM) == "running")
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen) and app.screen.is_mounted)
        await pilot.pause()  # let its header finish mounting before the app closes


async def test_every_container_action_by_keyboard(containers: Containers) -> None:
    web = containers.run()
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, web.name)
        # (action, answers to its questions, docker's state after, vtui's state after)
        steps = [("pause", [], "paused", "paused"), ("resume", [], "running", "running"),
                 ("restart", [], "running", "running"), ("stop", [], "exited", "stopped"),
                 ("start", [], "running", "running"), ("kill", ["y"], "exited", "stopped")]
        for action, answers, docker_state, shown_state in steps:
            app.inventory_screen.shutdown_timeout = 1  # stop/restart: SIGKILL after 1 s
            done = f"{ACTIONS[action].done} '{web.name}'"
            said = re.compile(rf"(?<!\w){re.escape(done)}")  # "started 'x'", not in "restarted 'x'"
            seen = len(said.findall(toasts(app)))  # its result toast, counted before and after
            await choose(pilot, app, action)
            for answer in answers:
                await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                await pilot.press(answer)
            await wait_for(pilot, lambda d=said, n=seen: len(d.findall(toasts(app))) > n, timeout=15)  # type: ignore[misc]
            assert docker_status(web.name) == docker_state, action
            await wait_for(pilot, lambda s=shown_state: state_of(app, web.name) == s)  # type: ignore[misc]
        await choose(pilot, app, "remove")
        for answer in ("y", "y"):  # remove it? its volumes too?
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press(answer)
        await wait_for(pilot, lambda: web.name not in shown(app))
        assert web.name not in {c.name for c in docker.from_env().containers.list(all=True)}


async def test_every_vm_action_by_keyboard(vms: Vms) -> None:
    dom = vms.define(disks=(file_disk(vms.qcow2(), "vda"),))
    name = dom.name()
    app = make_app([LibvirtBackend("local", SYSTEM_URI)])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, app, name)
        steps = [("start", [], "running"), ("reboot", [], "running"), ("reset", ["y"], "running"),
                 ("pause", [], "paused"), ("resume", [], "running"), ("save", [], "stopped"),
                 ("restore", [], "running"), ("force-off", ["y"], "stopped")]
        for action, answers, shown_state in steps:
            await choose(pilot, app, action)
            for answer in answers:
                await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                await pilot.press(answer)
            await wait_for(pilot, lambda s=shown_state: state_of(app, name) == s, timeout=20)  # type: ignore[misc]
            await wait_for(pilot, lambda a=action: f"{ACTIONS[a].done} '{name}'" in toasts(app), timeout=20)  # type: ignore[misc]
        assert virsh_state(name) == "shut off"
        for action, expected in (("autostart-on", "enable"), ("autostart-off", "disable")):
            await choose(pilot, app, action)
            await wait_for(pilot, lambda e=expected: dominfo(name, "Autostart") == e)  # type: ignore[misc]
        await snapshot_by_keys(pilot, app, name, "short-lived")
        await choose(pilot, app, "snapshot-delete")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: snapshot_names(name) == [], timeout=15)
