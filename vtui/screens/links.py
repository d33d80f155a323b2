"""The links screen (L): every link with both ends, state, MTU, impairments and live rates from the
ends' counters (1 s); on a link, d takes it down or up, f flaps it, i impairs it, x removes it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from vtui.errors import LinkError, VtuiError
from vtui.links.wiring import LinkView, Wiring
from vtui.model.format import human_rate
from vtui.net.book import SIDES
from vtui.net.plan import Impairment, parse_impairment
from vtui.screens.confirm import ConfirmScreen
from vtui.screens.prompt import PromptScreen
from vtui.screens.refresher import Refresher

COLUMNS = ("ID", "A", "B", "HOST", "KIND", "STATE", "MTU", "IMPAIRMENT", "A→B", "B→A", "PKT/S", "DROPS")
STATE_STYLE = {"up": "green", "down": "yellow", "unwired": "red", "waiting": "dim"}
HELP = ("d: down/up · f: flap · i: impair · c: capture to a pcap file (c again stops) · x: remove · esc: back   "
        "(vtui link … does the same from a shell)")


class LinksScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,L", "app.pop_screen", "Back", id="links-back"),
        Binding("d", "toggle_down", "Down/up", id="link-down"),
        Binding("f", "flap", "Flap", id="link-flap"),
        Binding("i", "impair", "Impair", id="link-impair"),
        Binding("c", "capture", "Capture", id="link-capture"),
        Binding("x", "remove", "Remove", id="link-remove"),
    ]

    def __init__(self, wiring: Wiring, select: str | None = None) -> None:
        """`select`: the id of the link to put the cursor on first (the labs screen's choice)."""
        super().__init__()
        self.wiring = wiring
        self._select = select
        self.refresh_links = Refresher(self, self._read_links, "links-refresh")
        self.views: dict[str, LinkView] = {}
        self._last: dict[str, tuple[float, LinkView]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(HELP), id="links-help")
        table: DataTable[Text | str] = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Links"
        self.refresh_links()
        self.set_interval(1.0, self.refresh_links)

    async def _read_links(self) -> None:
        try:
            views = await self.wiring.views()
        except LinkError as err:
            self.query_one("#links-help", Static).update(Text(str(err), style="red"))
            return
        self._show(views, time.monotonic())

    def _show(self, views: list[LinkView], now: float) -> None:
        table: DataTable[Text | str] = self.query_one(DataTable)
        selected = self.selected.record.id if self.selected else self._select
        self._select = None
        table.clear(columns=True)  # columns sized afresh: a long reason gone leaves no wide column
        table.add_columns(*COLUMNS)
        for view in views:
            r = view.record
            rates = self._rates(view, now)
            state = view.state + ("" if view.state == "up" else f": {view.reason}")
            if r.id in self.wiring.captures:
                state += f" · capturing to {self.wiring.captures[r.id][1].name}"
            table.add_row(r.id, f"{r.a.node}:{r.a.ifname}", f"{r.b.node}:{r.b.ifname}", r.a.host, r.kind,
                          Text(state, style=STATE_STYLE.get(view.state, "")), str(r.mtu), r.impair_words() or "-",
                          *rates, str(sum(view.ends[s].drops for s in SIDES)), key=r.id)
        self.views = {v.record.id: v for v in views}
        self._last = {v.record.id: (now, v) for v in views}
        if selected and selected in self.views:
            table.move_cursor(row=table.get_row_index(selected))
        self.sub_title = f"{len(views)} link{'s' * (len(views) != 1)}"

    def _rates(self, view: LinkView, now: float) -> tuple[str, str, str]:
        """a→b and b→a bits/s and packets/s, from the counters of the last refresh."""
        before = self._last.get(view.record.id)
        a, b = view.ends["a"], view.ends["b"]
        if before is None or not (a.present and b.present) or not all(before[1].ends[s].present for s in SIDES):
            return "-", "-", "-"
        seconds = max(now - before[0], 1e-3)
        old_a = before[1].ends["a"]
        old_b = before[1].ends["b"]
        ab = max(a.tx_bytes - old_a.tx_bytes, 0) * 8 / seconds
        ba = max(b.tx_bytes - old_b.tx_bytes, 0) * 8 / seconds
        packets = (max(a.tx_packets - old_a.tx_packets, 0) + max(b.tx_packets - old_b.tx_packets, 0)) / seconds
        return human_rate(ab / 8) or "0", human_rate(ba / 8) or "0", f"{packets:.0f}"

    @property
    def selected(self) -> LinkView | None:
        table: DataTable[Text | str] = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.views.get(str(key))

    @work(group="links-change")
    async def _change(self, what: str, view: LinkView, impairment: Impairment | None = None,
                      sides: Sequence[str] = SIDES) -> None:
        record = view.record
        try:
            if what == "down":
                up = bool(record.down)
                await self.wiring.set_admin(record, list(record.down) if up else ["a"], up)
                self.notify(f"link {record}: {'up' if up else 'down'}")
            elif what == "flap":
                await self.wiring.flap(record, ["a"])
                self.notify(f"link {record}: flapped")
            elif what == "impair" and impairment is not None:
                record = await self.wiring.impair(record, list(sides), impairment)
                self.notify(f"link {record}: {record.impair_words() or 'no impairment'}")
            elif what == "remove":
                await self.wiring.delete(record)
                self.notify(f"link {record}: removed")
        except VtuiError as err:
            self.notify(str(err), title="Link", severity="error")
        self.refresh_links()

    def action_toggle_down(self) -> None:
        if view := self.selected:
            self._change("down", view)

    def action_flap(self) -> None:
        if view := self.selected:
            self._change("flap", view)

    def action_impair(self) -> None:
        view = self.selected
        if view is None:
            return

        def answered(text: str | None) -> None:
            if text is None:
                return
            try:
                sides, impairment = parse_impairment(text)
            except LinkError as err:
                self.notify(str(err), title="Impair", severity="error")
                return
            self._change("impair", view, impairment, sides or SIDES)

        self.app.push_screen(PromptScreen(
            f"Impair {view.record}: what an end sends. Start with a, b or both (default both)",
            "e.g. a 10mbit 50ms jitter 5ms loss 1% corrupt 0.1%, or off",
            value=view.record.impair_words() if len(view.record.impair) == 1 else ""), answered)

    def action_capture(self) -> None:
        """c: capture one end to a pcap file, in the background; c again on the link stops it."""
        view = self.selected
        if view is None:
            return
        if self.wiring.stop_capture(view.record.id):
            return
        default = Path.cwd() / f"vtui-{view.record.id}-{time.strftime('%Y%m%d-%H%M%S')}.pcap"

        def answered(text: str | None) -> None:
            if text is None:
                return
            side, _, path = text.strip().partition(" ")
            if side not in SIDES or not path.strip():
                self.notify("Write the end (a or b), a space, and the file", title="Capture", severity="error")
                return
            try:
                self.wiring.start_capture(view.record, side, Path(path.strip()).expanduser(),
                                          lambda said: self.app.notify(said, title="Capture"))
            except LinkError as err:
                self.notify(str(err), title="Capture", severity="error")
                return
            self.notify(f"capturing end {side} of link {view.record.id} to {path.strip()}: c again stops it",
                        title="Capture")
            self.refresh_links()

        self.app.push_screen(PromptScreen(f"Capture {view.record}: the end (a or b) and the pcap file",
                                          f"a {default}", value=f"a {default}"), answered)

    def action_remove(self) -> None:
        view = self.selected
        if view is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._change("remove", view)

        self.app.push_screen(ConfirmScreen(f"Remove the link {view.record}?",
                                           "Both interfaces go, with their addresses."), answered)
