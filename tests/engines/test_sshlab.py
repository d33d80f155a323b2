"""The SSH lab itself (tests/support/sshlab.py): its hosts answer over SSH from their own namespaces, h1 runs a
dockerd of its own, and the failures other tests rely on happen as they should.

Each test leaves the lab as it found it: a stopped sshd is started again, a rekeyed host is trusted
again (known_hosts rewritten with the new key), so the session's one lab serves every module."""

from __future__ import annotations

import subprocess
import time

import asyncssh
import pytest

from tests.support.sshlab import LAB_USER, TEST_IMAGE, SshLab, ssh_lab  # noqa: F401


def test_every_host_answers_over_openssh_from_its_own_namespace(ssh_lab: SshLab) -> None:
    for host in ssh_lab.hosts:
        done = ssh_lab.ssh(host.name, "ip -o -4 addr show eth0; ip -o link show | wc -l")
        assert done.returncode == 0, done.stderr
        assert f"inet {host.address}/24" in done.stdout
        assert host.docker_socket or int(done.stdout.split()[-1]) == 2  # lo and eth0: not the machine's links


def test_hosts_answer_by_address_and_as_the_unprivileged_user(ssh_lab: SshLab) -> None:
    host = ssh_lab.host("h2")
    done = ssh_lab.ssh(f"{LAB_USER}@{host.address}", "id -un")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == LAB_USER


def test_known_hosts_holds_every_host_key(ssh_lab: SshLab) -> None:
    lines = ssh_lab.known_hosts.read_text().splitlines()
    assert lines == [h.known_hosts_line() for h in ssh_lab.hosts]
    assert all(line.startswith(f"{h.address} ssh-ed25519 AAAA") for line, h in zip(lines, ssh_lab.hosts, strict=True))


def test_h1_runs_its_own_dockerd_with_the_test_image(ssh_lab: SshLab) -> None:
    h1 = ssh_lab.host("h1")
    assert h1.docker_socket and ssh_lab.host("h2").docker_socket is None
    images = subprocess.run(["docker", "-H", f"unix://{h1.docker_socket}", "images", "--format",
                             "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True, timeout=30)
    assert images.returncode == 0, images.stderr
    assert TEST_IMAGE in images.stdout.split()
    # and from h1 itself, over SSH: its dockerd's bridge is in h1's namespace
    done = ssh_lab.ssh("h1", "ip -o -4 addr show docker0")
    assert "inet 10.78.1.1/24" in done.stdout, done.stderr


async def test_asyncssh_needs_only_home(ssh_lab: SshLab, monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncssh (so vtui) finds the config, key and known_hosts through $HOME; the ProxyCommand works."""
    monkeypatch.setenv("HOME", str(ssh_lab.home))
    async with asyncssh.connect("h3", connect_timeout=10) as conn:
        done = await conn.run("ip -o -4 addr show eth0", check=True, timeout=10)
    assert f"inet {ssh_lab.host('h3').address}/24" in str(done.stdout)


def test_a_stopped_sshd_drops_its_connections_and_refuses_until_started(ssh_lab: SshLab) -> None:
    session = subprocess.Popen(ssh_lab.ssh_argv("h2", "echo ready; sleep 60"), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert session.stdout is not None and session.stdout.readline().strip() == "ready"
        ssh_lab.stop_sshd("h2")
        stopped = time.monotonic()
        assert session.wait(timeout=5) == 255
        assert time.monotonic() - stopped < 2, "the established connection should end at once"
        refused = ssh_lab.ssh("h2", "true")
        assert refused.returncode == 255
        assert "Connection refused" in refused.stderr
    finally:
        session.kill()
        session.communicate()
        ssh_lab.start_sshd("h2")
    done = ssh_lab.ssh("h2", "echo back")
    assert done.stdout.strip() == "back", done.stderr


def test_the_stranger_key_is_refused(ssh_lab: SshLab) -> None:
    host = ssh_lab.host("h1")
    # no config file: the lab's names the authorized key, which ssh would offer besides -i
    argv = ["ssh", "-F", "none", "-o", "BatchMode=yes", "-o", f"ProxyCommand={ssh_lab.proxy_command}",
            "-o", f"UserKnownHostsFile={ssh_lab.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-i", str(ssh_lab.stranger_key), f"root@{host.address}", "true"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 255
    assert "Permission denied (publickey)" in done.stderr


def test_a_rekeyed_host_fails_host_key_verification(ssh_lab: SshLab) -> None:
    host = ssh_lab.host("h3")
    before = host.known_hosts_line()
    try:
        ssh_lab.rekey("h3")
        assert host.known_hosts_line() != before
        done = ssh_lab.ssh("h3", "true")
        assert done.returncode == 255
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in done.stderr
        assert "Host key verification failed" in done.stderr
    finally:
        ssh_lab.write_known_hosts()  # trust the new key: the lab is whole again for the tests after this one
    done = ssh_lab.ssh("h3", "true")
    assert done.returncode == 0, done.stderr
