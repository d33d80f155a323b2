"""Links from the keyboard: space marks two containers, w proposes their interfaces and wires them,
L lists the link live, d takes it down, x removes it after asking; the kernel is the referee."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

from textual.widgets import DataTable, Input

from tests.conftest import Containers, run_from_palette, sh, wait_for
from tests.engines.test_link_cli import icmp_types
from tests.engines.test_links import carrier, inside, links_of, pings
from tests.support.tmux import EXIT_MARK, vtui_in_tmux
from tests.tui.test_tui_actions import SIZE, SOCKET, docker_app, toasts
from vtui.app import VtuiApp
from vtui.backends.cgroups import LocalCounters
from vtui.backends.docker import DockerBackend
from vtui.config.settings import Config
from vtui.screens.confirm import ConfirmScreen
from vtui.screens.links import LinksScreen
from vtui.screens.prompt import PromptScreen
from vtui.session import Session
from vtui.widgets.node_detail import NodeDetail


async def test_two_marked_containers_are_wired_listed_taken_down_and_removed(containers: Containers) -> None:
    tag = uuid.uuid4().hex[:6]
    a, b = containers.run(name=f"vtui-l-{tag}-a"), containers.run(name=f"vtui-l-{tag}-b")
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("slash", *f"vtui-l-{tag}", "enter")
        await wait_for(pilot, lambda: app.inventory_screen.table.row_count == 2)
        await pilot.press("g", "space", "space", "w")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen) and bool(app.screen.query("Input")))
        assert app.screen.query_one("Input").value == "eth1 eth1 1500"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: "wired: link" in toasts(app), timeout=15)
        await wait_for(pilot, lambda: carrier(a) and carrier(b), timeout=10)  # the kernel's carrier settles

        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, LinksScreen)
                       and app.screen.query_one(DataTable).row_count == 1)
        row = [str(c) for c in app.screen.query_one(DataTable).get_row_at(0)]
        assert row[1:3] == [f"{a.name}:eth1", f"{b.name}:eth1"] and row[5] == "up"
        await pilot.press("d")
        await wait_for(pilot, lambda: not carrier(b), timeout=10)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "eth1" not in links_of(a), timeout=10)
        assert "eth1" not in links_of(b)


async def test_w_without_two_marked_nodes_says_what_to_do(containers: Containers) -> None:
    box = containers.run()
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("slash", *box.name, "enter")
        await wait_for(pilot, lambda: app.inventory_screen.table.row_count == 1)
        await pilot.press("w")
        await wait_for(pilot, lambda: "Mark two containers with space, then w wires them" in toasts(app))


async def test_three_marked_containers_become_a_segment(containers: Containers) -> None:
    tag = uuid.uuid4().hex[:6]
    boxes = [containers.run(name=f"vtui-s-{tag}-{n}") for n in range(3)]
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("slash", *f"vtui-s-{tag}", "enter")
        await wait_for(pilot, lambda: app.inventory_screen.table.row_count == 3)
        await pilot.press("g", "space", "space", "space", "w")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen) and bool(app.screen.query("Input")))
        assert app.screen.query_one("Input").value == "lan1 1500"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: "segment lan1" in toasts(app), timeout=20)
        assert "joined" in toasts(app), toasts(app)
        assert all("eth1" in links_of(box) for box in boxes)
        [segment] = app.wiring.book.read().segments.values()
        assert await app.wiring.bridge_del(segment) == 3
        assert all("eth1" not in links_of(box) for box in boxes)


async def test_impair_and_capture_from_the_links_screen(containers: Containers, tmp_path: Path) -> None:
    a, b = containers.run(), containers.run()
    app = docker_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: any(n.name == b.name for n in app.hub.inventory.nodes))
        record, _ = await app.wiring.add(a.name, b.name, addresses={"a": ["10.91.0.1/30"], "b": ["10.91.0.2/30"]})
        await pilot.press("slash", *a.name, "enter")
        detail = app.inventory_screen.query_one(NodeDetail)
        await wait_for(pilot, lambda: f"eth1 → {b.name}:eth1" in detail.identity.plain)  # the detail pane's links
        await run_from_palette(pilot, "links", "Links")  # the palette offers it too
        await wait_for(pilot, lambda: isinstance(app.screen, LinksScreen)
                       and app.screen.query_one(DataTable).row_count == 1)

        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen) and bool(app.screen.query("Input")))
        await pilot.press(*"a 5mbit", "enter")
        await wait_for(pilot, lambda: "tbf" in inside(a, "tc", "qdisc", "show", "dev", "eth1"), timeout=10)
        assert "tbf" not in inside(b, "tc", "qdisc", "show", "dev", "eth1")
        assert app.wiring.book.load()[record.id].impair["a"].rate_kbit == 5000

        assert pings(a, "10.91.0.2")  # the neighbours are known: no ARP in the capture
        pcap = tmp_path / "b.pcap"
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen) and bool(app.screen.query("Input")))
        app.screen.query_one(Input).value = f"b {pcap}"
        await pilot.press("enter")
        await wait_for(pilot, lambda: record.id in app.wiring.captures)
        await pilot.pause(1.5)  # tcpdump starts
        sh("docker", "exec", a.name, "ping", "-c", "2", "-i", "0.2", "10.91.0.2")
        await pilot.pause(0.5)
        await pilot.press("c")
        await wait_for(pilot, lambda: "capture of link" in toasts(app) and "stopped" in toasts(app), timeout=10)
        assert icmp_types(pcap.read_bytes()) == [8, 0, 8, 0]
        await app.wiring.delete(record)


def test_a_killed_vtui_leaves_its_link_listed_once_by_the_next(containers: Containers, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    a, b = containers.run(name=f"vtui-k-{tag}-a"), containers.run(name=f"vtui-k-{tag}-b")
    env = {"VTUI_STATE_DIR": str(tmp_path)}
    with vtui_in_tmux("--no-libvirt", cols=160, rows=40, env=env) as term:
        term.wait_for("nodes (")  # listed (on a crowded machine the two may be below the fold)
        term.keys("/")
        term.type(f"vtui-k-{tag}")
        term.wait_for("nodes (2 of")
        term.keys("g", "Space", "Space", "w")
        term.wait_for("eth1 eth1 1500")
        term.keys("Enter")
        term.wait_for("wired: link")
        shell = int(term.tmux("list-panes", "-t", "t", "-F", "#{pane_pid}").strip())
        [child] = [int(p) for p in Path(f"/proc/{shell}/task/{shell}/children").read_text().split()]
        os.kill(child, signal.SIGKILL)  # the vtui this test started, by its PID
        term.wait_for(EXIT_MARK)
    with vtui_in_tmux("--no-libvirt", cols=160, rows=40, env=env) as term:
        term.wait_for("nodes (")
        term.keys("L")
        term.wait_for("Links — ")  # the detail pane names the link too: wait for the links screen itself
        screen = term.wait_for(f"{b.name}:eth1")
        assert screen.count(f"{a.name}:eth1") == 1 and "1 link" in screen
    assert set(links_of(a)) == {"eth0", "eth1"} and set(links_of(b)) == {"eth0", "eth1"}  # nothing twice


async def test_the_link_keys_can_be_remapped(containers: Containers) -> None:
    box = containers.run()
    app = VtuiApp(Session(Config(keymap={"links": "ctrl+l", "wire": "ctrl+w"}),
                          [DockerBackend("local", SOCKET, LocalCounters())]))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("slash", *box.name, "enter")
        await wait_for(pilot, lambda: app.inventory_screen.table.row_count == 1)
        await pilot.press("L")  # no longer bound
        await pilot.pause(0.3)
        assert not isinstance(app.screen, LinksScreen)
        await pilot.press("ctrl+w")
        await wait_for(pilot, lambda: "Mark two containers with space" in toasts(app))
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, LinksScreen))
