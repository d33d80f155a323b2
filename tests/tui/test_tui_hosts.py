"""Many hosts in the TUI: the host list (H), grouping and filtering by host, an unknown host key asked
about, and discovery adding hosts, driven by keys."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from tests.conftest import make_app, wait_for
from tests.engines.test_remote import lab, stranger_home  # noqa: F401
from tests.support.sshlab import SshLab, ssh_lab  # noqa: F401
from tests.support.tmux import vtui_in_tmux
from vtui.backends.registry import demo_backends, remote_backends
from vtui.config.hosts import HostSpec, engines
from vtui.model import HostState
from vtui.screens.confirm import ConfirmScreen
from vtui.screens.hosts import HostsScreen
from vtui.screens.inventory import InventoryScreen

SIZE = (160, 45)


def hosts_table(screen: HostsScreen) -> dict[str, list[str]]:
    table = screen.query_one(DataTable)
    return {str(key.value): [str(c) for c in table.get_row(key)] for key in table.rows}


async def test_host_list_shows_each_hosts_state_and_picks_a_host(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh: a plain TCP connect
    nowhere = HostSpec("nowhere", "127.0.0.1:9", engines(docker=None))  # the discard port: nothing listens on loopback
    app = make_app(demo_backends() + remote_backends([nowhere]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any(h.name == "nowhere" and h.state is HostState.UNREACHABLE
                                          for h in app.hub.inventory.hosts), timeout=10)
        await pilot.press("H")
        screen = app.screen
        assert isinstance(screen, HostsScreen)
        await wait_for(pilot, lambda: "unreachable" in hosts_table(screen).get("nowhere", [])
                       and "refused the connection" in hosts_table(screen)["nowhere"][7])
        rows = hosts_table(screen)
        assert rows["demo"][1] == "up" and rows["demo"][4] and rows["nowhere"][6] == "127.0.0.1:9"
        await pilot.press("r")  # reconnect now: it fails again, and says so
        await pilot.press("enter")  # the first row: demo
        assert isinstance(app.screen, InventoryScreen)
        await wait_for(pilot, lambda: app.inventory_screen.query_text == "host:demo")
        shown = app.inventory_screen.table.ordered_nodes()
        assert shown and {n.host for n in shown} == {"demo"}

        def engines_say(*texts: str) -> bool:  # it retries on its own, each time "connecting" for a moment
            engines = str(app.inventory_screen.query_one("#engines").render())
            return all(text in engines for text in texts)

        await wait_for(pilot, lambda: engines_say("✖ nowhere",
                                                  "nowhere unreachable: 127.0.0.1:9 refused the connection"))


async def test_an_unknown_host_key_is_asked_about_and_recorded_on_yes(
        lab: SshLab, stranger_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(stranger_home))
    known = stranger_home / ".ssh/known_hosts"
    before = known.read_text()
    app = make_app(remote_backends([HostSpec("h3", "h3", engines(docker=None))]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=10)
        asked = str(app.screen.query_one("#detail").render())
        assert "ssh-ed25519 key fingerprint is SHA256:" in asked and str(known) in asked
        assert known.read_text() == before  # nothing yet
        await pilot.press("y")
        await wait_for(pilot, lambda: any(h.state is HostState.UP for h in app.hub.inventory.hosts), timeout=10)
        await wait_for(pilot, lambda: any(n.host == "h3" for n in app.hub.inventory.nodes), timeout=10)
    assert known.read_text() == before + lab.host("h3").known_hosts_line() + "\n"


def test_discovery_screen_scans_the_lab_and_adds_a_host(lab: SshLab, tmp_path: Path) -> None:
    hosts_file = tmp_path / "hosts.toml"
    env = {"HOME": str(lab.home), "VTUI_HOSTS": str(hosts_file)}
    with vtui_in_tmux("--demo", cols=160, rows=40, env=env, prefix=("ip", "netns", "exec", "vtui-lab")) as term:
        term.wait_for("web-1")
        term.keys("H")
        term.wait_for("HOST")
        term.keys("d")
        term.wait_for("network to scan")
        term.type("10.77.0.0/24")
        screen = term.wait_for("254 addresses, 3 answered", timeout=30)
        rows = [screen.find(f"10.77.0.1{i}") for i in (1, 2, 3)]
        assert -1 < rows[0] < rows[1] < rows[2], screen  # in address order, whichever answered first
        term.keys("Up", "Up", "Down")  # the second row, 10.77.0.12 (the cursor stays on the host it was on)
        term.keys("Space")
        term.keys("a")
        deadline = time.monotonic() + 10
        while not hosts_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert '[[host]]\ntarget = "10.77.0.12"\n' in hosts_file.read_text()
        term.wait_for("+  10.77.0.12")  # the row says it was added
        term.keys("Escape")
        term.keys("Escape")
        term.wait_for("10.77.0.12", timeout=15)
