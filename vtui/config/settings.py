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
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from vtui.backends.registry import ENGINES
from vtui.config.schema import (
    Invalid,
    Key,
    boolean,
    check_table,
    number,
    read_toml,
    section,
    table_of,
    text,
    text_or_false,
    toml_lines,
)

ENV_CONFIG = "VTUI_CONFIG"
MIN_INTERVAL, MAX_INTERVAL = 0.2, 60.0


@dataclass(frozen=True)
class ConsoleConfig:
    shell: tuple[str, ...] = ()  # empty: bash if the container has it, else sh
    user: str = ""
    log_dir: Path = field(default_factory=lambda: Path(platformdirs.user_state_dir("vtui")) / "consoles")


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    # this machine's engines by name, each with its address (None: the engine's default); one set
    # to false in the file is left out
    local: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(ENGINES))
    keymap: dict[str, str] = field(default_factory=dict)
    interval: float = 1.0
    read_only: bool = False
    console: ConsoleConfig = field(default_factory=ConsoleConfig)


def _words(value: object) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(text()(value)))
    except ValueError as err:
        raise Invalid(f"cannot split into words: {err}") from None


URI = "must be a URI string, or false to leave the engine out"
SCHEMA: dict[str, Key[Any]] = {
    "read_only": Key(boolean, False),
    "local": section({name: Key(text_or_false(URI)) for name in ENGINES}),
    "stats": section({"interval": Key(number(MIN_INTERVAL, MAX_INTERVAL, "seconds"), 1.0)}),
    "keymap": Key(table_of(text('must be a string of keys such as "ctrl+f,slash"')), dict[str, str]()),
    "console": section({"shell": Key(_words, ()), "user": Key(text(), ""),
                        "log_dir": Key(lambda v: Path(text()(v)).expanduser())}),
}


def default_path() -> Path:
    if env := os.environ.get(ENV_CONFIG):
        return Path(env)
    return Path(platformdirs.user_config_dir("vtui")) / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read the config; a missing file is an empty config, a broken one a ConfigError."""
    path = path or default_path()
    read = read_toml(path)
    if read is None:
        return Config(path=None)
    content, data = read
    try:
        values = check_table(data, SCHEMA)
    except Invalid as bad:
        raise bad.located(path, toml_lines(content)) from None
    local, console = values["local"], values["console"]
    return Config(
        path=path,
        local={name: local[name] or None for name in ENGINES if local[name] is not False},
        keymap=values["keymap"],
        interval=values["stats"]["interval"],
        read_only=values["read_only"],
        console=ConsoleConfig(console["shell"], console["user"], console["log_dir"] or ConsoleConfig().log_dir),
    )
