"""One way to read vtui's files (config.toml, hosts.toml, and lab files): a declared table of
keys, each with a check that turns the file's value into a typed one or says what is wrong, and
errors that name the file, the line and the key.

    FIELDS = {"interval": Key(number(0.2, 60), 1.0), "user": Key(text())}
    values = check_table(data, FIELDS, ("stats",))      # Invalid(path, what) for a bad or unknown key
    ...
    except Invalid as bad: raise bad.located(path, toml_lines(text)) from bad   # ConfigError

A file format gives the positions (`toml_lines`; tomllib keeps none, so they are read from the text).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from vtui.errors import ConfigError

T = TypeVar("T")
KeyPath = tuple[str | int, ...]  # ("local", "libvirt"), ("host", 0, "target"): int for an array's entry
Lines = Callable[[KeyPath], int | None]  # where a key path is written in the file




class Invalid(ValueError):
    """A value that does not fit; `path` says where, once the check that raised it knows."""

    def __init__(self, what: str, path: KeyPath = ()) -> None:
        super().__init__(what)
        self.what, self.path = what, path

    def located(self, file: Path, lines: Lines) -> ConfigError:
        line = _nearest_line(self.path, lines)
        return ConfigError(f"{file}{f', line {line}' if line else ''}: {spell(self.path)}: {self.what}")


def spell(path: KeyPath) -> str:
    """A key path as the person wrote it: `local.libvirt`, `host #2.target`."""
    return ".".join(f"#{p + 1}" if isinstance(p, int) else p for p in path).replace(".#", " #")


def _nearest_line(path: KeyPath, lines: Lines) -> int | None:
    """The line of the key, else of the table holding it (a missing key is the table's problem)."""
    for end in range(len(path), 0, -1):
        if (line := lines(path[:end])) is not None:
            return line
    return None


@dataclass(frozen=True)
class Key(Generic[T]):
    """One key of a table: how to check its value, and its value when the key is absent."""

    check: Callable[[object], T]
    default: T | None = None
    required: bool = False


def section(keys: Mapping[str, Key[Any]]) -> Key[dict[str, Any]]:
    """A key holding a table of `keys`; absent, the table of their defaults."""
    return Key(lambda value: check_table(value, keys), check_table({}, keys))


def array_of(check: Callable[[object], T]) -> Callable[[object], list[T]]:
    """An array (in TOML, [[name]] tables), each entry checked; Invalid names the entry."""
    def check_all(value: object) -> list[T]:
        if not isinstance(value, list):
            raise Invalid("must be an array")
        out: list[T] = []
        for index, item in enumerate(value):
            try:
                out.append(check(item))
            except Invalid as bad:
                raise Invalid(bad.what, (index, *bad.path)) from None
        return out

    return check_all


def check_table(data: object, keys: Mapping[str, Key[Any]], path: KeyPath = ()) -> dict[str, Any]:
    """The table's values, checked (absent keys take their default); Invalid names the key."""
    if not isinstance(data, dict):
        raise Invalid("must be a table", path)
    for name in data:
        if name not in keys:
            raise Invalid(f"unknown key ({_known(str(name), keys)})", (*path, name))
    values: dict[str, Any] = {}
    for name, key in keys.items():
        if name not in data:
            if key.required:
                raise Invalid("is required", (*path, name))
            values[name] = key.default
            continue
        try:
            values[name] = key.check(data[name])
        except Invalid as bad:
            raise Invalid(bad.what, (*path, name, *bad.path)) from None
    return values


def _known(name: str, keys: Mapping[str, object]) -> str:
    """The keys a table takes, or for a long list those spelt like `name`."""
    if len(keys) <= 12:
        return f"known: {', '.join(keys)}"
    close = difflib.get_close_matches(name, list(keys), n=3, cutoff=0.6)
    return f"did you mean {' or '.join(close)}?" if close else f"{len(keys)} keys are known; this is none of them"


# --- checks: each returns the typed value or raises Invalid(what is wrong) -------------------------

def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def text(what: str = "must be a non-empty string") -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise Invalid(what)
        return value.strip()

    return check


def number(low: float, high: float, unit: str = "") -> Callable[[object], float]:
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise Invalid(f"must be a number{f' of {unit}' if unit else ''} from {low} to {high}")
        return float(value)

    return check


def text_or_false(what: str) -> Callable[[object], str | Literal[False]]:
    """A string, or false for "leave it out"."""
    def check(value: object) -> str | Literal[False]:
        if value is False:
            return False
        if isinstance(value, str) and value.strip():
            return value.strip()
        raise Invalid(what)

    return check


def table_of(check: Callable[[object], T]) -> Callable[[object], dict[str, T]]:
    """A table of any keys, each value checked."""
    def check_all(value: object) -> dict[str, T]:
        if not isinstance(value, dict):
            raise Invalid("must be a table")
        out: dict[str, T] = {}
        for name, item in value.items():
            try:
                out[name] = check(item)
            except Invalid as bad:
                raise Invalid(bad.what, (name, *bad.path)) from None
        return out

    return check_all


# --- TOML ---------------------------------------------------------------------------------------------

def read_toml(path: Path) -> tuple[str, dict[str, object]] | None:
    """A TOML file's text and data; None when it does not exist, ConfigError when it cannot be read."""
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
    try:
        return content, tomllib.loads(content)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: {err}") from err


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_ASSIGN = re.compile(r"^\s*(\"[^\"]*\"|[A-Za-z0-9_-]+)\s*=")


def toml_lines(content: str) -> Lines:
    """Where each table, array entry and key of a TOML text is written (top-level tables and arrays
    of tables, as vtui's files use)."""
    where: dict[KeyPath, int] = {}
    current: KeyPath = ()
    entries: dict[str, int] = {}
    for number_, line in enumerate(content.splitlines(), 1):
        if header := _HEADER.match(line):
            name = header.group(2)
            if header.group(1) == "[[":
                index = entries[name] = entries.get(name, -1) + 1
                current = (name, index)
            else:
                current = (name,)
            where.setdefault(current, number_)
        elif assign := _ASSIGN.match(line):
            where.setdefault((*current, assign.group(1).strip('"')), number_)
    return where.get


# --- YAML (lab files) ----------------------------------------------------------------------------------

def read_yaml(path: Path, content: str | None = None) -> tuple[dict[str, object], Lines]:
    """A YAML file's data (a mapping at the top) and where each of its keys is written; ConfigError
    when it cannot be read or is not YAML. `content`: the file's text as read before."""
    import yaml  # only lab files are YAML: loaded when one is read

    try:
        content = path.read_text(encoding="utf-8") if content is None else content
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
    loader = yaml.SafeLoader(content)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not YAML: {getattr(err, 'problem', None) or err}") from err
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a lab file is a YAML mapping (name:, topology:), not {type(data).__name__}")
    where: dict[KeyPath, int] = {}
    _yaml_positions(root, (), where)
    return data, where.get


def _yaml_positions(node: object, path: KeyPath, where: dict[KeyPath, int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                inner = (*path, str(key.value))
                where.setdefault(inner, key.start_mark.line + 1)
                _yaml_positions(value, inner, where)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            where.setdefault((*path, index), item.start_mark.line + 1)
            _yaml_positions(item, (*path, index), where)
