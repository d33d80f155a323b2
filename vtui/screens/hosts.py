"""The host list: every host's state, round trip, engines and nodes; reconnect, add, discover."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from vtui.messages import HostChosen, HostsAdded, InventoryChanged
from vtui.model import EngineState, HostState, Inventory, Node, State
from vtui.model.format import milliseconds
from vtui.screens.discover import DiscoverScreen
from vtui.screens.prompt import PromptScreen
from vtui.services.hub import Hub

STATE_STYLE = {
    HostState.UP: "green",
    HostState.CONNECTING: "yellow",
    HostState.DEGRADED: "yellow",
    HostState.UNREACHABLE: "bold red",
    HostState.AUTH_FAILED: "bold red",
    HostState.UNTRUSTED: "bold red",
}
HELP = ("enter: show the host's nodes · r: reconnect now (asks again about an unknown key) · a: add a host · "
        "d: discover hosts on a network")
COLUMNS = ("HOST", "STATE", "RTT", "ENGINES", "VMS", "CONTAINERS", "TARGET", "WHY")


def host_rows(inventory: Inventory) -> list[tuple[str, tuple[Text | str, ...]]]:
    """(host name, cells) per host, in the hub's order."""
    rows: list[tuple[str, tuple[Text | str, ...]]] = []
    for host in inventory.hosts:
        engines = [e for e in inventory.engines if e.host == host.name]
        up = " ".join(e.engine + ("" if e.state is EngineState.UP else f" ({e.state})") for e in engines)
        nodes = [n for n in inventory.nodes if n.host == host.name]

        def count(kind: str, nodes: list[Node] = nodes) -> str:
            mine = [n for n in nodes if n.kind == kind]
            return f"{sum(n.state is State.RUNNING for n in mine)}/{len(mine)}" if mine else ""

        rtt = milliseconds(host.latency)
        rows.append((host.name, (Text(host.name, style="bold"), Text(host.state, style=STATE_STYLE[host.state]),
                                 Text(rtt, justify="right"), up, count("vm"), count("container"),
                                 Text(host.target), Text(host.reason, style="red"))))
    return rows


class HostsScreen(Screen[None]):
    """Live, from the hub's snapshots; `enter` shows the host's nodes in the inventory."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,H", "app.pop_screen", "Back", id="hosts-back"),
        Binding("enter", "pick", "Show its nodes", id="hosts-pick"),
        Binding("r", "reconnect", "Reconnect", id="hosts-reconnect"),
        Binding("a", "add", "Add host", id="hosts-add"),
        Binding("d", "discover", "Discover", id="hosts-discover"),
    ]
    DEFAULT_CSS = """
    HostsScreen DataTable { height: 1fr; }
    HostsScreen #hosts-help { color: $text-muted; padding: 0 1; height: auto; max-height: 4; }
    """

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub
        self.inventory = hub.inventory

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="hosts", cursor_type="row", zebra_stripes=True)
        yield Static(HELP, id="hosts-help")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "hosts"
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self._show()

    def on_inventory_changed(self, message: InventoryChanged) -> None:
        self.inventory = message.inventory
        self._show()

    def _show(self) -> None:
        table = self.query_one(DataTable)
        rows = host_rows(self.inventory)
        wanted = {name for name, _ in rows}
        for key in [k for k in table.rows if k.value not in wanted]:
            table.remove_row(key)
        shown = {k.value for k in table.rows}
        for name, cells in rows:
            if name in shown:
                for column, cell in zip(COLUMNS, cells, strict=True):
                    table.update_cell(name, column, cell, update_width=True)
            else:
                table.add_row(*cells, key=name)
        self.sub_title = f"{len(rows)} hosts, {sum(h.state is HostState.UP for h in self.inventory.hosts)} up"
        self._explain()

    @property
    def selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self._explain()

    def _explain(self) -> None:
        """The highlighted host's whole reason (the table's column may cut it)."""
        host = next((h for h in self.inventory.hosts if h.name == self.selected), None)
        text = Text(f"{host.name}: {host.reason}", style="red") if host and host.reason else Text(HELP)
        self.query_one("#hosts-help", Static).update(text)

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:  # enter on the table: the table takes the key, then says so
        self.action_pick()

    def action_pick(self) -> None:
        if name := self.selected:
            self.app.pop_screen()
            self.app.post_message(HostChosen(name))

    def action_reconnect(self) -> None:
        if name := self.selected:
            if self.hub.reconnect(name):
                self.notify(f"reconnecting to {name}…")
            else:
                self.notify(f"{name} is not reached over SSH: nothing to reconnect", severity="warning")

    def action_add(self) -> None:
        def added(target: str | None) -> None:
            if target and target.strip():
                self.app.post_message(HostsAdded((target.strip(),)))

        self.app.push_screen(PromptScreen("Add a host: user@host:port, or a ~/.ssh/config alias", ""), added)

    def action_discover(self) -> None:
        self.app.push_screen(DiscoverScreen())
