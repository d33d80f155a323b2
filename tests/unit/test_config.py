"""Config parsing: good files become typed objects, bad ones name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import vtui
from vtui.config.settings import load_config
from vtui.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    config = load_config(tmp_path / "absent.toml")
    assert config.local == {"libvirt": None, "docker": None}


def test_good_file(tmp_path: Path) -> None:
    text = 'read_only = true\n[local]\nlibvirt = "test:///default"\ndocker = false\n[keymap]\nfilter = "f"\n'
    config = load_config(write(tmp_path, text))
    assert config.read_only is True
    assert config.local == {"libvirt": "test:///default"}  # docker left out
    assert config.keymap == {"filter": "f"}
    assert (config.interval, config.console.shell) == (1.0, ())


def test_console_and_stats(tmp_path: Path) -> None:
    text = '[stats]\ninterval = 2\n[console]\nshell = "/bin/ash -l"\nuser = "op"\nlog_dir = "~/logs"\n'
    config = load_config(write(tmp_path, text))
    assert config.interval == 2.0
    assert config.console.shell == ("/bin/ash", "-l") and config.console.user == "op"
    assert config.console.log_dir == Path("~/logs").expanduser()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[local]\nlibvirt = "qemu:///system"\ndocker = \n', "line 3"),  # TOML syntax error
        ('[local]\n\nlibvirt = 3\n', "line 3: local.libvirt: must be a URI string"),
        ('[local]\ndocker = true\n', "line 2: local.docker: must be a URI string"),
        ('[local]\nlibvrt = "x"\n', "line 2: local.libvrt: unknown key"),
        ('[keymap]\nquit = ""\n', "line 2: keymap.quit: must be a string of keys"),
        ('[hosts]\na = 1\n', "line 1: hosts: unknown key (known: read_only, local, stats, keymap, console)"),
        ('[stats]\n\ninterval = 0\n', "line 3: stats.interval: must be a number of seconds from 0.2 to 60.0"),
        ("[console]\nshell = \"sh -c 'x\"\n", "line 2: console.shell: cannot split into words"),
        ('local = 1\n', "line 1: local: must be a table"),
        ('read_only = "yes"\n', "line 1: read_only: must be true or false"),
    ],
)
def test_bad_file_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_cli_reports_a_malformed_config_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, '[local]\nlibvirt = 3\n')
    result = vtui("ls", "--demo", env={"VTUI_CONFIG": str(path)})
    assert result.returncode == 2
    assert f"vtui: {path}, line 2: local.libvirt: must be a URI string" in result.stderr
    assert result.stdout == ""
