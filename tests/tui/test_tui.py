"""The inventory screen driven by keys (App.run_test + Pilot) against the demo and real engines."""

from __future__ import annotations

import threading
from pathlib import Path

import libvirt
import pytest
from textual import events
from textual.widgets import HelpPanel, Input

from tests.conftest import (
    SYSTEM_URI,
    TEST_VM,
    Containers,
    make_app,
    one_core,
    run_from_palette,
    virsh_state,
    wait_for,
    write_test_driver_xml,
)
from tests.engines.test_ls import ODD_NAMES, odd_names_uri
from vtui.app import VtuiApp
from vtui.backends.cgroups import LocalCounters
from vtui.backends.docker import DockerBackend
from vtui.backends.libvirt import LibvirtBackend
from vtui.backends.registry import demo_backends
from vtui.config.settings import Config
from vtui.model import LOCAL_HOST
from vtui.model.format import BARS
from vtui.model.stats import Sample
from vtui.screens.inventory import InventoryScreen
from vtui.screens.no_engines import NoEnginesScreen
from vtui.session import Session
from vtui.widgets.node_detail import NodeDetail
from vtui.widgets.node_table import NodeTable

SIZE = (160, 45)


def table(app: VtuiApp) -> NodeTable:
    return app.inventory_screen.table


def names(app: VtuiApp) -> list[str]:
    return [n.name for n in table(app).ordered_nodes()]


def cell(app: VtuiApp, name: str, column: str) -> str:
    return table(app).cell_text(names(app).index(name), column)


async def test_demo_filter_sort_and_move_by_keys() -> None:
    app = make_app(demo_backends(), demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == 8)
        assert names(app) == sorted(names(app), key=str.lower)  # sorted by name at start
        assert app.screen.query_one("#demo-banner").display

        await pilot.press("slash", *"web")
        await wait_for(pilot, lambda: names(app) == ["web-1", "web-2"])
        assert "2 of 8" in str(table(app).border_title)
        await pilot.press("enter")  # keep the filter, back to the table
        assert app.focused is table(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: table(app).row_count == 8)
        assert not app.screen.query_one("#filter", Input).display

        await pilot.press("s", "s", "s")  # name -> host -> kind -> state
        assert table(app).sort_column == "state"
        assert names(app)[-1] == "laptop-image"  # suspended sorts last of the demo's states
        assert [cell(app, n, "state") for n in names(app)][:4] == ["running"] * 4
        await pilot.press("S")
        assert names(app)[0] == "laptop-image"

        await pilot.press("s", "s", "s")  # cpu, mem, limit: largest first
        assert table(app).sort_column == "limit" and table(app).sort_reverse
        assert names(app)[:2] in (["db-primary", "db-replica"], ["db-replica", "db-primary"])
        assert names(app)[-1] == "router"

        top = names(app)[0]
        await pilot.press("g", "j", "j", "k")
        assert table(app).cursor_row == 1
        selected = table(app).selected
        assert selected is not None and selected.name == names(app)[1]
        assert names(app)[0] == top


async def test_cells_are_painted_at_full_width() -> None:
    """Rows arriving in one burst must not stay clipped to the headers' widths."""
    app = make_app(demo_backends(), demo=True)
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == 8)
        texts = [text.replace(" ", "&#160;") for text in ("build-runner", "laptop-image", "pmsuspended", "8.0 GiB")]
        await wait_for(pilot, lambda: all(text in app.export_screenshot() for text in texts), timeout=5)


async def test_filter_typed_in_one_burst_lands_in_the_box() -> None:
    """A terminal delivers "/web" in one read: every key after "/" belongs to the filter."""
    app = make_app(demo_backends(), demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == 8)
        for key, char in (("slash", "/"), ("w", "w"), ("e", "e"), ("b", "b"), ("slash", "/")):
            app.post_message(events.Key(key, char))
        await wait_for(pilot, lambda: app.screen.query_one("#filter", Input).value == "web/")
        assert names(app) == []


async def test_letters_in_the_filter_box_are_text_not_commands() -> None:
    app = make_app(demo_backends(), demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == 8)
        await pilot.press("slash", "s", "q", "j")
        assert app.screen.query_one("#filter", Input).value == "sqj"
        assert app.is_running and table(app).sort_column == "name"


async def test_keys_can_be_remapped_from_the_config() -> None:
    app = VtuiApp(Session(Config(keymap={"filter": "f", "sort": "o"}), demo_backends(), demo=True))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == 8)
        await pilot.press("o")
        assert table(app).sort_column == "host"
        await pilot.press("f", *"router")
        await wait_for(pilot, lambda: names(app) == ["router"])


async def test_help_and_command_palette() -> None:
    app = make_app(demo_backends(), demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == 8)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: bool(app.screen.query(HelpPanel)))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: not app.screen.query(HelpPanel))

        await run_from_palette(pilot, "sort by vcpu", "Sort by vcpu")
        await wait_for(pilot, lambda: table(app).sort_column == "vcpus")
        assert names(app)[0] == "build-runner"  # 8 vCPUs, largest first


async def test_container_started_elsewhere_appears_without_a_key(
    containers: Containers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No cgroup reader: stats come from the Docker API fallback. Here it never answers until the test
    # ends, and events must still arrive: they do not wait for stats.
    released = threading.Event()
    api_sample = DockerBackend._api_sample

    def stuck(backend: DockerBackend, container_id: str) -> Sample | None:
        released.wait(60)
        return api_sample(backend, container_id)

    monkeypatch.setattr(DockerBackend, "_api_sample", stuck)
    app = make_app([DockerBackend(LOCAL_HOST, "unix:///var/run/docker.sock")])
    async with app.run_test(size=SIZE) as pilot:
        try:
            await wait_for(pilot, lambda: bool(app.hub.inventory.engines) and
                           app.hub.inventory.engines[0].state == "up")
            container = containers.run()  # as from another shell: the docker engine, not vtui
            await wait_for(pilot, lambda: container.name in names(app), timeout=15)
            assert cell(app, container.name, "state") == "running"

            container.pause()
            await wait_for(pilot, lambda: cell(app, container.name, "state") == "paused", timeout=15)
            container.remove()
            await wait_for(pilot, lambda: container.name not in names(app), timeout=15)
        finally:
            released.set()


async def test_vm_state_follows_libvirt_events(test_vm: libvirt.virDomain) -> None:
    app = make_app([LibvirtBackend(LOCAL_HOST, SYSTEM_URI)])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: TEST_VM in names(app))
        assert cell(app, TEST_VM, "state") == "stopped"
        test_vm.create()
        await wait_for(pilot, lambda: cell(app, TEST_VM, "state") == "running", timeout=15)
        test_vm.suspend()
        await wait_for(pilot, lambda: cell(app, TEST_VM, "state") == "paused", timeout=15)
        assert virsh_state(TEST_VM) == "paused"
        test_vm.destroy()
        await wait_for(pilot, lambda: cell(app, TEST_VM, "detail") == "shutoff: destroyed", timeout=15)


async def test_a_broken_engine_is_shown_and_the_other_keeps_working(containers: Containers, tmp_path: Path) -> None:
    running = containers.run()
    app = make_app([LibvirtBackend(LOCAL_HOST, f"qemu+unix:///system?socket={tmp_path}/nope"),
                    DockerBackend(LOCAL_HOST, "unix:///var/run/docker.sock")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: running.name in names(app))
        engines = str(app.screen.query_one("#engines").render())
        assert f"local libvirt unavailable: libvirtd is not running (no socket at {tmp_path}/nope)" in engines
        assert engines.startswith("◐ local  ✖ libvirt  ● docker")  # degraded: one engine of two is down
        assert not isinstance(app.screen, NoEnginesScreen)


async def test_no_engines_offers_the_demo(tmp_path: Path) -> None:
    app = make_app([LibvirtBackend(LOCAL_HOST, f"qemu+unix:///system?socket={tmp_path}/nope"),
                    DockerBackend(LOCAL_HOST, f"unix://{tmp_path}/docker.sock")])
    async with app.run_test(size=SIZE) as pilot:
        # the screen is pushed before its widgets are mounted
        await wait_for(pilot, lambda: isinstance(app.screen, NoEnginesScreen) and bool(app.screen.query("#reasons")))
        reasons = str(app.screen.query_one("#reasons").render())
        assert "libvirtd is not running" in reasons and "dockerd is not running" in reasons
        await pilot.press("d")
        await wait_for(pilot, lambda: table(app).row_count == 8)
        assert isinstance(app.screen, InventoryScreen)
        assert app.hub.demo and app.screen.query_one("#demo-banner").display


async def test_large_inventory_filters_by_keys(tmp_path: Path) -> None:
    uri = write_test_driver_xml(tmp_path / "big.xml", 1200)
    app = make_app([LibvirtBackend(LOCAL_HOST, uri)])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == 1200)
        await pilot.press("slash", *"vm-011")
        await wait_for(pilot, lambda: len(names(app)) == 10)
        assert all(n.startswith("vm-011") for n in names(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: table(app).row_count == 1200)


async def test_odd_names_show_verbatim(tmp_path: Path) -> None:
    app = make_app([LibvirtBackend(LOCAL_HOST, odd_names_uri(tmp_path))])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == len(ODD_NAMES))
        assert sorted(names(app)) == sorted(ODD_NAMES)
        await pilot.press("slash", *"$(vm")
        await wait_for(pilot, lambda: names(app) == ["it's a $(vm)"])


async def test_reasons_with_brackets_are_not_markup(tmp_path: Path) -> None:
    odd = tmp_path / "[red]x[/red"
    app = make_app([DockerBackend(LOCAL_HOST, f"unix://{odd}/docker.sock")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, NoEnginesScreen))
        assert f"no socket at {odd}/docker.sock" in str(app.screen.query_one("#reasons").render())


async def test_live_figures_detail_pane_and_cpu_sort(containers: Containers) -> None:
    busy = containers.run("yes > /dev/null")
    idle = containers.run()
    app = make_app([DockerBackend(LOCAL_HOST, "unix:///var/run/docker.sock", LocalCounters())])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: cell(app, busy.name, "cpu") != "" if busy.name in names(app) else False)
        assert one_core(float(cell(app, busy.name, "cpu"))), cell(app, busy.name, "cpu")
        assert float(cell(app, idle.name, "cpu")) < 5
        assert cell(app, busy.name, "mem").endswith("iB") and cell(app, busy.name, "net_rx").endswith("/s")

        await pilot.press(*["s"] * 4)  # name -> host -> kind -> state -> cpu
        assert table(app).sort_column == "cpu"
        assert names(app)[0] == busy.name  # busiest first
        await pilot.press("g")
        await wait_for(pilot, lambda: len(app.hub.stats.history.series(busy.key, "cpu_percent")) >= 3, 6)
        def top_bar_is_busiest_sample_of_100() -> bool:  # a 0-100 scale, not one fitted to the samples
            series = app.hub.stats.history.series(busy.key, "cpu_percent")
            cpu_line = next(line for line in app.screen.query_one(NodeDetail).render().plain.splitlines()
                            if line.startswith("CPU %"))
            spark = "".join(c for c in cpu_line.split("MEM")[0] if c in BARS)
            return one_core(max(series)) and max(spark, key=BARS.index) == BARS[min(8, round(max(series) / 12.5))]

        await wait_for(pilot, top_bar_is_busiest_sample_of_100, 10)
        assert app.screen.query_one("#detail").border_title.startswith(busy.name)  # type: ignore[union-attr]
        await pilot.press("i")
        assert not app.screen.query_one("#detail").display
