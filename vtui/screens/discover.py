"""Discovery: scan a network range for SSH, libvirt and docker ports; add chosen hosts."""

from __future__ import annotations

import ipaddress
import time
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, ProgressBar, Static

from vtui.messages import HostsAdded
from vtui.transport.discovery import Scan
from vtui.transport.scan_terms import COLUMNS, Found, ssh_target

PROGRESS_EVERY = 0.1  # seconds between progress repaints


class DiscoverScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Stop / back", id="discover-back"),
        Binding("space", "mark", "Mark", id="discover-mark"),
        Binding("a", "add", "Add marked", id="discover-add"),
        Binding("slash", "edit", "New range", id="discover-edit"),
    ]
    DEFAULT_CSS = """
    DiscoverScreen DataTable { height: 1fr; }
    DiscoverScreen #discover-summary { padding: 0 1; color: $text-muted; }
    DiscoverScreen ProgressBar { padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, Found] = {}
        self.marked: set[str] = set()
        self.scan: Scan | None = None
        self._painted = 0.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="network to scan, e.g. 192.168.1.0/24 (enter starts)", id="discover-range")
        yield ProgressBar(id="discover-progress", show_eta=False)
        yield Static(id="discover-summary")
        yield DataTable(id="discover-found", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "discover hosts"
        table = self.query_one(DataTable)
        table.add_column("", key="mark", width=1)  # ● marked, + added; sized now, as it starts empty
        for column in ("ADDRESS", *(c.upper() for c in COLUMNS), "BANNER"):
            table.add_column(column, key=column)
        self.query_one(Input).focus()

    @on(Input.Submitted, "#discover-range")
    def _start(self, event: Input.Submitted) -> None:
        try:
            scan = Scan(event.value.strip(), on_progress=self._progress)
        except ValueError as problem:
            self._say(Text(str(problem), style="red"))
            return
        self.found.clear()
        self.marked.clear()
        self.query_one(DataTable).clear()
        self.scan = scan
        self.query_one(ProgressBar).update(total=scan.total, progress=0)
        self._say(Text(f"scanning: {scan.total} connection attempts… (escape stops)"))
        self.query_one(DataTable).focus()
        self._run(scan)

    @work(exclusive=True, group="discover")
    async def _run(self, scan: Scan) -> None:
        await scan.run(on_found=self._found)
        self.query_one(ProgressBar).update(progress=scan.total)
        self._say(Text(scan.summary().sentence() + ("  ·  space marks, a adds the marked hosts" if self.found else "")))

    def _progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._painted >= PROGRESS_EVERY or done == total:  # the scan reports every attempt
            self._painted = now
            self.query_one(ProgressBar).update(progress=done)

    def _found(self, host: Found) -> None:
        key = str(host.address)
        self.found[key] = host
        cells = [", ".join(str(p.port) for p in host.services if p.name.split("-")[0] == c) or "-" for c in COLUMNS]
        banner = next((p.banner for p in host.services if p.banner), "")
        table = self.query_one(DataTable)
        table.add_row("", key, *cells, Text(banner), key=key)
        selected = self._selected()
        table.sort("ADDRESS", key=ipaddress.ip_address)  # in address order, as hosts answer in any order
        if selected is not None:
            table.move_cursor(row=table.get_row_index(selected))  # the cursor stays on its host

    def _say(self, text: Text) -> None:
        self.query_one("#discover-summary", Static).update(text)

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(value) if value is not None else None

    def action_mark(self) -> None:
        if key := self._selected():
            self.marked ^= {key}
            self.query_one(DataTable).update_cell(key, "mark", "●" if key in self.marked else "")
            self.query_one(DataTable).action_cursor_down()

    def action_add(self) -> None:
        keys = sorted(self.marked) or [k for k in [self._selected()] if k]
        targets = [t for k in keys if (t := ssh_target(self.found[k])) is not None]
        if not targets:
            self.notify("no marked host answers on SSH: vtui reaches hosts over SSH", severity="warning")
            return
        self.app.post_message(HostsAdded(tuple(targets)))
        self.marked.clear()
        for key in keys:
            self.query_one(DataTable).update_cell(key, "mark", "+")

    def action_edit(self) -> None:
        self.query_one(Input).focus()

    def action_leave(self) -> None:
        if self.workers and any(w.is_running for w in self.workers):
            self.workers.cancel_group(self, "discover")
            self._say(Text("scan stopped", style="yellow"))
            return
        self.app.pop_screen()
