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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from vtui.config import ConfigError, read_toml
from vtui.model import LOCAL_HOST
from vtui.transport.target import SshTarget, parse_target

ENV_HOSTS = "VTUI_HOSTS"
DEFAULT_LIBVIRT = "qemu:///system"
DEFAULT_DOCKER = "/var/run/docker.sock"
_NAME = re.compile(r"^[A-Za-z0-9_.:@\[\]-]+$")  # no '/': nodes are named HOST/NAME


@dataclass(frozen=True, slots=True)
class HostSpec:
    """One remote host: where to reach it and which engines to use there."""

    name: str
    target: str
    libvirt: str | None = DEFAULT_LIBVIRT  # None: leave libvirt out
    docker: str | None = DEFAULT_DOCKER  # a socket path on the host; None: leave docker out

    @classmethod
    def of(cls, target: str) -> HostSpec:
        """A host named after its target, with the default engines."""
        parsed = parse_target(target)
        return cls(str(SshTarget(parsed.host, None, parsed.port)), target)


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


def _validate(path: Path, text: str, data: dict[str, object]) -> HostsConfig:
    local = data.pop("local", True)
    if not isinstance(local, bool):
        raise ConfigError(f"{path}: local: must be true or false")
    entries = data.pop("host", [])
    for key in data:
        raise ConfigError(f"{path}: {key}: unknown key (known: local, and [[host]] tables)")
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: host: write each host as a [[host]] table")
    hosts: list[HostSpec] = []
    for index, entry in enumerate(entries):

        def problem(key: str, what: str, index: int = index) -> ConfigError:
            line = _entry_line(text, index)
            return ConfigError(f"{path}{f', line {line}' if line else ''}: host #{index + 1}: {key}: {what}")

        if not isinstance(entry, dict):
            raise problem("host", "must be a table")
        for key in entry:
            if key not in ("target", "name", "libvirt", "docker"):
                raise problem(key, "unknown key (known: target, name, libvirt, docker)")
        target = entry.get("target")
        if not isinstance(target, str) or not target.strip():
            raise problem("target", "is required: user@host:port or a ~/.ssh/config alias")
        try:
            spec = HostSpec.of(target.strip())
        except ValueError as err:
            raise problem("target", str(err)) from err
        name = entry.get("name", spec.name)
        if not isinstance(name, str) or not _NAME.match(name):
            raise problem("name", "letters, digits and . _ - : @ only (no spaces or '/')")
        if name == LOCAL_HOST or any(h.name == name for h in hosts):
            raise problem("name", f"{name!r} is taken ({'this machine' if name == LOCAL_HOST else 'another host'})")
        engines: dict[str, str | None] = {"libvirt": DEFAULT_LIBVIRT, "docker": DEFAULT_DOCKER}
        for key in engines:
            value = entry.get(key, engines[key])
            if value is False:
                engines[key] = None
            elif isinstance(value, str) and value.strip():
                engines[key] = value.strip()
            else:
                raise problem(key, "must be a string (a URI for libvirt, a socket path for docker), or false")
        docker = engines["docker"]
        if docker is not None and not docker.startswith("/"):
            raise problem("docker", f"{docker!r}: write the docker socket's absolute path on that host")
        hosts.append(HostSpec(name, spec.target, engines["libvirt"], docker))
    return HostsConfig(path, local, tuple(hosts))


def _entry_line(text: str, index: int) -> int | None:
    """The line of the `index`-th [[host]] header (tomllib keeps no positions)."""
    headers = [n for n, line in enumerate(text.splitlines(), 1) if re.match(r"^\s*\[\[\s*host\s*\]\]", line)]
    return headers[index] if index < len(headers) else None


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
