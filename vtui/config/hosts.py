"""The hosts file: which remote hosts vtui shows, by SSH target (no I/O beyond reading and appending it).

    local = true                        # show this machine's engines too (default)

    [[host]]
    target = "root@10.0.0.5:22"         # user@host:port, or a Host alias of ~/.ssh/config
    name = "lab1"                       # how vtui shows it (default: the target without the user)
    libvirt = "qemu:///system"          # the libvirt URI on that host (default), or false
    docker = "/var/run/docker.sock"     # the docker socket path on that host (default), or false

`vtui --host TARGET` (repeatable) names hosts for one run instead: a target, a name from this file,
or `local`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs

from vtui.backends.registry import ENGINES
from vtui.config.schema import Invalid, Key, array_of, boolean, check_table, read_toml, text, text_or_false, toml_lines
from vtui.errors import ConfigError
from vtui.model import LOCAL_HOST
from vtui.transport.target import SshTarget, parse_target

ENV_HOSTS = "VTUI_HOSTS"
_NAME = re.compile(r"^[A-Za-z0-9_.:@\[\]-]+$")  # no '/': nodes are named HOST/NAME


@dataclass(frozen=True, slots=True)
class HostSpec:
    """One remote host: where to reach it and which engines to use there."""

    name: str
    target: str
    engines: tuple[tuple[str, str], ...] = ()  # (engine, its address on the host); see engines()

    @classmethod
    def of(cls, target: str) -> HostSpec:
        """A host named after its target, with the default engines."""
        parsed = parse_target(target)
        return cls(str(SshTarget(parsed.host, None, parsed.port)), target, engines())


def engines(**chosen: str | None) -> tuple[tuple[str, str], ...]:
    """Each engine of the registry at its default address on a host, but for those `chosen` by name:
    at the address given, or (None) left out. `engines(docker=None)`: libvirt only."""
    unknown = set(chosen) - set(ENGINES)
    if unknown:
        raise ValueError(f"no engine is named {', '.join(sorted(unknown))}")
    addresses = {name: chosen.get(name, e.remote_default) for name, e in ENGINES.items()}
    return tuple((name, address) for name, address in addresses.items() if address)


@dataclass(frozen=True)
class HostsConfig:
    path: Path | None = None
    local: bool = True
    hosts: tuple[HostSpec, ...] = ()

    def chosen(self, names: Sequence[str] | None) -> tuple[bool, list[HostSpec]]:
        """Whether to show the local host, and which remote hosts: all of the file's without `names`,
        else exactly those named (a name from the file, `local`, or any SSH target)."""
        if not names:
            return self.local, list(self.hosts)
        by_name = {h.name: h for h in self.hosts} | {h.target: h for h in self.hosts}
        remote: list[HostSpec] = []
        for name in dict.fromkeys(names):
            if name == LOCAL_HOST:
                continue
            spec = by_name.get(name) or HostSpec.of(name)
            if spec.name == LOCAL_HOST:
                raise ConfigError(f"--host {name}: {LOCAL_HOST!r} is the name of this machine; name the host otherwise")
            if all(spec.name != r.name for r in remote):
                remote.append(spec)
        return LOCAL_HOST in names, remote


def default_path() -> Path:
    if env := os.environ.get(ENV_HOSTS):
        return Path(env)
    return Path(platformdirs.user_config_dir("vtui")) / "hosts.toml"


def load_hosts(path: Path | None = None) -> HostsConfig:
    """Read the hosts file; a missing one lists no remote host, a broken one is a ConfigError."""
    path = path or default_path()
    read = read_toml(path)
    return HostsConfig() if read is None else _validate(path, *read)


def _target(value: object) -> HostSpec:
    target = text("is required: user@host:port or a ~/.ssh/config alias")(value)
    try:
        return HostSpec.of(target)
    except ValueError as err:  # not a target: the sentence says why
        raise Invalid(str(err)) from None


def _name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise Invalid("letters, digits and . _ - : @ only (no spaces or '/')")
    return value


def _address(name: str) -> Callable[[object], str | Literal[False]]:
    """An engine's address on a host, as its registry entry checks it, or false to leave it out."""
    def check(value: object) -> str | Literal[False]:
        address = text_or_false(ENGINE)(value)
        if address is not False:
            try:
                ENGINES[name].check_remote(address)
            except ValueError as err:
                raise Invalid(str(err)) from None
        return address
    return check


ENGINE = "must be a string (a URI for libvirt, a socket path for docker), or false"
HOST: dict[str, Key[Any]] = {"target": Key(_target, required=True), "name": Key(_name)}
HOST |= {name: Key[str | Literal[False]](_address(name), e.remote_default) for name, e in ENGINES.items()}
SCHEMA: dict[str, Key[Any]] = {
    "local": Key(boolean, True),
    "host": Key(array_of(lambda entry: check_table(entry, HOST)), list[dict[str, Any]]()),
}


def _validate(path: Path, content: str, data: dict[str, object]) -> HostsConfig:
    hosts: list[HostSpec] = []
    try:
        values = check_table(data, SCHEMA)
        for index, entry in enumerate(values["host"]):
            spec: HostSpec = entry["target"]
            name = entry["name"] or spec.name
            if name == LOCAL_HOST or any(h.name == name for h in hosts):
                taken = "this machine" if name == LOCAL_HOST else "another host"
                raise Invalid(f"{name!r} is taken ({taken})", ("host", index, "name"))
            hosts.append(HostSpec(name, spec.target, tuple((e, entry[e]) for e in ENGINES if entry[e])))
    except Invalid as bad:
        raise bad.located(path, toml_lines(content)) from None
    return HostsConfig(path, values["local"], tuple(hosts))


def add_hosts(path: Path | None, targets: Sequence[str]) -> list[str]:
    """Append a [[host]] table per target not in the file yet (the file's text is kept as it is);
    returns the targets added. Raises ConfigError for a broken file or a bad target."""
    path = path or default_path()
    known = load_hosts(path)
    present = {h.target for h in known.hosts} | {h.name for h in known.hosts}
    added: list[str] = []
    for target in dict.fromkeys(t.strip() for t in targets):
        try:
            spec = HostSpec.of(target)
        except ValueError as err:
            raise ConfigError(str(err)) from err
        if target not in present and spec.name not in present:
            added.append(target)
            present |= {target, spec.name}
    if added:
        old = path.read_text(encoding="utf-8") if path.exists() else HEADER
        tables = "".join(f"\n[[host]]\ntarget = {json.dumps(t)}\n" for t in added)
        _replace(path, old + ("\n" if old and not old.endswith("\n") else "") + tables)
    return added


HEADER = "# vtui's remote hosts (see `vtui --help`); one [[host]] table per host\n"


def _replace(path: Path, text: str) -> None:
    """Write the whole file anew, so a crash midway leaves the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        if path.exists():
            os.chmod(temp, path.stat().st_mode & 0o777)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
