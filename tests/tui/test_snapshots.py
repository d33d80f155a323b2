"""What the screens whose look matters look like: SVG snapshots (pytest-textual-snapshot) at 160x45
on the embedded demo, with one stats sample only (no rate that differs from run to run).

After a deliberate change of look: `.venv/bin/python -m pytest tests/tui/test_snapshots.py --snapshot-update`,
then read the new SVGs under tests/tui/__snapshots__/ before committing them.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App, ComposeResult
from textual.pilot import Pilot

from tests.tui.test_tui import SIZE, table
from vtui.app import VtuiApp
from vtui.backends.registry import demo_backends
from vtui.config.settings import Config
from vtui.screens.hosts import HostsScreen
from vtui.session import Session
from vtui.widgets.stop_report import StopReportPane
from vtui.widgets.terminal import Terminal

Snap = Callable[..., bool]


async def until(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 20) -> None:
    """Wait for what the snapshot should show; never raise (a failure inside snap_compare's run
    hangs it): a wait that runs out shows as a snapshot that differs."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)


def demo() -> VtuiApp:
    return VtuiApp(Session(Config(), demo_backends(), demo=True, interval=3600))


async def loaded(pilot: Pilot[None]) -> None:
    await until(pilot, lambda: table(pilot.app).row_count == 8)  # type: ignore[arg-type]


def test_inventory(snap_compare: Snap) -> None:
    assert snap_compare(demo(), terminal_size=SIZE, run_before=loaded)


def test_triage(snap_compare: Snap) -> None:
    async def triage(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press("t")
        pane = pilot.app.screen.query_one("#stop-report", StopReportPane)
        await until(pilot, lambda: str(pane.border_title).endswith(" stopped  (U starts it, l shows its whole log)"))

    assert snap_compare(demo(), terminal_size=SIZE, run_before=triage)


def test_hosts(snap_compare: Snap) -> None:
    async def hosts(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press("H")
        await until(pilot, lambda: isinstance(pilot.app.screen, HostsScreen))

    assert snap_compare(demo(), terminal_size=SIZE, run_before=hosts)


class TerminalApp(App[None]):
    """The console's terminal widget alone, fed what a VM's serial console printed."""

    def compose(self) -> ComposeResult:
        yield Terminal()

    async def on_mount(self) -> None:
        await self.query_one(Terminal).feed(
            b"\x1b[1;32mvtui-test-vm\x1b[0m login: root\r\n/ # uname -sr\r\nLinux 6.1.0-28-cloud-amd64\r\n"
            b"/ # ls /\r\n\x1b[1;34mbin\x1b[0m  \x1b[1;34mdev\x1b[0m  \x1b[1;34metc\x1b[0m  init  "
            b"\x1b[1;34mproc\x1b[0m  \x1b[1;34mroot\x1b[0m  \x1b[1;34msys\x1b[0m  \x1b[1;34mtmp\x1b[0m\r\n"
            b"/ # \x1b[7m top \x1b[0m reverse, \x1b[4munderlined\x1b[0m, \x1b[31mred\x1b[0m\r\n/ # ")


def test_console_terminal(snap_compare: Snap) -> None:
    assert snap_compare(TerminalApp(), terminal_size=(80, 12))
