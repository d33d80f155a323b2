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

What runs is read by LabInventory (vtui.labs.inventory), file links are matched with the links wired
in vtui.labs.matching, and each kind of step is made by LabChanges (vtui.labs.changes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vtui.backends.base import Capability
from vtui.errors import ConfigError, LabError
from vtui.labs.changes import LabChanges
from vtui.labs.inventory import LabInventory
from vtui.labs.matching import identity, record_identity, remade
from vtui.labs.steps import Progress, Step, quiet, run_phases
from vtui.labs.topology import Lab, NodeKind
from vtui.links.wiring import SEGMENT
from vtui.model import Kind, State
from vtui.net.book import LabRecord


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


class Labs(LabInventory):
    """Plans that make labs what their files say or destroy them, made against what runs now, and
    carried out with the lab's record kept."""

    # --- the plan -----------------------------------------------------------------------------

    async def plan(self, lab: Lab) -> Plan:
        """The steps that make the running lab what the file says (nothing, when it is so already)."""
        self._check_reachable(lab)
        old = self.deployed(lab.name)
        book = self.book.read()
        changes = LabChanges(self, lab, self.wiring(lab.name))
        mine = [r for r in book.links.values() if r.lab == lab.name]
        changed = {n.name for n in lab.nodes.values()
                   if old is not None and n.name in old.nodes and n.spec() != old.nodes[n.name].spec()}
        made_again = {name for name in changed if lab.nodes[name].made_by_lab}  # the others are not the lab's to make
        names = self.names(lab, old)
        wanted = {identity(lab, link): link for link in lab.links}
        have = {record_identity(r, names): r for r in mine}
        plan = Plan(lab)

        # 1. what goes: links first, then nodes and segments
        gone_links = [r for key, r in have.items() if key not in wanted
                      or remade(r, wanted[key], names) or any(n in changed for n, _ in key)]
        if gone_links:
            plan.phases.append([changes.unlink(gone_links, names)])
        removals: list[Step] = []
        for container in self.lab_containers(lab.name):
            name = names.get((container.host, str(container.kind), container.name))
            if name is None or name not in lab.nodes or name in made_again or \
                    self.host(lab.nodes[name]) != container.host:
                why = " (made again)" if name in made_again else ""
                removals.append(Step("-", f"node {name or container.name} (container {container.name} on "
                                          f"{container.host}){why}", changes.discarding(container)))
        for was in old.nodes.values() if old is not None else ():
            if was.becomes == NodeKind.VM and was.xml and (was.name not in lab.nodes or was.name in made_again):
                found = self.found(self.host(was), Kind.VM, was.domain)
                if found is not None:
                    removals.append(Step("-", f"node {was.name} (VM {was.domain} on {found.host})",
                                         changes.discarding(found)))
        for segment in (s for s in book.segments.values() if s.lab == lab.name):
            name = names.get((segment.host, SEGMENT, segment.name))
            if name is None or name not in lab.nodes:
                removals.append(Step("-", f"node {name or segment.name} (segment on {segment.host})",
                                     changes.dropping(segment)))
        plan.phases.append(removals)

        # 2. what is made or started
        making: list[Step] = []
        for node in lab.nodes.values():
            making += changes.node(node, node.name in made_again)
        plan.phases.append(making)

        # 3. links made (again), 4. impairments and link state set, 5. commands run
        kept = {key: r for key, r in have.items() if r not in gone_links}
        linking = [changes.link(link) for key, link in wanted.items() if key not in kept]
        started = {n.name for n in lab.nodes.values() if n.name not in made_again and n.becomes != NodeKind.SEGMENT
                   and (v := self.view(lab, n)).node is not None and v.state != str(State.RUNNING)}
        broken = {v.record.id for v in await changes.wiring.views(kept.values()) if v.state == "unwired"}
        linking += [changes.rewire(wanted[key], record) for key, record in kept.items()
                    if record.id in broken or any(name in started for name, _ in key)]
        plan.phases.append(linking)
        states: list[Step] = []
        for key, link in wanted.items():
            states += changes.state(link, kept.get(key), names)
        plan.phases.append(states)
        plan.phases.append([changes.exec(node) for node in lab.nodes.values()
                            if node.exec and (node.name in made_again or not self.runs(lab, node))])
        plan.phases = [phase for phase in plan.phases if phase]
        return plan

    def _check_reachable(self, lab: Lab) -> None:
        for node in lab.nodes.values():
            host = self.host(node)
            if node.becomes == NodeKind.SEGMENT:
                continue
            kind = Kind.VM if node.becomes == NodeKind.VM else Kind.CONTAINER
            try:
                backend = self.backend(host, kind)
            except LabError as err:
                raise LabError(f"node {node.name}: {err}") from None
            backend.check_writable(f"deploy lab {lab.name}")  # read-only: refused before anything is planned
            exists = self.found(host, kind, node.domain or node.name) is not None
            if node.becomes in (NodeKind.EXTERNAL, NodeKind.VM) and not node.xml and not exists:
                what = "VM" if kind is Kind.VM else "container"
                raise LabError(f"node {node.name}: there is no {what} {node.domain or node.name!r} on {host} "
                               f"(kind {node.kind} names one that exists)")
            if node.becomes == NodeKind.CONTAINER and not backend.supports(Capability.CREATE):
                raise LabError(f"node {node.name}: {backend.engine} on {host} cannot make nodes")
            name = self.engine_name(lab, node)
            other = self.found(host, kind, name)
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
        hosts = {self.hosts.get(h, h) for h in record.hosts} if record else set()
        away = sorted(h for h in hosts if not any(b.host == h for b in self.backends) or h in self.unreached)
        links = [r for r in book.links.values() if r.lab == name and r.a.host not in away and r.b.host not in away]
        segments = [s for s in book.segments.values() if s.lab == name and s.host not in away]
        containers = self.lab_containers(name)
        vms = [found for host, domain in (record.vms if record else ())
               if (found := self.found(self.hosts.get(host, host), Kind.VM, domain)) is not None]
        lab = deployed or Lab(name, {})
        changes = LabChanges(self, lab, self.wiring(name))
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
        plan.phases.append([Step("-", f"{n.kind} {n.name} on {n.host}", changes.discarding(n))
                            for n in containers + vms])
        if links:
            plan.phases.append([changes.unlink(links, self.names(lab))])
        plan.phases.append([Step("-", f"segment {s.name} on {s.host}", changes.dropping(s)) for s in segments])
        plan.phases = [phase for phase in plan.phases if phase]
        return plan
