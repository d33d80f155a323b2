"""Config parsing: good files become typed objects, bad ones name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import vtui
from vtui.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    config = load_config(tmp_path / "absent.toml")
    assert (config.libvirt_enabled, config.docker_enabled, config.libvirt_uri) == (True, True, None)


def test_good_file(tmp_path: Path) -> None:
    text = 'read_only = true\n[local]\nlibvirt = "test:///default"\ndocker = false\n[keymap]\nfilter = "f"\n'
    config = load_config(write(tmp_path, text))
    assert config.read_only is True
    assert config.libvirt_uri == "test:///default"
    assert config.docker_enabled is False
    assert config.keymap == {"filter": "f"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[local]\nlibvirt = "qemu:///system"\ndocker = \n', "line 3"),  # TOML syntax error
        ('[local]\n\nlibvirt = 3\n', "line 3: local.libvirt: must be a URI string"),
        ('[local]\ndocker = true\n', "line 2: local.docker: must be a URI string"),
        ('[local]\nlibvrt = "x"\n', "line 2: local.libvrt: unknown key"),
        ('[keymap]\nquit = ""\n', "line 2: keymap.quit: must be a string of keys"),
        ('[hosts]\na = 1\n', "line 1: hosts: unknown section"),
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
