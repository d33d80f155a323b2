"""Labs from containerlab topology files, deployed, changed and destroyed by `vtui lab …` on the test
bed's real engines: every file is written in containerlab's own syntax (vtui's keys only where a
lab needs what containerlab lacks), every lab is named after this run, and every container it makes
carries the test label, so a dead run's leftovers are swept and nothing else is touched."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import libvirt
import pytest
import yaml

from tests.conftest import OWNER, RUN, SYSTEM_URI, TEST_IMAGE, TEST_LABEL, Containers, copy_xml, sh, vm_template, vtui
from tests.engines.test_console_vm import FORCE, Copy, node_of, prompt, vm_copy  # noqa: F401
from tests.engines.test_remote import h1_docker, lab  # noqa: F401
from tests.engines.test_vm_links import guest, nics
from tests.support.sshlab import SshLab, ssh_lab  # noqa: F401
from vtui.backends.libvirt import LibvirtBackend
from vtui.labs.clab import read_lab
from vtui.model import LAB_LABEL


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"VTUI_STATE_DIR": str(tmp_path / "state")}


def header(name: str, *, kinds: str = "") -> str:
    """A lab's head: its name, and defaults that make busybox containers labelled for this run."""
    return (f"name: {name}\ntopology:\n  defaults:\n    kind: linux\n    image: {TEST_IMAGE}\n    cmd: sleep 3600\n"
            f"    labels: {{{TEST_LABEL}: '{OWNER}'}}\n{kinds}")


def run_lab(env: dict[str, str], *args: str, timeout: float = 120,
            engines: tuple[str, ...] = ("--no-libvirt",)) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vtui", "lab", *args, *engines], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **env})


def ok(env: dict[str, str], *args: str, engines: tuple[str, ...] = ("--no-libvirt",)) -> str:
    done = run_lab(env, *args, engines=engines)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def pings(client: docker.DockerClient, container: str, address: str) -> bool:
    return client.containers.get(container).exec_run(["ping", "-c", "1", "-W", "2", address]).exit_code == 0


def inside(client: docker.DockerClient, container: str, *command: str) -> str:
    output = client.containers.get(container).exec_run(list(command)).output
    assert isinstance(output, bytes)
    return output.decode()


def qdisc(client: docker.DockerClient, container: str, ifname: str = "eth1") -> str:
    """The interface's qdiscs as the host's tc shows them (busybox's tc prints no options)."""
    pid = client.api.inspect_container(container)["State"]["Pid"]
    return sh("nsenter", f"--net=/proc/{pid}/ns/net", "tc", "qdisc", "show", "dev", ifname)


def of_lab(client: docker.DockerClient, name: str) -> list[str]:
    """The lab's containers (from the list alone: a container removed meanwhile cannot be inspected)."""
    listed = client.api.containers(all=True, filters={"label": f"{LAB_LABEL}={name}"})
    return sorted(str(c["Names"][0]).lstrip("/") for c in listed)


def inspected(env: dict[str, str], name: str, engines: tuple[str, ...] = ("--no-libvirt",)) -> dict[str, Any]:
    [shown] = json.loads(ok(env, "inspect", name, "--json", engines=engines))
    assert isinstance(shown, dict)
    return shown


def links_by_ends(shown: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{link['a']['node']}:{link['a']['interface']}-{link['b']['node']}:{link['b']['interface']}": link
            for link in shown["links"]}


def ifindex(client: docker.DockerClient, container: str, ifname: str) -> str:
    return inside(client, container, "cat", f"/sys/class/net/{ifname}/ifindex").strip()


def test_a_line_of_three_is_deployed_pinged_changed_in_place_and_destroyed(
    docker_client: docker.DockerClient, env: dict[str, str], tmp_path: Path,
) -> None:
    name = f"line{RUN}"
    c = {n: f"clab-{name}-{n}" for n in ("r1", "r2", "r3")}
    first = tmp_path / "line.clab.yml"
    first.write_text(header(name) + """\
  nodes:
    r1:
    r2:
    r3:
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
      ipv4: [10.91.1.1/30, 10.91.1.2/30]
      impair: 10mbit
    - endpoints: ["r2:eth2", "r3:eth1"]
      ipv4: [10.91.2.1/30, 10.91.2.2/30]
""")
    try:
        deployed = ok(env, "deploy", str(first))
        assert f"lab {name} deployed" in deployed and "+ node r3" in deployed
        assert pings(docker_client, c["r1"], "10.91.1.2") and pings(docker_client, c["r3"], "10.91.2.1")
        shown = inspected(env, name)
        assert {n["name"]: n["state"] for n in shown["nodes"]} == {"r1": "running", "r2": "running", "r3": "running"}
        links = links_by_ends(shown)
        assert {link["state"] for link in links.values()} == {"up"} and len(links) == 2
        assert links["r1:eth1-r2:eth1"]["impair"] == "r1:eth1 10000kbit; r2:eth1 10000kbit"
        assert links["r1:eth1-r2:eth1"]["mtu"] == 9500  # containerlab's MTU
        assert "rate 10Mbit" in qdisc(docker_client, c["r1"])
        assert "nothing to change" in ok(env, "deploy", str(first))  # deployed again: the same lab
        ok(env, "export", name, "--clab", "--dir", str(tmp_path))
        plain = read_lab(tmp_path / f"{name}-local.clab.yml")  # plain containerlab, read back the same
        assert [str(link) for link in plain.links] == ["r1:eth1 — r2:eth1", "r2:eth2 — r3:eth1"]
        assert plain.links[0].a.addresses == ("10.91.1.1/30",) and not plain.links[0].impair
        assert "# left out: the impairment and state of r1:eth1 — r2:eth1" in (
            tmp_path / f"{name}-local.clab.yml").read_text()

        kept = {n: docker_client.containers.get(c[n]).id for n in ("r1", "r2")}
        kept_if = ifindex(docker_client, c["r1"], "eth1")
        edited = tmp_path / "line2.clab.yml"  # r3 goes, a link comes, an impairment changes
        edited.write_text(header(name) + """\
  nodes:
    r1:
    r2:
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
      ipv4: [10.91.1.1/30, 10.91.1.2/30]
      impair: {a: 5mbit}
    - endpoints: ["r1:eth2", "r2:eth3"]
      ipv4: [10.91.3.1/30, 10.91.3.2/30]
""")
        dry = ok(env, "apply", str(edited), "--dry-run")
        assert dry.splitlines()[1:] == ["  - 1 link: r2:eth2 — r3:eth1",
                                        f"  - node r3 (container {c['r3']} on local)",
                                        "  + link r1:eth2 — r2:eth3",
                                        "  ~ link r1:eth1 — r2:eth1: impair r1:eth1 5000kbit; r2:eth1 off"], dry
        assert of_lab(docker_client, name) == sorted(c.values())  # a dry run changes nothing
        applied = ok(env, "apply", str(edited))
        assert f"lab {name} applied" in applied
        assert of_lab(docker_client, name) == sorted([c["r1"], c["r2"]])
        assert {n: docker_client.containers.get(c[n]).id for n in ("r1", "r2")} == kept  # not made again
        assert ifindex(docker_client, c["r1"], "eth1") == kept_if  # the kept link was not made again
        assert pings(docker_client, c["r1"], "10.91.3.2") and pings(docker_client, c["r1"], "10.91.1.2")
        assert "rate 5Mbit" in qdisc(docker_client, c["r1"])
        assert "tbf" not in qdisc(docker_client, c["r2"])
        assert "no change" in ok(env, "apply", str(edited), "--dry-run")
        docker_client.containers.get(c["r2"]).restart(timeout=0)  # outside vtui: r2's veths go with it
        repaired = ok(env, "deploy", str(edited))
        assert repaired.count(": wire what is missing: made again") == 2, repaired
        assert pings(docker_client, c["r1"], "10.91.3.2") and pings(docker_client, c["r1"], "10.91.1.2")
        assert "rate 5Mbit" in qdisc(docker_client, c["r1"])  # its impairment set again

        destroyed = run_lab(env, "destroy", name)  # no terminal to ask: refused
        assert destroyed.returncode == 2 and "pass --yes" in destroyed.stderr
        assert f"lab {name} destroyed" in ok(env, "destroy", str(edited), "--yes")
        assert of_lab(docker_client, name) == []
        state = json.loads((Path(env["VTUI_STATE_DIR"]) / "links.json").read_text())
        assert (state["links"], state["segments"], state["labs"]) == ([], [], [])
        assert "nothing to destroy" in ok(env, "destroy", name, "--yes")  # again: converged already
    finally:
        run_lab(env, "destroy", name, "--yes")


def test_a_star_around_a_bridge(docker_client: docker.DockerClient, env: dict[str, str], tmp_path: Path) -> None:
    name = f"star{RUN}"
    star = tmp_path / "star.clab.yml"
    star.write_text(header(name) + """\
  nodes:
    sw: {kind: bridge}
    h1:
      cap-add: [NET_ADMIN]
      exec: ["ip link set eth1 mtu 1400", "ip link show eth1"]
    h2:
    h3:
  links:
    - endpoints: ["h1:eth1", "sw:p1"]
      ipv4: [10.92.0.1/24, ""]
    - endpoints: ["h2:eth1", "sw:p2"]
      ipv4: [10.92.0.2/24, ""]
    - type: veth
      endpoints:
        - {node: h3, interface: eth1, ipv4: 10.92.0.3/24}
        - {node: sw, interface: p3}
""")
    try:
        deployed = ok(env, "deploy", str(star))
        assert "~ node h1: exec 2 commands: 'ip link set eth1 mtu 1400': exit 0; 'ip link show eth1': exit 0" \
            in deployed, deployed  # run once its links are wired
        assert "mtu 1400" in inside(docker_client, f"clab-{name}-h1", "ip", "link", "show", "eth1")
        for peer in ("10.92.0.2", "10.92.0.3"):
            assert pings(docker_client, f"clab-{name}-h1", peer)
        assert pings(docker_client, f"clab-{name}-h3", "10.92.0.2")
        shown = inspected(env, name)
        assert {n["name"]: n["state"] for n in shown["nodes"]}["sw"] == "made"
        assert {link["kind"] for link in shown["links"]} == {"segment"} and len(shown["links"]) == 3
        segment = json.loads((Path(env["VTUI_STATE_DIR"]) / "links.json").read_text())["segments"][0]
        assert f"vtseg{segment['id']}" in sh("ip", "netns", "list")
        ok(env, "destroy", name, "--yes")
        assert of_lab(docker_client, name) == [] and f"vtseg{segment['id']}" not in sh("ip", "netns", "list")
    finally:
        run_lab(env, "destroy", name, "--yes")


def test_an_existing_container_is_a_node_and_stays_after_destroy(
    docker_client: docker.DockerClient, containers: Containers, env: dict[str, str], tmp_path: Path,
) -> None:
    """kind ext-container: a container that runs already (named as the node) is linked, never made
    or removed by the lab."""
    box = containers.run()
    name = f"ext{RUN}"
    path = tmp_path / "ext.clab.yml"
    path.write_text(header(name) + f"""\
  nodes:
    r1:
    {box.name}: {{kind: ext-container}}
  links:
    - endpoints: ["r1:eth1", "{box.name}:eth1"]
      ipv4: [10.96.0.1/30, 10.96.0.2/30]
""")
    try:
        deployed = ok(env, "deploy", str(path))
        assert f"+ node {box.name}" not in deployed and pings(docker_client, f"clab-{name}-r1", "10.96.0.2")
        ok(env, "destroy", name, "--yes")
        box.handle.reload()
        assert box.handle.status == "running" and "eth1" not in inside(docker_client, box.name, "ip", "link")
        assert of_lab(docker_client, name) == []
        box.handle.stop(timeout=0)
        stopped = ok(env, "deploy", str(path))  # the lab starts it: a node of a lab runs
        assert f"~ node {box.name} (container {box.name} on local): start it" in stopped
        assert pings(docker_client, f"clab-{name}-r1", "10.96.0.2")
    finally:
        run_lab(env, "destroy", name, "--yes")


def test_a_missing_image_is_named_and_nothing_is_left(
    docker_client: docker.DockerClient, env: dict[str, str], tmp_path: Path,
) -> None:
    name = f"noimg{RUN}"
    bad = tmp_path / "bad.clab.yml"
    bad.write_text(header(name) + """\
  nodes:
    r1:
    r2:
    r3: {image: vtui-test/no-such-image:1}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
""")
    done = run_lab(env, "deploy", str(bad))
    assert done.returncode == 1
    assert "the image 'vtui-test/no-such-image:1' is not on local" in done.stderr, done.stderr
    assert "[undone] + node r1" in done.stdout  # made, then taken back
    assert of_lab(docker_client, name) == []
    assert json.loads(ok(env, "inspect", "--json")) == []


def wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_a_deploy_stopped_half_way_converges_on_the_next_deploy_or_destroy(
    docker_client: docker.DockerClient, env: dict[str, str], tmp_path: Path, stop: signal.Signals,
) -> None:
    """ctrl+c: the deploy undoes what it made. A killed vtui undoes nothing, but what it made carries
    the lab's name: the next deploy completes the lab, and destroy removes all of it."""
    name = f"cut{stop.value}{RUN}"
    nodes = [f"n{i}" for i in range(8)]
    big = tmp_path / "big.clab.yml"
    big.write_text(header(name) + "  nodes:\n" + "".join(f"    {n}:\n" for n in nodes) + "  links:\n" + "".join(
        f'    - endpoints: ["{a}:eth1", "{b}:eth1"]\n' for a, b in zip(nodes[::2], nodes[1::2], strict=True)))
    deploying = subprocess.Popen([sys.executable, "-m", "vtui", "lab", "deploy", str(big), "--no-libvirt"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, **env})
    try:
        wait_for(lambda: bool(of_lab(docker_client, name)))
        deploying.send_signal(stop)
        _, err = deploying.communicate(timeout=60)
        if stop == signal.SIGINT:
            assert deploying.returncode == 130 and "interrupted" in err, err
            assert of_lab(docker_client, name) == []
            assert "nothing to destroy" in ok(env, "destroy", name, "--yes")
            return
        assert deploying.returncode == -signal.SIGKILL
        again = ok(env, "deploy", str(big))
        assert f"lab {name} deployed" in again or "nothing to change" in again
        assert of_lab(docker_client, name) == sorted(f"clab-{name}-{n}" for n in nodes)
        assert {link["state"] for link in inspected(env, name)["links"]} == {"up"}
        assert "nothing to change" in ok(env, "deploy", str(big))
        ok(env, "destroy", name, "--yes")
        assert of_lab(docker_client, name) == []
    finally:
        if deploying.poll() is None:
            deploying.kill()
            deploying.communicate()
        run_lab(env, "destroy", name, "--yes")


def test_a_name_taken_by_someone_elses_container_is_refused(
    docker_client: docker.DockerClient, env: dict[str, str], tmp_path: Path,
) -> None:
    name = f"taken{RUN}"
    theirs = docker_client.containers.run(TEST_IMAGE, ["sleep", "600"], name=f"clab-{name}-r1", detach=True,
                                          labels={TEST_LABEL: OWNER})
    try:
        path = tmp_path / "taken.clab.yml"
        path.write_text(header(name) + "  nodes:\n    r1:\n    r2:\n")
        done = run_lab(env, "deploy", str(path))
        assert done.returncode == 1 and f"a container named 'clab-{name}-r1' exists on local" in done.stderr
        theirs.reload()
        assert theirs.status == "running"  # untouched
        assert of_lab(docker_client, name) == []
    finally:
        theirs.remove(force=True)


def test_read_only_mode_refuses_a_lab_before_anything_is_made(
    docker_client: docker.DockerClient, env: dict[str, str], tmp_path: Path,
) -> None:
    name = f"ro{RUN}"
    path = tmp_path / "ro.clab.yml"
    path.write_text(header(name) + '  nodes:\n    a:\n    b:\n  links:\n    - endpoints: ["a:eth1", "b:eth1"]\n')
    refused = run_lab(env, "deploy", str(path), engines=("--no-libvirt", "--read-only"))
    assert (refused.returncode, refused.stderr.strip()) == (1, f"vtui: read-only mode: refused to deploy lab {name} "
                                                                "on local")
    assert of_lab(docker_client, name) == [] and not (Path(env["VTUI_STATE_DIR"]) / "links.json").exists()


def test_a_host_that_is_down_is_named_and_nothing_is_made(
    docker_client: docker.DockerClient, env: dict[str, str], tmp_path: Path,
) -> None:
    name = f"down{RUN}"
    path = tmp_path / "down.clab.yml"
    path.write_text(header(name) + '  nodes:\n    a:\n    b: {host: "root@127.0.0.1:1"}\n'
                    '  links:\n    - endpoints: ["a:eth1", "b:eth1"]\n')
    done = run_lab(env, "deploy", str(path))
    assert done.returncode == 1
    assert done.stderr.strip() == ("vtui: node b: docker on 127.0.0.1:1 is not reached: 127.0.0.1:1 refused the "
                                   "connection (is sshd running there?)"), done.stderr
    assert of_lab(docker_client, name) == [] and not (Path(env["VTUI_STATE_DIR"]) / "links.json").exists()


def test_unreadable_files_change_nothing(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "typo.clab.yml"
    path.write_text(f"name: typo{RUN}\ntopology:\n  nodes:\n    r1: {{kind: linux, image: x, imgae: y}}\n")
    done = run_lab(env, "deploy", str(path))
    assert done.returncode == 2 and "line 4: topology.nodes.r1.imgae: unknown key (did you mean image?)" in done.stderr
    missing = run_lab(env, "deploy", str(tmp_path / "absent.clab.yml"))
    assert missing.returncode == 2 and "absent.clab.yml: cannot read" in missing.stderr
    assert not (Path(env["VTUI_STATE_DIR"]) / "links.json").exists()
    assert vtui("lab", "graph", str(path), env=env).returncode == 2


def test_a_lab_on_two_hosts_is_linked_by_vxlan(
    ssh_lab: SshLab, h1_docker: docker.DockerClient, docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    """Node a on h2 (whose SSH sessions reach the test bed's dockerd), node b on h1 (its own dockerd):
    the link between them becomes a VXLAN tunnel over the hosts' addresses, made over SSH."""
    name = f"two{RUN}"
    hosts = tmp_path / "hosts.toml"
    hosts.write_text(f'[[host]]\ntarget = "h1"\nlibvirt = false\ndocker = "{ssh_lab.host("h1").docker_socket}"\n'
                     '[[host]]\ntarget = "h2"\nlibvirt = false\n')
    env = {"HOME": str(ssh_lab.home), "VTUI_HOSTS": str(hosts), "VTUI_STATE_DIR": str(tmp_path / "state")}
    path = tmp_path / "two.clab.yml"
    path.write_text(header(name) + """\
  nodes:
    a: {host: h2}
    b: {host: h1}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
      ipv4: [10.93.0.1/30, 10.93.0.2/30]
""")
    try:
        deployed = ok(env, "deploy", str(path))
        assert f"(container clab-{name}-b on h1," in deployed, deployed
        assert of_lab(docker_client, name) == [f"clab-{name}-a"] and of_lab(h1_docker, name) == [f"clab-{name}-b"]
        [link] = inspected(env, name)["links"]
        assert (link["kind"], link["mtu"], link["state"]) == ("vxlan", 1450, "up")
        assert pings(docker_client, f"clab-{name}-a", "10.93.0.2")
        assert pings(h1_docker, f"clab-{name}-b", "10.93.0.1")
        exported = ok(env, "export", name, "--clab", "--dir", str(tmp_path / "out"))
        assert exported.split() == ["wrote", str(tmp_path / "out" / f"{name}-h2.clab.yml"),
                                    "wrote", str(tmp_path / "out" / f"{name}-h1.clab.yml")]
        for host, node, remote, address in (("h2", "a", "10.77.0.11", "10.93.0.1/30"),
                                            ("h1", "b", "10.77.0.12", "10.93.0.2/30")):
            plain = yaml.safe_load((tmp_path / "out" / f"{name}-{host}.clab.yml").read_text())
            assert list(plain["topology"]["nodes"]) == [node] and "host" not in plain["topology"]["nodes"][node]
            [vxlan] = plain["topology"]["links"]
            assert vxlan == {"type": "vxlan", "endpoint": {"node": node, "interface": "eth1", "ipv4": address},
                             "remote": remote, "vni": int(link["id"], 16) & 0xFFFFFF, "dst-port": 14789,
                             "mtu": 1450}
        reachable = hosts.read_text()
        hosts.write_text('[[host]]\nname = "h1"\ntarget = "root@127.0.0.1:1"\nlibvirt = false\n'
                         '[[host]]\ntarget = "h2"\nlibvirt = false\n')  # h1 is down now
        partly = run_lab(env, "destroy", name, "--yes")
        assert partly.returncode == 1 and "partly destroyed: not reached" in partly.stderr, partly.stderr
        assert "(destroy again when it is back): h1: " in partly.stderr
        assert of_lab(docker_client, name) == [] and of_lab(h1_docker, name) == [f"clab-{name}-b"]
        assert inspected(env, name)["name"] == name  # its record stays: the rest is found again
        hosts.write_text(reachable)  # h1 is back
        assert f"lab {name} destroyed" in ok(env, "destroy", name, "--yes")
        assert of_lab(h1_docker, name) == [] and json.loads(ok(env, "inspect", "--json")) == []
    finally:
        run_lab(env, "destroy", name, "--yes")


async def test_a_lab_with_the_test_vm_as_a_node(
    vm_copy: Copy, libvirt_backend: LibvirtBackend, docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    """A VM that exists (kind libvirt, domain:) is a node: deploy starts it and gives it a NIC for the
    link; destroy takes the NIC away and leaves the VM, which the lab did not make."""
    dom = vm_copy("lab", start=False)
    name = f"vm{RUN}"
    env = {"VTUI_STATE_DIR": str(tmp_path / "state")}
    path = tmp_path / "vm.clab.yml"
    path.write_text(header(name) + f"""\
  nodes:
    c:
    vm: {{kind: libvirt, domain: {dom.name()}}}
  links:
    - endpoints: ["c:eth1", "vm:eth0"]
      ipv4: [10.94.1.1/24, ""]
""")
    try:
        deployed = await asyncio.to_thread(ok, env, "deploy", str(path), engines=())
        assert f"~ node vm (vm {dom.name()} on local): start it" in deployed, deployed
        assert dom.isActive() and nics(dom) == 1
        session = await libvirt_backend.open_console(await node_of(libvirt_backend, dom), FORCE)
        try:
            await prompt(session)
            await guest(session, "until ip link show eth0 >/dev/null 2>&1; do sleep 0.2; done; "
                                 "ip link set eth0 up; ip addr add 10.94.1.2/24 dev eth0")
            assert await asyncio.to_thread(pings, docker_client, f"clab-{name}-c", "10.94.1.2")
        finally:
            await session.close()
        shown = await asyncio.to_thread(inspected, env, name, ())
        assert {n["name"]: n["state"] for n in shown["nodes"]} == {"c": "running", "vm": "running"}
        assert [link["kind"] for link in shown["links"]] == ["vm"]
        await asyncio.to_thread(ok, env, "destroy", name, "--yes", engines=())
        assert of_lab(docker_client, name) == [] and nics(dom) == 0
        assert nics(dom, libvirt.VIR_DOMAIN_XML_INACTIVE) == 0 and dom.isActive()  # not the lab's to remove
    finally:
        await asyncio.to_thread(run_lab, env, "destroy", name, "--yes", engines=())


def test_a_vm_the_lab_defines_from_its_xml_is_made_linked_and_removed(
    bed_vm: str, docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    """kind libvirt with xml: the lab defines and starts the VM, and destroy removes it with the rest."""
    name, vm = f"vmx{RUN}", f"vtui-labvm-{RUN}"
    (tmp_path / "vm.xml").write_text(copy_xml(vm_template(), vm))
    env = {"VTUI_STATE_DIR": str(tmp_path / "state")}
    path = tmp_path / "vmx.clab.yml"
    path.write_text(header(name) + """\
  nodes:
    c:
    vm: {kind: libvirt, xml: vm.xml}
  links:
    - endpoints: ["c:eth1", "vm:eth0"]
""")
    conn = libvirt.open(SYSTEM_URI)
    try:
        deployed = ok(env, "deploy", str(path), engines=())
        assert f"+ node vm (vm {vm} on local, its domain XML)" in deployed, deployed
        dom = conn.lookupByName(vm)
        assert dom.isActive() and nics(dom) == 1
        shown = inspected(env, name, ())
        assert {n["name"]: n["state"] for n in shown["nodes"]}["vm"] == "running"
        [link] = shown["links"]  # in the file's names, with the VM's tap beside
        assert (link["a"]["interface"], link["b"]["interface"], link["b"]["device"]) == ("eth1", "eth0",
                                                                                         f"vt{link['id']}b")
        (tmp_path / "vm.xml").unlink()  # its XML gone: the lab's record still names the VM it made
        ok(env, "destroy", name, "--yes", engines=())
        assert vm not in [d.name() for d in conn.listAllDomains()] and of_lab(docker_client, name) == []
    finally:
        run_lab(env, "destroy", name, "--yes", engines=())
        conn.close()
