"""The links vtui has made, as people named them, and the labs that made some, kept in a state
file: what `vtui link ls` lists after a restart, and what is wired again when a node comes back.

The file (~/.local/state/vtui/links.json) is written whole to a temporary file and renamed over
the old one, under an exclusive lock, so two vtui processes never lose each other's links.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from vtui.errors import LinkError
from vtui.net.plan import DEFAULT_MTU, Impairment
from vtui.net.plan import SIDES as SIDES  # where the records' users have always found it


@dataclass(frozen=True)
class EndRef:
    """One end as the user named it: an interface of a node on a host, and its addresses."""

    host: str
    kind: str  # "container" or "vm"
    node: str
    ifname: str
    addresses: tuple[str, ...] = ()  # "10.0.0.1/30": set on the interface each time it is made

    @property
    def node_spec(self) -> str:
        """What vtui.model.refs.resolve takes: HOST/KIND/NAME."""
        return f"{self.host}/{self.kind}/{self.node}"

    def __str__(self) -> str:
        return f"{self.node}:{self.ifname}" + ("" if self.host == "local" else f"@{self.host}")

    def where(self) -> str:
        return f"{self.kind} {self.node!r} on {self.host}"

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "kind": self.kind, "node": self.node, "ifname": self.ifname,
                "addresses": list(self.addresses)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EndRef:
        return cls(str(data["host"]), str(data["kind"]), str(data["node"]), str(data["ifname"]),
                   tuple(str(a) for a in data.get("addresses", ())))


@dataclass(frozen=True)
class LinkRecord:
    """One link: its two ends, MTU, and the state vtui keeps on it (ends taken down, impairments)."""

    id: str
    a: EndRef
    b: EndRef
    mtu: int = DEFAULT_MTU
    kind: str = "veth"
    down: frozenset[str] = frozenset()  # sides taken down
    impair: Mapping[str, Impairment] = field(default_factory=dict)  # by side: what that end sends
    lab: str = ""  # the lab that made it, if any

    def end(self, side: str) -> EndRef:
        return self.a if side == "a" else self.b

    def touches(self, host: str, kind: str, node: str) -> bool:
        return any((e.host, e.kind, e.node) == (host, kind, node) for e in (self.a, self.b))

    def __str__(self) -> str:
        return f"{self.id} ({self.a} — {self.b})"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "a": self.a.to_json(), "b": self.b.to_json(), "mtu": self.mtu,
                "down": sorted(self.down),
                "impair": {side: {f.name: getattr(i, f.name) for f in fields(i) if getattr(i, f.name) is not None}
                           for side, i in self.impair.items() if not i.none}} | ({"lab": self.lab} if self.lab else {})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinkRecord:
        return cls(str(data["id"]), EndRef.from_json(data["a"]), EndRef.from_json(data["b"]), int(data["mtu"]),
                   str(data.get("kind", "veth")), frozenset(s for s in data.get("down", ()) if s in SIDES),
                   {side: Impairment(**values) for side, values in data.get("impair", {}).items() if side in SIDES},
                   str(data.get("lab", "")))

    def impair_words(self, separator: str = " ") -> str:
        """The impairments per end in the words parse_impairment reads: "a 10000kbit 50ms; b loss 1%"."""
        return "; ".join(f"{side}{separator}{i.words()}" for side, i in sorted(self.impair.items()))

    def with_impairment(self, side: str, impairment: Impairment) -> LinkRecord:
        impair = dict(self.impair)
        if impairment.none:
            impair.pop(side, None)
        else:
            impair[side] = impairment
        return replace(self, impair=impair)

    def with_admin(self, side: str, up: bool) -> LinkRecord:
        return replace(self, down=self.down - {side} if up else self.down | {side})


def new_id(taken: Mapping[str, object]) -> str:
    while (link_id := secrets.token_hex(4)) in taken:
        pass
    return link_id


@dataclass(frozen=True)
class SegmentRecord:
    """A segment: a bridge on one host that links become members of (links of kind "segment")."""

    id: str
    host: str
    name: str  # the user's name for it, unique on its host; only ever shown, never given to a shell
    mtu: int = DEFAULT_MTU
    lab: str = ""  # the lab that made it, if any

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "name": self.name, "mtu": self.mtu} | \
            ({"lab": self.lab} if self.lab else {})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentRecord:
        return cls(str(data["id"]), str(data["host"]), str(data["name"]), int(data["mtu"]), str(data.get("lab", "")))

    def __str__(self) -> str:
        return self.name + ("" if self.host == "local" else f"@{self.host}")


@dataclass(frozen=True)
class LabRecord:
    """A lab deployed: the file it came from, its text as deployed (what `lab destroy NAME` and `lab
    apply` compare with), and the hosts its nodes are on."""

    name: str
    file: str
    text: str
    hosts: tuple[str, ...]
    vms: tuple[tuple[str, str], ...] = ()  # (host, name) of the VMs it defined: found even if their XML is gone

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "text": self.text, "hosts": list(self.hosts),
                "vms": [list(vm) for vm in self.vms]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabRecord:
        return cls(str(data["name"]), str(data["file"]), str(data["text"]), tuple(str(h) for h in data["hosts"]),
                   tuple((str(host), str(name)) for host, name in data.get("vms", ())))


@dataclass
class Book:
    """Everything the links file holds, by id (labs by name)."""

    links: dict[str, LinkRecord] = field(default_factory=dict)
    segments: dict[str, SegmentRecord] = field(default_factory=dict)
    labs: dict[str, LabRecord] = field(default_factory=dict)


class LinkBook:
    """The state file of links and segments."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or Path(os.environ.get("VTUI_STATE_DIR") or platformdirs.user_state_dir("vtui")) / "links.json"
        self._cached: tuple[tuple[int, int, int], Book] | None = None

    def load(self) -> dict[str, LinkRecord]:
        return self.read().links

    def read(self) -> Book:
        """The file's links and segments; read again only when the file has changed (the UI asks often)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return Book()
        except OSError as err:
            raise LinkError(f"cannot read the links file {self.path}: {err.strerror}") from err
        if self._cached is not None and self._cached[0] == (stat.st_mtime_ns, stat.st_size, stat.st_ino):
            return copy.deepcopy(self._cached[1])
        book = self._read()
        self._cached = ((stat.st_mtime_ns, stat.st_size, stat.st_ino), book)
        return copy.deepcopy(book)

    def _read(self) -> Book:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return Book()
        except OSError as err:
            raise LinkError(f"cannot read the links file {self.path}: {err.strerror}") from err
        try:
            data = json.loads(text)
            links = [LinkRecord.from_json(item) for item in data["links"]]
            segments = [SegmentRecord.from_json(item) for item in data.get("segments", [])]
            labs = [LabRecord.from_json(item) for item in data.get("labs", [])]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise LinkError(f"the links file {self.path} is damaged ({err}); move it away to start a new one") from err
        return Book({r.id: r for r in links}, {s.id: s for s in segments}, {lab.name: lab for lab in labs})

    @contextlib.contextmanager
    def editing(self) -> Iterator[Book]:
        """The links and segments, to change in place; saved on leaving without an exception.
        Other vtui processes wait meanwhile."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            book = self._read()
            yield book
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"version": 1, "links": [r.to_json() for r in book.links.values()],
                                       "segments": [s.to_json() for s in book.segments.values()],
                                       "labs": [lab.to_json() for lab in book.labs.values()]}, indent=1))
            os.replace(tmp, self.path)
