"""The config file: TOML, validated into typed objects, errors naming file, line and key.

    read_only = true             # refuse every state-changing action (also --read-only)

    [local]
    libvirt = "qemu:///system"   # a libvirt URI, or false to leave libvirt out
    docker = "unix:///var/run/docker.sock"   # a docker base URL, or false

    [stats]
    interval = 1.0               # seconds between counter polls

    [keymap]                     # binding id = keys, as Textual spells them
    filter = "slash,f"

    [console]
    shell = "/bin/ash -l"        # a container shell's command (default: bash if present, else sh)
    user = "root"                # the user it runs as (default: the container's user)
    log_dir = "~/console-logs"   # where console logs go (default: the state dir's consoles/)
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

ENV_CONFIG = "VTUI_CONFIG"
MIN_INTERVAL, MAX_INTERVAL = 0.2, 60.0


class ConfigError(Exception):
    """A config problem, phrased for the person who edits the file."""


@dataclass(frozen=True)
class ConsoleConfig:
    shell: tuple[str, ...] = ()  # empty: bash if the container has it, else sh
    user: str = ""
    log_dir: Path = field(default_factory=lambda: Path(platformdirs.user_state_dir("vtui")) / "consoles")


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    libvirt_uri: str | None = None  # None: the default URI
    docker_url: str | None = None  # None: DOCKER_HOST or the default socket
    libvirt_enabled: bool = True
    docker_enabled: bool = True
    keymap: dict[str, str] = field(default_factory=dict)
    interval: float = 1.0
    read_only: bool = False
    console: ConsoleConfig = field(default_factory=ConsoleConfig)



def default_path() -> Path:
    if env := os.environ.get(ENV_CONFIG):
        return Path(env)
    return Path(platformdirs.user_config_dir("vtui")) / "config.toml"


def read_toml(path: Path) -> tuple[str, dict[str, object]] | None:
    """A TOML file's text and data; None when it does not exist, ConfigError when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: {err}") from err


def load_config(path: Path | None = None) -> Config:
    """Read the config; a missing file is an empty config, a broken one a ConfigError."""
    path = path or default_path()
    read = read_toml(path)
    return Config(path=None) if read is None else _validate(path, *read)


def _validate(path: Path, text: str, data: dict[str, object]) -> Config:
    def problem(table: str, key: str, what: str) -> ConfigError:
        line = _line_of(text, table, key)
        where = f"{path}, line {line}" if line else str(path)
        return ConfigError(f"{where}: {table + '.' if table else ''}{key}: {what}")

    tables: dict[str, dict[str, object]] = {"local": {}, "stats": {}, "keymap": {}, "console": {}}
    read_only = data.pop("read_only", False)
    if not isinstance(read_only, bool):
        raise problem("", "read_only", "must be true or false")
    for name, value in data.items():
        if name not in tables:
            raise problem("", name, "unknown section (known: [local], [stats], [keymap], [console])")
        if not isinstance(value, dict):
            raise problem("", name, f"must be a table, written [{name}]")
        tables[name] = value

    engines: dict[str, str | bool] = {}
    for key, value in tables["local"].items():
        if key not in ("libvirt", "docker"):
            raise problem("local", key, "unknown key (known: libvirt, docker)")
        if not (value is False or (isinstance(value, str) and value)):
            raise problem("local", key, "must be a URI string, or false to leave the engine out")
        engines[key] = value
    keymap: dict[str, str] = {}
    for key, value in tables["keymap"].items():
        if not isinstance(value, str) or not value.strip():
            raise problem("keymap", key, 'must be a string of keys such as "ctrl+f,slash"')
        keymap[key] = value

    interval = 1.0
    for key, value in tables["stats"].items():
        if key != "interval":
            raise problem("stats", key, "unknown key (known: interval)")
        if isinstance(value, bool) or not isinstance(value, int | float) or not MIN_INTERVAL <= value <= MAX_INTERVAL:
            raise problem("stats", key, f"must be a number of seconds from {MIN_INTERVAL} to {MAX_INTERVAL}")
        interval = float(value)

    console = ConsoleConfig()
    for key, value in tables["console"].items():
        if key not in ("shell", "user", "log_dir"):
            raise problem("console", key, "unknown key (known: shell, user, log_dir)")
        if not isinstance(value, str) or not value.strip():
            raise problem("console", key, "must be a non-empty string")
        if key == "shell":
            try:
                console = replace(console, shell=tuple(shlex.split(value)))
            except ValueError as err:
                raise problem("console", key, f"cannot split into words: {err}") from err
        elif key == "user":
            console = replace(console, user=value)
        else:
            console = replace(console, log_dir=Path(value).expanduser())

    libvirt, docker = engines.get("libvirt"), engines.get("docker")
    return Config(
        console=console,
        interval=interval,
        read_only=read_only,
        path=path,
        libvirt_uri=libvirt if isinstance(libvirt, str) else None,
        docker_url=docker if isinstance(docker, str) else None,
        libvirt_enabled=libvirt is not False,
        docker_enabled=docker is not False,
        keymap=keymap,
    )


def _line_of(text: str, table: str, key: str) -> int | None:
    """The line where `key` is set inside `[table]` (tomllib keeps no positions)."""
    current = ""
    pattern = re.compile(rf"^\s*(\"{re.escape(key)}\"|{re.escape(key)})\s*=")
    for number, line in enumerate(text.splitlines(), 1):
        if header := re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line):
            current = header.group(1)
            if not table and current == key:
                return number
        elif current == table and pattern.match(line):
            return number
    return None
