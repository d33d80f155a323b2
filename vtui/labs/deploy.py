"""A lab made to run as its file says: what the file asks is compared with what runs, the
difference becomes a plan of steps, and the plan is carried out in phases (the steps of a phase are
independent and run at once), with progress, and undone when a step fails.

    labs = Labs(backends, hosts)            # hosts: the file's host names -> the backends' host names
    await labs.refresh()                    # the inventory the plan is made against
    plan = await labs.plan(lab)             # LabError when the lab cannot be made (unknown image, …)
    await labs.carry_out(plan, progress)    # LabError after undoing what this run made

Deploy and apply are the same comparison: a lab deployed again changes nothing; an edited file changes
only what differs (nodes and links added or removed, a node made again when its image or command
changed, impairments and link state set). What a lab made carries its name (a container's label, a
link's and a segment's record), so `destroy` finds all of it even after a vtui was killed half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vtui.backends import Backend, Capability, NodeSpec
from vtui.config.hosts import load_hosts
from vtui.errors import ConfigError, EngineError, LabError, LinkError
from vtui.labs.clab import read_lab
from vtui.labs.steps import Progress, Step, quiet, run_phases
from vtui.labs.topology import CLAB_MTU, NODE_LABEL, Lab, LabLink, LabNode, NodeKind
from vtui.links.wiring import SEGMENT, Wiring
from vtui.model import LAB_LABEL, LOCAL_HOST, Kind, Node, State
from vtui.net.book import SIDES, LabRecord, LinkBook, LinkRecord, SegmentRecord
from vtui.net.plan import DEFAULT_MTU, Impairment

ANY_IF = "*"  # a VM's or segment's end in a link's identity: its interface is not the file's to name


def host_names(file_hosts: Iterable[str]) -> dict[str, str]:
    """Each host as a lab file names it (local, a hosts.toml name, an SSH target) -> its name in vtui."""
    config = load_hosts()
    names = {}
    for host in file_hosts:
        _, remote = config.chosen([host])
        names[host] = remote[0].name if remote else LOCAL_HOST
    return names


@dataclass
class Plan:
    lab: Lab
    phases: list[list[Step]] = field(default_factory=list)
    remove_record: bool = False  # destroy: the lab's record goes at the end
    left: str = ""  # what the plan cannot reach and leaves as it is, in a sentence

    @property
    def steps(self) -> list[Step]:
        return [step for phase in self.phases for step in phase]

    @property
    def counted(self) -> str:
        """"1 step", "12 steps"."""
        count = len(self.steps)
        return f"{count} step{'s' * (count != 1)}"


@dataclass(frozen=True)
class NodeView:
    """A node of a lab as it is now."""

    name: str
    kind: str
    host: str
    engine_name: str  # the container's, VM's or segment's own name
    state: str  # the engine's state word, "absent", or "made" (a segment)
    node: Node | None = None


class Labs:
    def __init__(self, backends: Sequence[Backend], hosts: Mapping[str, str] | None = None,
                 book: LinkBook | None = None) -> None:
        self.backends = backends
        self.hosts = dict(hosts or {})  # a host as the file names it -> the host's name in vtui
        self.book = book or LinkBook()
        self.nodes: list[Node] = []
        self.unreached: dict[str, str] = {}  # host -> why its engines did not answer

    # --- the inventory ------------------------------------------------------------------------

    async def refresh(self) -> None:
        """List every engine's nodes again (a plan is made against what runs now)."""
        async def listed(backend: Backend) -> list[Node] | EngineError:
            try:
                return await backend.list_nodes()
            except EngineError as err:
                return err

        results = await asyncio.gather(*(listed(b) for b in self.backends))
        self.nodes = [n for r in results if isinstance(r, list) for n in r]
        for result in results:
            if isinstance(result, EngineError):
                self.unreached.setdefault(result.host, result.reason)

    def host(self, node: LabNode) -> str:
        return self.hosts.get(node.host, node.host)

    def _backend(self, host: str, kind: Kind) -> Backend:
        for backend in self.backends:
            if backend.host == host and backend.kind is kind:
                return backend
        why = self.unreached.get(host)
        engine = "docker" if kind is Kind.CONTAINER else "libvirt"
        raise LabError(f"{engine} on {host} is not reached: {why}" if why else f"no {engine} on {host} in this session")

    def _found(self, host: str, kind: Kind, name: str) -> Node | None:
        return next((n for n in self.nodes if (n.host, n.kind, n.name) == (host, kind, name)), None)

    def engine_name(self, lab: Lab, node: LabNode) -> str:
        if node.becomes == NodeKind.CONTAINER:
            return lab.container_name(node.name)
        if node.becomes == NodeKind.SEGMENT:
            return lab.segment_name(node.name)
        return node.domain or node.name  # a VM's, an external container's own name

    def node_kind(self, node: LabNode) -> str:
        return SEGMENT if node.becomes == NodeKind.SEGMENT else \
            str(Kind.VM) if node.becomes == NodeKind.VM else str(Kind.CONTAINER)

    def view(self, lab: Lab, node: LabNode) -> NodeView:
        host, name = self.host(node), self.engine_name(lab, node)
        if node.becomes == NodeKind.SEGMENT:
            made = any((s.host, s.name) == (host, name) for s in self.book.read().segments.values())
            return NodeView(node.name, node.kind, host, name, "made" if made else "absent")
        found = self._found(host, Kind.VM if node.becomes == NodeKind.VM else Kind.CONTAINER, name)
        return NodeView(node.name, node.kind, host, name, str(found.state) if found else "absent", found)

    def wiring(self, lab: str) -> Wiring:
        return Wiring(self.backends, lambda: self.nodes, self.book, lab=lab)

    def deployed(self, name: str) -> Lab | None:
        """The lab of that name as it was last deployed (its file's text then)."""
        record = self.book.read().labs.get(name)
        return None if record is None else _deployed_copy(record.file, record.text)

    # --- the plan -----------------------------------------------------------------------------

    async def plan(self, lab: Lab) -> Plan:
        """The steps that make the running lab what the file says (nothing, when it is so already)."""
        self._check_reachable(lab)
        old = self.deployed(lab.name)
        book = self.book.read()
        wiring = self.wiring(lab.name)
        mine = [r for r in book.links.values() if r.lab == lab.name]
        changed = {n.name for n in lab.nodes.values()
                   if old is not None and n.name in old.nodes and n.spec() != old.nodes[n.name].spec()}
        remade = {name for name in changed if lab.nodes[name].made_by_lab}  # the others are not the lab's to make
        names = self._names(lab, old)
        wanted = {self._identity(lab, link): link for link in lab.links}
        have = {self._record_identity(r, names): r for r in mine}
        plan = Plan(lab)

        # 1. what goes: links first, then nodes and segments
        gone_links = [r for key, r in have.items() if key not in wanted
                      or _remake(r, wanted[key], names) or any(n in changed for n, _ in key)]
        if gone_links:
            plan.phases.append([self._unlink_step(gone_links, names, wiring)])
        removals: list[Step] = []
        for container in self._lab_containers(lab.name):
            name = names.get((container.host, str(container.kind), container.name))
            if name is None or name not in lab.nodes or name in remade or \
                    self.host(lab.nodes[name]) != container.host:
                why = " (made again)" if name in remade else ""
                removals.append(Step("-", f"node {name or container.name} (container {container.name} on "
                                          f"{container.host}){why}", self._discarding(container)))
        for was in old.nodes.values() if old is not None else ():
            if was.becomes == NodeKind.VM and was.xml and (was.name not in lab.nodes or was.name in remade):
                found = self._found(self.host(was), Kind.VM, was.domain)
                if found is not None:
                    removals.append(Step("-", f"node {was.name} (VM {was.domain} on {found.host})",
                                         self._discarding(found)))
        for segment in (s for s in book.segments.values() if s.lab == lab.name):
            name = names.get((segment.host, SEGMENT, segment.name))
            if name is None or name not in lab.nodes:
                removals.append(Step("-", f"node {name or segment.name} (segment on {segment.host})",
                                     self._dropping(wiring, segment)))
        plan.phases.append(removals)

        # 2. what is made or started
        making: list[Step] = []
        for node in lab.nodes.values():
            making += self._node_steps(lab, node, wiring, node.name in remade)
        plan.phases.append(making)

        # 3. links made (again), 4. impairments and link state set, 5. commands run
        kept = {key: r for key, r in have.items() if r not in gone_links}
        linking = [self._link_step(lab, link, wiring) for key, link in wanted.items() if key not in kept]
        started = {n.name for n in lab.nodes.values() if n.name not in remade and n.becomes != NodeKind.SEGMENT
                   and (v := self.view(lab, n)).node is not None and v.state != str(State.RUNNING)}
        broken = {v.record.id for v in await wiring.views(kept.values()) if v.state == "unwired"}
        linking += [self._rewire_step(lab, wanted[key], record, wiring) for key, record in kept.items()
                    if record.id in broken or any(name in started for name, _ in key)]
        plan.phases.append(linking)
        changes: list[Step] = []
        for key, link in wanted.items():
            record = kept.get(key)
            changes += self._state_steps(lab, link, record, names, wiring)
        plan.phases.append(changes)
        plan.phases.append([self._exec_step(lab, node) for node in lab.nodes.values()
                            if node.exec and (node.name in remade or not self._runs(lab, node))])
        plan.phases = [phase for phase in plan.phases if phase]
        return plan

    def _check_reachable(self, lab: Lab) -> None:
        for node in lab.nodes.values():
            host = self.host(node)
            if node.becomes == NodeKind.SEGMENT:
                continue
            kind = Kind.VM if node.becomes == NodeKind.VM else Kind.CONTAINER
            try:
                backend = self._backend(host, kind)
            except LabError as err:
                raise LabError(f"node {node.name}: {err}") from None
            backend.check_writable(f"deploy lab {lab.name}")  # read-only: refused before anything is planned
            exists = self._found(host, kind, node.domain or node.name) is not None
            if node.becomes in (NodeKind.EXTERNAL, NodeKind.VM) and not node.xml and not exists:
                what = "VM" if kind is Kind.VM else "container"
                raise LabError(f"node {node.name}: there is no {what} {node.domain or node.name!r} on {host} "
                               f"(kind {node.kind} names one that exists)")
            if node.becomes == NodeKind.CONTAINER and not backend.supports(Capability.CREATE):
                raise LabError(f"node {node.name}: {backend.engine} on {host} cannot make nodes")
            name = self.engine_name(lab, node)
            other = self._found(host, kind, name)
            if node.becomes == NodeKind.CONTAINER and other is not None and other.lab != lab.name:
                raise LabError(f"node {node.name}: a container named {name!r} exists on {host} and was not made by "
                               f"lab {lab.name}: remove or rename it, or give the lab another name or prefix")
        for link in lab.links:
            ends = [lab.nodes[link.a.node], lab.nodes[link.b.node]]
            if self.host(ends[0]) != self.host(ends[1]):
                for end in ends:
                    if end.becomes in (NodeKind.VM, NodeKind.SEGMENT):
                        what = "VM" if end.becomes == NodeKind.VM else "bridge"
                        raise LabError(f"link {link}: {end.name} is a {what} on {self.host(end)}"
                                       " and the other end is on another host: links between "
                                       "hosts join containers only (VXLAN)")

    def _runs(self, lab: Lab, node: LabNode) -> bool:
        return self.view(lab, node).state == str(State.RUNNING)

    def _names(self, *labs: Lab | None) -> dict[tuple[str, str, str], str]:
        """(host, kind, engine name) -> the node's name in the file, for the labs given (the file's
        and the one deployed before)."""
        names: dict[tuple[str, str, str], str] = {}
        for lab in reversed([lab for lab in labs if lab is not None]):
            for node in lab.nodes.values():
                names[(self.host(node), self.node_kind(node), self.engine_name(lab, node))] = node.name
        return names

    def _end_key(self, lab: Lab, node_name: str, ifname: str) -> tuple[str, str]:
        node = lab.nodes[node_name]
        return node_name, ANY_IF if node.becomes in (NodeKind.VM, NodeKind.SEGMENT) else ifname

    def _identity(self, lab: Lab, link: LabLink) -> frozenset[tuple[str, str]]:
        return frozenset({self._end_key(lab, link.a.node, link.a.ifname), self._end_key(lab, link.b.node,
                                                                                       link.b.ifname)})

    @staticmethod
    def _record_end(record: LinkRecord, side: str, names: Mapping[tuple[str, str, str], str]) -> tuple[str, str]:
        """A recorded end in the file's terms, as _end_key spells a file's end."""
        ref = record.end(side)
        name = names.get((ref.host, ref.kind, ref.node), f"?{ref.node}")
        return name, ANY_IF if ref.kind in (SEGMENT, str(Kind.VM)) else ref.ifname

    def _record_identity(self, record: LinkRecord, names: Mapping[tuple[str, str, str], str]
                         ) -> frozenset[tuple[str, str]]:
        return frozenset(self._record_end(record, side, names) for side in SIDES)

    def _sides(self, lab: Lab, link: LabLink, record: LinkRecord,
               names: Mapping[tuple[str, str, str], str]) -> dict[str, str]:
        """Which side of the record each end of the file's link is ("a" of the file may be "b" of the
        record: a VM's end is always b)."""
        side_of = {self._record_end(record, side, names): side for side in SIDES}
        return {"a": side_of[self._end_key(lab, link.a.node, link.a.ifname)],
                "b": side_of[self._end_key(lab, link.b.node, link.b.ifname)]}

    @staticmethod
    def _link_words(record: LinkRecord, names: Mapping[tuple[str, str, str], str]) -> str:
        return " — ".join(f"{names.get((r.host, r.kind, r.node), r.node)}:{r.ifname}" for r in (record.a, record.b))

    def _lab_containers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if n.lab == name and n.kind is Kind.CONTAINER]

    # --- steps ----------------------------------------------------------------------------------

    def _node_steps(self, lab: Lab, node: LabNode, wiring: Wiring, remade: bool) -> list[Step]:
        view, host = self.view(lab, node), self.host(node)
        if node.becomes == NodeKind.SEGMENT:
            if view.state == "made":
                return []
            name = lab.segment_name(node.name)
            return [Step("+", f"node {node.name} (segment {name} on {host})",
                         lambda: self._segment(wiring, name, host),
                         lambda: self._drop_segment_named(wiring, name, host))]
        if node.becomes == NodeKind.EXTERNAL or (node.becomes == NodeKind.VM and not node.xml):
            if view.state == str(State.RUNNING):
                return []
            external = view.node
            assert external is not None  # checked by _check_reachable
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
        backend = self._backend(host, kind)
        what = f"image {node.image}" if node.image else "its domain XML"
        made: list[Node] = []

        async def create() -> str:
            made.append(await backend.create(spec))
            return ""

        async def undo() -> None:
            for each in made:
                await backend.discard(each)

        return [Step("+", f"node {node.name} ({kind} {view.engine_name} on {host}, {what})", create, undo)]

    def _link_step(self, lab: Lab, link: LabLink, wiring: Wiring) -> Step:
        specs = []
        for end in (link.a, link.b):
            node = lab.nodes[end.node]
            kind, host = self.node_kind(node), self.host(node)
            name = self.engine_name(lab, node)
            specs.append(f"{name}@{host}" if kind == SEGMENT else f"{host}/{kind}/{name}" +
                         ("" if kind == str(Kind.VM) else f":{end.ifname}"))
        a, b = lab.nodes[link.a.node], lab.nodes[link.b.node]
        same_host = self.host(a) == self.host(b)
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
        return Step("+", f"link {link}", wire, unwire, one_at_a_time=f"links on {self.host(a)}")

    def _rewire_step(self, lab: Lab, link: LabLink, record: LinkRecord, wiring: Wiring) -> Step:
        """A kept link whose end is missing (its node restarted, stopped, or a vtui was killed while
        wiring it): made again where missing, with its state and impairments."""
        async def rewire() -> str:
            return "made again" if await wiring.rewire(record) else "whole"

        return Step("~", f"link {link}: wire what is missing", rewire, one_at_a_time=f"links on {record.a.host}")

    def _state_steps(self, lab: Lab, link: LabLink, record: LinkRecord | None,
                     names: Mapping[tuple[str, str, str], str], wiring: Wiring) -> list[Step]:
        """Impairments and link state as the file says (for a link just made: those it asks for)."""
        if record is not None:
            side = self._sides(lab, link, record, names)
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
                              lambda: self._impair(lab, link, wiring, {s: i for s, i in wanted.items()
                                                                       if i != have[s]})))
        if link.down != down:
            steps.append(Step("~", f"link {link}: {'down' if link.down else 'up'}",
                              lambda: self._admin(lab, link, wiring, not link.down)))
        return steps

    def _exec_step(self, lab: Lab, node: LabNode) -> Step:
        async def run() -> str:
            found = self.view(lab, node).node
            if found is None:
                raise LabError(f"node {node.name} is not there to run its exec commands in")
            backend = self._backend(found.host, found.kind)
            said = []
            for command in node.exec:
                code, output = await backend.run_in(found, command)
                said.append(f"{command!r}: exit {code}" + (f": {output.strip()[-200:]}" if code and output else ""))
            return "; ".join(said)

        return Step("~", f"node {node.name}: exec {len(node.exec)} command{'s' * (len(node.exec) != 1)}", run)

    # --- doing --------------------------------------------------------------------------------

    def _discarding(self, node: Node) -> Callable[[], Awaitable[str]]:
        async def discard() -> str:
            await self._backend(node.host, node.kind).discard(node)
            return ""

        return discard

    async def _start(self, node: Node) -> str:
        action = "resume" if node.state is State.PAUSED else "start"
        return await self._backend(node.host, node.kind).perform(node, action)

    @staticmethod
    async def _segment(wiring: Wiring, name: str, host: str) -> str:
        segment, _ = await wiring.bridge_add(name, host, CLAB_MTU)
        return f"segment {segment.id}"

    @staticmethod
    def _dropping(wiring: Wiring, segment: SegmentRecord) -> Callable[[], Awaitable[str]]:
        async def drop() -> str:
            await wiring.bridge_del(segment)
            return ""

        return drop

    async def _drop_segment_named(self, wiring: Wiring, name: str, host: str) -> None:
        with contextlib.suppress(LinkError):
            await wiring.bridge_del(wiring.segment(name, host))

    def _unlink_step(self, records: Sequence[LinkRecord], names: Mapping[tuple[str, str, str], str],
                     wiring: Wiring) -> Step:
        listed = ", ".join(self._link_words(r, names) for r in records)
        return Step("-", f"{len(records)} link{'s' * (len(records) != 1)}: {listed}",
                    lambda: self._unlink(wiring, records))

    @staticmethod
    async def _unlink(wiring: Wiring, records: Sequence[LinkRecord]) -> str:
        failed = [f"{r}: {e}" for r, e in zip(records, await wiring.delete_many(records), strict=True)
                  if isinstance(e, LinkError)]
        if failed:
            raise LabError("; ".join(failed))
        return ""

    def wired(self, lab: Lab) -> dict[frozenset[tuple[str, str]], tuple[LinkRecord, dict[str, str]]]:
        """The lab's wired links by the ends the file gives them (LabLink.ends): each one's record, and
        which of the record's sides each end of the file's link is."""
        names = self._names(lab)
        by_identity = {self._record_identity(r, names): r for r in self.book.load().values() if r.lab == lab.name}
        return {link.ends: (record, self._sides(lab, link, record, names)) for link in lab.links
                if (record := by_identity.get(self._identity(lab, link))) is not None}

    def _lab_record(self, lab: Lab, link: LabLink) -> tuple[LinkRecord, dict[str, str]]:
        if (found := self.wired(lab).get(link.ends)) is None:
            raise LabError(f"link {link} is not wired")
        return found

    async def _impair(self, lab: Lab, link: LabLink, wiring: Wiring, wanted: Mapping[str, Impairment]) -> str:
        record, side = self._lab_record(lab, link)
        for file_side, impairment in wanted.items():
            record = await wiring.impair(record, [side[file_side]], impairment)
        return ""

    async def _admin(self, lab: Lab, link: LabLink, wiring: Wiring, up: bool) -> str:
        record, _ = self._lab_record(lab, link)
        await wiring.set_admin(record, list(SIDES), up)
        return ""

    # --- carrying a plan out ------------------------------------------------------------------

    async def carry_out(self, plan: Plan, progress: Progress = quiet) -> None:
        """The plan's phases (vtui.labs.steps), the lab recorded first (so that a vtui killed half-way
        leaves a lab that destroy finds); a failure undoes this run and puts the record back as it was."""
        lab = plan.lab
        before = self.book.read().labs.get(lab.name)
        if not plan.remove_record:
            vms = {(n.host, n.domain) for n in lab.nodes.values() if n.becomes == NodeKind.VM and n.xml}
            self._record(LabRecord(lab.name, str(lab.path.resolve() if lab.path else ""), lab.text, tuple(lab.hosts),
                                   tuple(sorted(vms | set(before.vms if before else ())))))
        try:
            await run_phases(plan.phases, progress, self.refresh)
        except BaseException:
            with self.book.editing() as book:
                if before is None:
                    book.labs.pop(lab.name, None)
                else:
                    book.labs[lab.name] = before
            raise
        if plan.remove_record:
            with self.book.editing() as book:
                book.labs.pop(lab.name, None)

    def _record(self, record: LabRecord) -> None:
        with self.book.editing() as book:
            book.labs[record.name] = record

    # --- destroying -----------------------------------------------------------------------------

    def destroy_plan(self, name: str) -> Plan:
        """Everything the lab made: its links, segments, containers, and the VMs it defined (found by
        their records and labels: its file, even the copy deployed, need not be readable)."""
        book = self.book.read()
        record = book.labs.get(name)
        try:
            deployed = self.deployed(name)
        except ConfigError:  # e.g. a domain XML it named was deleted since
            deployed = None
        wiring = self.wiring(name)
        hosts = {self.hosts.get(h, h) for h in record.hosts} if record else set()
        away = sorted(h for h in hosts if not any(b.host == h for b in self.backends) or h in self.unreached)
        links = [r for r in book.links.values() if r.lab == name and r.a.host not in away and r.b.host not in away]
        segments = [s for s in book.segments.values() if s.lab == name and s.host not in away]
        containers = self._lab_containers(name)
        vms = [found for host, domain in (record.vms if record else ())
               if (found := self._found(self.hosts.get(host, host), Kind.VM, domain)) is not None]
        lab = deployed or Lab(name, {})
        for backend in self.backends:
            if backend.host in hosts or any(n.host == backend.host for n in containers):
                backend.check_writable(f"destroy lab {name}")
        plan = Plan(lab, remove_record=not away)
        if away:  # what is there stays, and the record with it: a later destroy finds it
            said = "; ".join(f"{h}: {self.unreached.get(h, 'not in this session')}" for h in away)
            plan.left = (f"not reached, so its nodes and links there stay, and the lab's record with them "
                         f"(destroy again when it is back): {said}")
        # the nodes first: a veth goes with its container's namespace, so removing the links after
        # them is mostly forgetting them (a VM's NIC and tap, a segment's port, a tunnel are removed)
        plan.phases.append([Step("-", f"{n.kind} {n.name} on {n.host}", self._discarding(n))
                            for n in containers + vms])
        if links:
            plan.phases.append([self._unlink_step(links, self._names(lab), wiring)])
        plan.phases.append([Step("-", f"segment {s.name} on {s.host}", self._dropping(wiring, s)) for s in segments])
        plan.phases = [phase for phase in plan.phases if phase]
        return plan


def _remake(record: LinkRecord, link: LabLink, names: Mapping[tuple[str, str, str], str]) -> bool:
    """Whether a wired link differs from the file's in what only making it again changes (MTU, addresses)."""
    if link.mtu is not None and link.mtu != record.mtu:
        return True
    file_ends = {(e.node, e.ifname): e.addresses for e in (link.a, link.b)}
    for ref in (record.a, record.b):
        name = names.get((ref.host, ref.kind, ref.node))
        if name is not None and file_ends.get((name, ref.ifname), ref.addresses) != ref.addresses:
            return True
    return False


@functools.lru_cache(maxsize=16)
def _deployed_copy(file: str, text: str) -> Lab:
    """A deployed lab's text read once, not at each of the labs screen's refreshes."""
    return read_lab(Path(file), text)
