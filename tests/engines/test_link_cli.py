"""`vtui link …` as a user runs it, on real containers: each command a new vtui process, so every
answer also proves the links file carries the links from one run to the next."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.conftest import Containers, sh, vtui
from tests.engines.test_links import carrier, inside, links_of, pings, soon
from tests.engines.test_remote import h1_docker, lab, run_on_h1  # noqa: F401
from tests.support.sshlab import SshLab, ssh_lab  # noqa: F401


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"VTUI_STATE_DIR": str(tmp_path / "state")}


def link(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return vtui("link", *args, "--no-libvirt", env=env)


def ok(env: dict[str, str], *args: str) -> str:
    done = link(env, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def listed(env: dict[str, str]) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = json.loads(ok(env, "ls", "--json"))
    return shown


def icmp_types(pcap: bytes) -> list[int]:
    """The ICMP type (8 request, 0 reply) of each IPv4 ICMP frame of a pcap file, in order."""
    assert struct.unpack("<I", pcap[:4])[0] == 0xA1B2C3D4, "not a pcap file"
    types, at = [], 24
    while at + 16 <= len(pcap):
        length = struct.unpack("<I", pcap[at + 8:at + 12])[0]
        frame = pcap[at + 16:at + 16 + length]
        at += 16 + length
        if frame[12:14] == b"\x08\x00" and frame[23] == 1:
            types.append(frame[14 + (frame[14] & 0x0F) * 4])
    return types


def test_a_link_is_wired_listed_changed_captured_and_removed(containers: Containers, env: dict[str, str]) -> None:
    a, b = containers.run(), containers.run()
    made = ok(env, "add", a.name, b.name, "--mtu", "9000", "--ip-a", "10.77.0.1/30", "--ip-b", "10.77.0.2/30")
    assert made.startswith("wired: link ") and f"{a.name}:eth1 — {b.name}:eth1" in made
    assert pings(a, "10.77.0.2") and "mtu 9000" in links_of(b)["eth1"]
    assert ok(env, "add", f"{a.name}:eth1", f"{b.name}:eth1").startswith("already wired")
    [shown] = listed(env)
    link_id = shown["id"]
    assert (shown["state"], shown["mtu"], shown["a"]["node"], shown["b"]["ifname"]) == ("up", 9000, a.name, "eth1")

    ok(env, "set", f"{a.name}:eth1", "--down")
    assert soon(lambda: not carrier(b)) and not pings(b, "10.77.0.1")
    assert listed(env)[0]["state"] == "down" and listed(env)[0]["down"] == ["a"]
    ok(env, "set", link_id, "--up")
    assert soon(lambda: carrier(b)) and pings(a, "10.77.0.2")
    assert ok(env, "set", f"{b.name}:eth1", "--flap", "0.5").startswith("flapped: link")
    assert listed(env)[0]["state"] == "up" and soon(lambda: carrier(a)) and pings(a, "10.77.0.2")

    ok(env, "impair", link_id[:4], "--dir", "a", "--rate", "5mbit")
    assert "tbf" in inside(a, "tc", "qdisc", "show", "dev", "eth1")
    assert "tbf" not in inside(b, "tc", "qdisc", "show", "dev", "eth1")
    assert listed(env)[0]["impair"] == {"a": {"rate_kbit": 5000}}
    assert "a: 5000kbit" in ok(env, "ls")
    ok(env, "impair", link_id, "--clear")
    assert "tbf" not in inside(a, "tc", "qdisc", "show", "dev", "eth1")

    pcap = Path(env["VTUI_STATE_DIR"]) / "b.pcap"
    capture = subprocess.Popen([sys.executable, "-m", "vtui", "link", "capture", f"{b.name}:eth1", "-w", str(pcap),
                                "--no-libvirt"], env={**os.environ, **env}, stderr=subprocess.PIPE)
    assert soon(lambda: pcap.exists() and pcap.stat().st_size >= 24, timeout=10), "the capture did not start"
    sh("docker", "exec", a.name, "ping", "-c", "3", "-i", "0.2", "10.77.0.2")
    time.sleep(0.5)
    capture.terminate()
    capture.wait(timeout=10)
    assert icmp_types(pcap.read_bytes()) == [8, 0] * 3  # exactly the requests and replies sent

    removed = ok(env, "del", link_id, "--yes")
    assert removed.startswith("removed: link ")
    assert "eth1" not in links_of(a) and "eth1" not in links_of(b)
    assert listed(env) == []


def test_capture_to_stdout_stops_after_count(containers: Containers, env: dict[str, str]) -> None:
    a, b = containers.run(), containers.run()
    ok(env, "add", a.name, b.name, "--ip-a", "10.78.0.1/30", "--ip-b", "10.78.0.2/30")
    assert pings(a, "10.78.0.2")  # the neighbours are known: no ARP among the next packets
    capture = subprocess.Popen([sys.executable, "-m", "vtui", "link", "capture", f"{a.name}:eth1", "-w", "-", "-c", "4",
                                "--no-libvirt"], env={**os.environ, **env}, stdout=subprocess.PIPE)
    time.sleep(1.5)  # the CLI connects and tcpdump starts
    sh("docker", "exec", a.name, "ping", "-c", "2", "10.78.0.2")
    out, _ = capture.communicate(timeout=20)
    assert capture.returncode == 0 and icmp_types(out) == [8, 0, 8, 0]


def test_bad_input_is_named_and_changes_nothing(containers: Containers, env: dict[str, str]) -> None:
    a, b = containers.run(), containers.run()
    stopped = containers.run()
    stopped.handle.stop(timeout=0)

    def refused(*args: str) -> str:
        done = link(env, *args)
        assert done.returncode != 0 and done.stdout == "", done.stdout
        return done.stderr

    assert f"no VM or container is named 'nosuch-{a.name}'" in refused("add", f"nosuch-{a.name}", b.name)
    assert f"{stopped.name!r} is exited: a link needs it running" in refused("add", a.name, stopped.name)
    assert "an interface name has 1 to 15 characters" in refused("add", f"{a.name}:averyveryverylongname", b.name)
    assert "letters, digits and . _ - @ : + only" in refused("add", f"{a.name}:e;reboot", b.name)
    assert "that name is taken" in refused("add", f"{a.name}:eth0", b.name)
    assert "--kind vxlan: " in refused("add", a.name, b.name, "--kind", "vxlan")
    assert "take a veth link: both are containers of one host" in refused("add", a.name, b.name, "--kind", "vm")
    assert "address '10.0.0.1'" in refused("add", a.name, b.name, "--ip-a", "10.0.0.1")
    assert "read-only mode: refused to wire a link" in refused("add", a.name, b.name, "--read-only")
    assert "no link is 'nosuch'" in refused("set", "nosuch", "--down")
    for box in (a, b):
        assert set(links_of(box)) == {"eth0"}  # nothing half-made
    assert listed(env) == []

    ok(env, "add", a.name, b.name)
    assert "is already an end of the link" in refused("add", f"{a.name}:eth1", f"{b.name}:eth2")
    assert "this removes interfaces and there is no terminal to ask: pass --yes" in refused("del", "--all")
    assert "read-only mode" in refused("del", "--all", "--yes", "--read-only")
    assert len(listed(env)) == 1
    ok(env, "del", "--all", "--yes")
    assert set(links_of(a)) == {"eth0"} and listed(env) == []


def test_a_damaged_links_file_is_named_and_kept(containers: Containers, env: dict[str, str]) -> None:
    state = Path(env["VTUI_STATE_DIR"])
    state.mkdir()
    (state / "links.json").write_text("{not json")
    done = link(env, "ls")
    assert done.returncode == 1 and f"the links file {state / 'links.json'} is damaged" in done.stderr
    assert (state / "links.json").read_text() == "{not json"


def test_the_link_cli_on_a_remote_host(lab: SshLab, h1_docker: docker.DockerClient, tmp_path: Path) -> None:
    """The same commands on a lab host over its SSH connection: one sh script per change."""
    a, _ = run_on_h1(h1_docker, "sleep 600")
    b, _ = run_on_h1(h1_docker, "sleep 600")
    hosts = tmp_path / "hosts.toml"
    hosts.write_text(f'[[host]]\ntarget = "h1"\nlibvirt = false\ndocker = "{lab.host("h1").docker_socket}"\n')
    env = {"HOME": str(lab.home), "VTUI_HOSTS": str(hosts), "VTUI_STATE_DIR": str(tmp_path / "state")}

    def on_h1(*args: str) -> str:
        done = vtui("link", *args, "--host", "h1", env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def inside_h1(name: str, *cmd: str) -> str:
        pid = h1_docker.containers.get(name).attrs["State"]["Pid"]
        return sh("nsenter", f"--net=/proc/{pid}/ns/net", *cmd)  # the lab's hosts share this PID namespace

    assert on_h1("add", f"h1/{a}", f"h1/{b}", "--ip-a", "10.79.0.1/30", "--ip-b", "10.79.0.2/30").startswith("wired")
    assert h1_docker.containers.get(a).exec_run(["ping", "-c", "1", "-W", "2", "10.79.0.2"]).exit_code == 0
    [shown] = json.loads(on_h1("ls", "--json"))
    assert (shown["a"]["host"], shown["state"]) == ("h1", "up")
    on_h1("set", f"{a}:eth1", "--down")
    assert "NO-CARRIER" in inside_h1(b, "ip", "link", "show", "eth1")
    assert json.loads(on_h1("ls", "--json"))[0]["state"] == "down"
    on_h1("set", shown["id"], "--up")
    on_h1("impair", shown["id"], "--rate", "2mbit")
    assert "tbf" in inside_h1(a, "tc", "qdisc", "show", "dev", "eth1")
    ping = ["ping", "-c", "1", "-W", "2", "10.79.0.2"]
    assert h1_docker.containers.get(a).exec_run(ping).exit_code == 0  # neighbours known: no ARP in the capture
    capture = subprocess.Popen([sys.executable, "-m", "vtui", "link", "capture", f"{b}:eth1", "-w", "-", "-c", "2",
                                "--host", "h1"], env={**os.environ, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    time.sleep(2)  # the CLI connects over SSH and tcpdump starts
    assert h1_docker.containers.get(a).exec_run(ping).exit_code == 0
    out, err = capture.communicate(timeout=30)
    assert icmp_types(out) == [8, 0], err
    segment = vtui("bridge", "add", "wan@h1", "--host", "h1", env=env)
    assert segment.returncode == 0, segment.stderr
    for n, box in enumerate((a, b)):
        joined = vtui("bridge", "attach", "wan", f"h1/{box}", "--ip", f"10.80.0.{n + 1}/24", "--host", "h1", env=env)
        assert joined.returncode == 0, joined.stderr
    assert h1_docker.containers.get(a).exec_run(["ping", "-c", "1", "-W", "2", "10.80.0.2"]).exit_code == 0
    removed = vtui("bridge", "del", "wan@h1", "--yes", "--host", "h1", env=env)
    assert removed.returncode == 0 and "2 member links" in removed.stdout, removed.stderr
    on_h1("del", "--all", "--yes")
    assert "eth1" not in inside_h1(a, "ip", "link", "show")
    assert json.loads(on_h1("ls", "--json")) == []


def bridge(env: dict[str, str], *args: str) -> str:
    done = vtui("bridge", *args, "--no-libvirt", env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_segment_of_three_is_made_joined_repaired_and_removed(containers: Containers, env: dict[str, str]) -> None:
    a, b, c = (containers.run() for _ in range(3))
    name = f"lan {a.name[-4:]} $(x)"  # the user's words: shown, never given to a shell
    assert bridge(env, "add", name).startswith(f"made: segment {name} (")
    for n, box in enumerate((a, b, c)):
        assert bridge(env, "attach", name, box.name, "--ip", f"10.89.0.{n + 1}/24").startswith(f"attached: {box.name}")
    assert pings(a, "10.89.0.2") and pings(a, "10.89.0.3") and pings(b, "10.89.0.3")
    [shown] = json.loads(bridge(env, "ls", "--json"))
    assert shown["name"] == name and shown["members"] == [f"{a.name}:eth1", f"{b.name}:eth1", f"{c.name}:eth1"]
    assert sh("ip", "netns", "list").count(f"vtseg{shown['id']}") == 1  # the bridge lives apart from the host's

    assert bridge(env, "add", "spare").startswith("made: segment spare")  # one more, for `link del --all`
    assert bridge(env, "detach", name, c.name).startswith(f"detached: {c.name}:eth1")
    assert "eth1" not in links_of(c) and not pings(a, "10.89.0.3")
    b.handle.restart(timeout=0)  # without a running vtui nothing re-wires it: `link repair` does
    assert "unwired" in [link["state"] for link in listed(env)]
    assert "wired again: link" in ok(env, "repair", "--all")
    assert pings(a, "10.89.0.2")

    refused = vtui("bridge", "attach", "no-such-segment", a.name, "--no-libvirt", env=env)
    assert refused.returncode == 1 and "no segment is 'no-such-segment'" in refused.stderr
    refused = vtui("bridge", "del", name, "--yes", "--read-only", "--no-libvirt", env=env)
    assert refused.returncode == 1 and "read-only mode: refused to remove the segment" in refused.stderr
    assert bridge(env, "del", name, "--yes").startswith(f"removed: segment {name} and 2 member links")
    assert f"vtseg{shown['id']}" not in sh("ip", "netns", "list")
    assert listed(env) == [] and "eth1" not in links_of(a) and "eth1" not in links_of(b)
    [spare] = json.loads(bridge(env, "ls", "--json"))
    assert "removed: segment spare" in ok(env, "del", "--all", "--yes")  # no bridge is left behind
    assert json.loads(bridge(env, "ls", "--json")) == [] and f"vtseg{spare['id']}" not in sh("ip", "netns", "list")


def test_a_link_between_two_hosts_is_a_vxlan_tunnel(
    lab: SshLab, h1_docker: docker.DockerClient, containers: Containers, tmp_path: Path,
) -> None:
    """A container of h1's own dockerd and one of h2's (the test bed's dockerd, which h2's SSH
    sessions reach), each end made on its host over that host's SSH connection."""
    far, _ = run_on_h1(h1_docker, "sleep 600")
    near = containers.run()
    hosts = tmp_path / "hosts.toml"
    hosts.write_text(f'[[host]]\ntarget = "h1"\nlibvirt = false\ndocker = "{lab.host("h1").docker_socket}"\n'
                     '[[host]]\ntarget = "h2"\nlibvirt = false\n')
    env = {"HOME": str(lab.home), "VTUI_HOSTS": str(hosts), "VTUI_STATE_DIR": str(tmp_path / "state")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return vtui("link", *args, "--host", "h1", "--host", "h2", env=env)

    made = run("add", f"h2/{near.name}", f"h1/{far}", "--ip-a", "10.98.0.1/30", "--ip-b", "10.98.0.2/30")
    assert made.returncode == 0 and made.stdout.startswith("wired"), made.stderr
    [shown] = json.loads(run("ls", "--json").stdout)
    assert (shown["kind"], shown["mtu"], shown["state"]) == ("vxlan", 1450, "up")
    assert "vxlan id" in links_of(near)["eth1"] and "remote 10.77.0.11 local 10.77.0.12" in links_of(near)["eth1"]
    assert pings(near, "10.98.0.2")
    assert h1_docker.containers.get(far).exec_run(["ping", "-c", "1", "-W", "2", "10.98.0.1"]).exit_code == 0
    assert run("impair", f"{far}:eth1", "--rate", "5mbit").returncode == 0
    assert run("set", f"{near.name}:eth1", "--down").returncode == 0 and not pings(near, "10.98.0.2")
    assert run("set", f"{near.name}:eth1", "--up").returncode == 0 and pings(near, "10.98.0.2")
    removed = run("del", "--all", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert "eth1" not in links_of(near)


def test_hosts_without_a_route_between_them_are_named(
    lab: SshLab, h1_docker: docker.DockerClient, containers: Containers, tmp_path: Path,
) -> None:
    far, _ = run_on_h1(h1_docker, "sleep 600")
    near = containers.run()
    hosts = tmp_path / "hosts.toml"
    hosts.write_text(f'[[host]]\ntarget = "h1"\nlibvirt = false\ndocker = "{lab.host("h1").docker_socket}"\n')
    env = {"HOME": str(lab.home), "VTUI_HOSTS": str(hosts), "VTUI_STATE_DIR": str(tmp_path / "state")}
    refused = vtui("link", "add", f"local/{near.name}", f"h1/{far}", "--no-libvirt", "--host", "local", "--host", "h1",
                   env=env)
    assert refused.returncode == 1 and "no route between local and h1" in refused.stderr, refused.stderr
    assert "eth1" not in links_of(near)
