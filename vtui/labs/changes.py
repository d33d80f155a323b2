"""The steps that change a running lab, one kind of change each: a node made, started or removed, a
segment made or removed, a link wired, wired again or removed, impairments and link state set, a
node's commands run. Each step knows how to do itself and, where it makes something, to undo it."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence

from vtui.backends.base import NodeSpec
from vtui.errors import LabError, LinkError
from vtui.labs.inventory import LabInventory
from vtui.labs.matching import Names, link_words, sides
from vtui.labs.steps import Step
from vtui.labs.topology import CLAB_MTU, NODE_LABEL, Lab, LabLink, LabNode, NodeKind
from vtui.links.wiring import SEGMENT, Wiring
from vtui.model import LAB_LABEL, Kind, Node, State
from vtui.net.book import SIDES, LinkRecord, SegmentRecord
from vtui.net.plan import DEFAULT_MTU, Impairment


class LabChanges:
    """The steps for one lab, against what `inventory` found running, its links made by `wiring`."""

    def __init__(self, inventory: LabInventory, lab: Lab, wiring: Wiring) -> None:
        self.inventory = inventory
        self.lab = lab
        self.wiring = wiring

    # --- nodes ----------------------------------------------------------------------------------

    def node(self, node: LabNode, remade: bool) -> list[Step]:
        """What makes the node as the file says and running: made (again when `remade`), started, or nothing."""
        lab = self.lab
        view, host = self.inventory.view(lab, node), self.inventory.host(node)
        if node.becomes == NodeKind.SEGMENT:
            if view.state == "made":
                return []
            name = lab.segment_name(node.name)
            return [Step("+", f"node {node.name} (segment {name} on {host})",
                         lambda: self._segment(name, host),
                         lambda: self._drop_segment_named(name, host))]
        if node.becomes == NodeKind.EXTERNAL or (node.becomes == NodeKind.VM and not node.xml):
            if view.state == str(State.RUNNING):
                return []
            external = view.node
            assert external is not None  # checked before planning (Labs.plan)
            return [Step("~", f"node {node.name} ({external.kind} {external.name} on {host}): start it",
                         lambda: self._start(external))]
        if view.node is not None and not remade:
            if view.state == str(State.RUNNING):
                return []
            found = view.node
            return [Step("~", f"node {node.name} ({view.engine_name} on {host}): start it", lambda: self._start(found))]
        kind = Kind.VM if node.becomes == NodeKind.VM else Kind.CONTAINER
        spec = NodeSpec(view.engine_name, node.image, node.cmd, node.entrypoint, node.user, node.env, node.binds,
                        {**node.labels, LAB_LABEL: lab.name, NODE_LABEL: node.name}, node.xml, node.cap_add,
                        node.privileged, node.sysctls)
        backend = self.inventory.backend(host, kind)
        what = f"image {node.image}" if node.image else "its domain XML"
        made: list[Node] = []

        async def create() -> str:
            made.append(await backend.create(spec))
            return ""

        async def undo() -> None:
            for each in made:
                await backend.discard(each)

        return [Step("+", f"node {node.name} ({kind} {view.engine_name} on {host}, {what})", create, undo)]

    def exec(self, node: LabNode) -> Step:
        """The node's exec commands run in it, in order."""
        async def run() -> str:
            found = self.inventory.view(self.lab, node).node
            if found is None:
                raise LabError(f"node {node.name} is not there to run its exec commands in")
            backend = self.inventory.backend(found.host, found.kind)
            said = []
            for command in node.exec:
                code, output = await backend.run_in(found, command)
                said.append(f"{command!r}: exit {code}" + (f": {output.strip()[-200:]}" if code and output else ""))
            return "; ".join(said)

        return Step("~", f"node {node.name}: exec {len(node.exec)} command{'s' * (len(node.exec) != 1)}", run)

    def discarding(self, node: Node) -> Callable[[], Awaitable[str]]:
        """Removes a container or VM."""
        async def discard() -> str:
            await self.inventory.backend(node.host, node.kind).discard(node)
            return ""

        return discard

    async def _start(self, node: Node) -> str:
        action = "resume" if node.state is State.PAUSED else "start"
        return await self.inventory.backend(node.host, node.kind).perform(node, action)

    # --- segments -------------------------------------------------------------------------------

    async def _segment(self, name: str, host: str) -> str:
        segment, _ = await self.wiring.bridge_add(name, host, CLAB_MTU)
        return f"segment {segment.id}"

    def dropping(self, segment: SegmentRecord) -> Callable[[], Awaitable[str]]:
        """Removes a segment."""
        async def drop() -> str:
            await self.wiring.bridge_del(segment)
            return ""

        return drop

    async def _drop_segment_named(self, name: str, host: str) -> None:
        with contextlib.suppress(LinkError):
            await self.wiring.bridge_del(self.wiring.segment(name, host))

    # --- links ----------------------------------------------------------------------------------

    def link(self, link: LabLink) -> Step:
        """The file's link wired (to a segment: the node joins it)."""
        lab, wiring, inventory = self.lab, self.wiring, self.inventory
        specs = []
        for end in (link.a, link.b):
            node = lab.nodes[end.node]
            kind, host = inventory.node_kind(node), inventory.host(node)
            name = inventory.engine_name(lab, node)
            specs.append(f"{name}@{host}" if kind == SEGMENT else f"{host}/{kind}/{name}" +
                         ("" if kind == str(Kind.VM) else f":{end.ifname}"))
        a, b = lab.nodes[link.a.node], lab.nodes[link.b.node]
        same_host = inventory.host(a) == inventory.host(b)
        no_vm = NodeKind.VM not in (a.becomes, b.becomes)
        mtu = link.mtu or (CLAB_MTU if same_host and no_vm else DEFAULT_MTU)
        made: list[LinkRecord] = []

        async def wire() -> str:
            if b.becomes == NodeKind.SEGMENT or a.becomes == NodeKind.SEGMENT:
                segment, member = (specs[1], 0) if b.becomes == NodeKind.SEGMENT else (specs[0], 1)
                end = (link.a, link.b)[member]
                record, _ = await wiring.bridge_attach(segment, specs[member], end.addresses)
            else:
                record, _ = await wiring.add(specs[0], specs[1], mtu=mtu,
                                             addresses={"a": link.a.addresses, "b": link.b.addresses})
            made.append(record)
            return f"link {record.id}"

        async def unwire() -> None:
            for record in made:
                await wiring.delete(record)

        # netlink work in one namespace is done best one link at a time: at once, each waits on the others
        return Step("+", f"link {link}", wire, unwire, one_at_a_time=f"links on {inventory.host(a)}")

    def rewire(self, link: LabLink, record: LinkRecord) -> Step:
        """A kept link whose end is missing (its node restarted, stopped, or a vtui was killed while
        wiring it): made again where missing, with its state and impairments."""
        async def rewire() -> str:
            return "made again" if await self.wiring.rewire(record) else "whole"

        return Step("~", f"link {link}: wire what is missing", rewire, one_at_a_time=f"links on {record.a.host}")

    def state(self, link: LabLink, record: LinkRecord | None, names: Names) -> list[Step]:
        """Impairments and link state as the file says (for a link just made: those it asks for)."""
        if record is not None:
            side = sides(self.lab, link, record, names)
            have = {file_side: record.impair.get(side[file_side], Impairment()) for file_side in SIDES}
            down = bool(record.down)
        else:
            have, down = {"a": Impairment(), "b": Impairment()}, False
        steps = []
        wanted = {s: link.impair.get(s, Impairment()) for s in SIDES}
        if wanted != have:
            words = "; ".join(f"{link.a if s == 'a' else link.b} {i.words()}" for s, i in wanted.items()
                              if i != have[s])
            steps.append(Step("~", f"link {link}: impair {words}",
                              lambda: self._impair(link, {s: i for s, i in wanted.items() if i != have[s]})))
        if link.down != down:
            steps.append(Step("~", f"link {link}: {'down' if link.down else 'up'}",
                              lambda: self._admin(link, not link.down)))
        return steps

    def unlink(self, records: Sequence[LinkRecord], names: Names) -> Step:
        """Wired links removed, all in one step."""
        listed = ", ".join(link_words(r, names) for r in records)
        return Step("-", f"{len(records)} link{'s' * (len(records) != 1)}: {listed}",
                    lambda: self._unlink(records))

    async def _unlink(self, records: Sequence[LinkRecord]) -> str:
        failed = [f"{r}: {e}" for r, e in zip(records, await self.wiring.delete_many(records), strict=True)
                  if isinstance(e, LinkError)]
        if failed:
            raise LabError("; ".join(failed))
        return ""

    async def _impair(self, link: LabLink, wanted: Mapping[str, Impairment]) -> str:
        record, side = self.inventory.wired_link(self.lab, link)
        for file_side, impairment in wanted.items():
            record = await self.wiring.impair(record, [side[file_side]], impairment)
        return ""

    async def _admin(self, link: LabLink, up: bool) -> str:
        record, _ = self.inventory.wired_link(self.lab, link)
        await self.wiring.set_admin(record, list(SIDES), up)
        return ""
