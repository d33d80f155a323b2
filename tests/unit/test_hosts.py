"""hosts.toml and --host: which hosts vtui shows, errors naming file, line and key (no I/O beyond files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtui.backends.registry import libvirt_socket, libvirt_uri_via
from vtui.config.hosts import HostSpec, add_hosts, engines, load_hosts
from vtui.errors import ConfigError
from vtui.transport.target import parse_target

GOOD = """\
local = false

[[host]]
target = "root@10.0.0.5:2222"

[[host]]
target = "lab2"
name = "two"
libvirt = false
docker = "/run/docker-alt.sock"
"""


def test_targets_are_taken_apart_and_named() -> None:
    assert parse_target("root@10.0.0.5:2222").user == "root"
    assert parse_target("u@[fd00::5]:22").host == "fd00::5"
    assert HostSpec.of("u@[fd00::5]:2222").name == "[fd00::5]:2222"
    assert HostSpec.of("lab2").name == "lab2"
    for bad in ("a b", "x:99999", "user@", "a/b", "; rm -rf /", "$(id)", "-oProxyCommand=x"):
        with pytest.raises(ValueError, match=r"SSH target|out of range"):
            parse_target(bad)


def test_the_hosts_file_and_host_options_choose_the_hosts(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(GOOD)
    hosts = load_hosts(path)
    assert not hosts.local
    assert hosts.hosts == (HostSpec("10.0.0.5:2222", "root@10.0.0.5:2222", engines()),
                           HostSpec("two", "lab2", engines(libvirt=None, docker="/run/docker-alt.sock")))
    assert hosts.chosen(None) == (False, list(hosts.hosts))
    local, remote = hosts.chosen(["local", "two", "me@elsewhere"])
    assert local and [r.name for r in remote] == ["two", "elsewhere"]
    assert load_hosts(tmp_path / "missing.toml").hosts == ()


@pytest.mark.parametrize(("text", "problem"), [
    ('[[host]]\ntarget = "a"\nport = 22\n', r"hosts.toml, line 3: host #1.port: unknown key"),
    ('[[host]]\ntarget = "a"\n\n[[host]]\ntarget = "b"\nname = "a"\n', r"line 6: host #2.name: 'a' is taken"),
    ('[[host]]\ntarget = "x"\nname = "local"\n', r"name: 'local' is taken \(this machine\)"),
    ('[[host]]\nname = "x"\n', r"target: is required"),
    ('[[host]]\ntarget = "a b"\n', r"target: 'a b' is not an SSH target"),
    ('[[host]]\ntarget = "a"\ndocker = "docker.sock"\n', r"docker: 'docker.sock': write the docker socket's absolute"),
    ('[[host]]\ntarget = "a"\nname = "a/b"\n', r"name: letters, digits"),
    ("hosts = 1\n", r"hosts: unknown key"),
    ('[[host]\ntarget = "a"\n', r"hosts.toml: .*line 1"),
])
def test_a_broken_hosts_file_is_named_with_line_and_key(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_hosts(path)


def test_adding_hosts_keeps_the_file_and_skips_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "vtui" / "hosts.toml"
    assert add_hosts(path, ["10.0.0.7", "10.0.0.8:2222"]) == ["10.0.0.7", "10.0.0.8:2222"]
    path.write_text("# my hosts\n" + path.read_text())
    assert add_hosts(path, ["10.0.0.7", "10.0.0.9"]) == ["10.0.0.9"]
    text = path.read_text()
    assert text.startswith("# my hosts\n")
    assert [h.target for h in load_hosts(path).hosts] == ["10.0.0.7", "10.0.0.8:2222", "10.0.0.9"]
    for bad in ("a b", 'odd"name', "x\n[[host]]"):
        with pytest.raises(ConfigError, match="not an SSH target"):
            add_hosts(path, [bad])
    assert path.read_text() == text


def test_a_remote_libvirt_uri_goes_through_the_forwarded_socket() -> None:
    assert libvirt_socket("qemu:///system") == "/var/run/libvirt/libvirt-sock"
    assert libvirt_uri_via("qemu:///system", Path("/run/x y/h.sock")) == "qemu+unix:///system?socket=/run/x%20y/h.sock"
    session = "qemu:///session?socket=/run/user/1000/libvirt/libvirt-sock"
    assert libvirt_socket(session) == "/run/user/1000/libvirt/libvirt-sock"
    with pytest.raises(ConfigError, match="name the socket"):
        libvirt_socket("qemu:///session")
