"""A lab of remote "hosts" for tests and benchmarks: network namespaces, each running a real OpenSSH sshd.

Topology (nothing is ever put in the root network namespace):

    vtui-lab     bridge br0 10.77.0.1/24; one veth end per host attached to it
    vtui-h{i}    eth0 10.77.0.{10+i}/24 (the veth's other end), its own sshd on port 22,
                 optionally its own dockerd (socket /run/vtui-lab/h{i}/docker.sock)

The client side is a home directory the lab owns (`SshLab.home`, /var/lib/vtui-lab/home) with a key
pair, a stranger key authorized nowhere, known_hosts holding every host's key and .ssh/config whose
`Host *` block reaches the hosts with `ProxyCommand ip netns exec vtui-lab busybox nc %h %p` (and an
alias, h2-via-h1, reaches h2 with `ProxyJump h1`). All paths in that config are absolute:

- asyncssh (and so vtui) reads ~/.ssh/config through $HOME: set HOME=lab.home (`lab.env()`).
- OpenSSH's ssh ignores $HOME (it takes ~ from the passwd entry): give it `-F lab.ssh_config`
  (`lab.ssh_argv()` / `lab.ssh()` do).

The relay is BusyBox's nc, not OpenBSD's: when the host's end of the TCP connection closes (its sshd
stopped), OpenBSD nc stays in CLOSE-WAIT with the client's pipe open until the client next writes, so
neither ssh nor asyncssh would see the connection end; BusyBox nc exits on the network's EOF (and on
the client's EOF only half-closes, as a proxy should). OpenBSD nc (`nc -z`) probes the sshds.

The daemons enter their host's namespace with `nsenter --net`, not `ip netns exec`: the latter also
gives them a mount namespace with a fresh /sys, without /sys/fs/cgroup, where dockerd cannot start
("Devices cgroup isn't mounted") and where vtui's remote counters would find no cgroup. So a lab
host has its own network and the machine's everything else: its filesystem, processes, cgroups, and
in an SSH session /var/run/docker.sock and libvirt's sockets are the test bed's daemons' (a lab
host's own dockerd is at `LabHost.docker_socket`).

Root only. State: pidfiles under /run/vtui-lab, keys and configs under /var/lib/vtui-lab, logs under
/var/log/vtui-lab (kept after down() for a post-mortem; cleared by the next up()). Every daemon runs
under `tini -s`, which reaps at once the processes it leaves behind (this machine's PID 1 does so late).

    .venv/bin/python -m tests.support.sshlab up 3 [--docker h1,h2 | --no-docker]
    .venv/bin/python -m tests.support.sshlab status
    .venv/bin/python -m tests.support.sshlab down
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

RUN_DIR = Path("/run/vtui-lab")
LIB_DIR = Path("/var/lib/vtui-lab")
LOG_DIR = Path("/var/log/vtui-lab")
HOME_DIR = LIB_DIR / "home"
REMOTE_HOME = LIB_DIR / "remote-home"  # HOME of the sessions on the lab hosts
AUTHORIZED_DIR = LIB_DIR / "authorized_keys"
STATE_FILE = RUN_DIR / "lab.json"
USER_MARK = LIB_DIR / "user-created"  # up() made the lab user: down() deletes it
PRIVSEP_DIR = Path("/run/sshd")  # sshd's privilege separation directory
PRIVSEP_MARK = RUN_DIR / "made-run-sshd"  # up() made it: down() removes it (if empty)
LAB_USER = "vtuilab"
TEST_IMAGE = "vtui-test/busybox:latest"
MAIN_DOCKER = "unix:///var/run/docker.sock"
IMAGE_TAR = LIB_DIR / "image.tar"  # the test image saved from the test bed's dockerd, loaded into the hosts'
MAX_HOSTS = 25
JUMPED = "h2-via-h1"  # an alias of ~/.ssh/config: h2, reached through h1 with ProxyJump
DAEMON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_NETNS = re.compile(r"^vtui-(?:lab|h\d+)$")


class LabError(RuntimeError):
    """The lab could not be built or a daemon of it did not come up; the message says where to look."""


@dataclass
class LabHost:
    name: str  # "h1"
    netns: str  # "vtui-h1"
    address: str  # "10.77.0.11"
    port: int  # 22
    docker_socket: str | None  # "/run/vtui-lab/h1/docker.sock" when it runs its own dockerd

    @property
    def index(self) -> int:
        return int(self.name[1:])

    @property
    def state_dir(self) -> Path:
        return LIB_DIR / self.name

    @property
    def run_dir(self) -> Path:
        return RUN_DIR / self.name

    @property
    def host_key(self) -> Path:
        return self.state_dir / "ssh_host_ed25519_key"

    @property
    def sshd_config(self) -> Path:
        return self.state_dir / "sshd_config"

    @property
    def sshd_pidfile(self) -> Path:
        return self.run_dir / "sshd.pid"

    @property
    def docker_pidfile(self) -> Path:
        return self.run_dir / "docker.pid"

    @property
    def docker_exec_root(self) -> Path:
        return self.run_dir / "docker-exec"

    def known_hosts_line(self) -> str:
        """The host's current key as a known_hosts line: `10.77.0.11 ssh-ed25519 AAAA…`."""
        algorithm, key = Path(f"{self.host_key}.pub").read_text().split()[:2]
        where = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{where} {algorithm} {key}"


# --- processes (by PID: pidfiles and the process tree under them) -------------------------------------

def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent PID), or None for no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in "ZX"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(root: int) -> list[int]:
    """Every process below `root`, parents before children."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            children.setdefault(stat[1], []).append(int(entry.name))
    found: list[int] = []
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop(0)
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _kill(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_gone(pids: Iterable[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if _alive(p)]
    while left:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
        left = [p for p in left if _alive(p)]
    return True


def _stop(pids: Sequence[int], timeout: float) -> None:
    """SIGTERM, then SIGKILL whatever is still there after `timeout` seconds."""
    _kill(pids, signal.SIGTERM)
    if not _wait_gone(pids, timeout):
        _kill(pids, signal.SIGKILL)
        _wait_gone(pids, 5)


def _pidfile_pid(path: Path) -> int | None:
    """The live process a lab pidfile names, if it is the lab's: its command line names a lab path
    (sshd, dockerd, containerd, shims), or, for a container's init.pid, it sits in that container's cgroup."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid <= 1 or not _alive(pid):
        return None
    if str(RUN_DIR) in _cmdline(pid) or str(LIB_DIR) in _cmdline(pid):
        return pid
    if path.name == "init.pid":
        with contextlib.suppress(OSError):
            if path.parent.name in Path(f"/proc/{pid}/cgroup").read_text():
                return pid
    return None


def _kill_tree_now(root: int) -> None:
    """Freeze `root` and everything below it, then SIGKILL them all (so connections drop at once)."""
    frozen: set[int] = set()
    todo = [root]
    while todo:  # stop the tree from the top down until nothing new appears (no fork slips through)
        _kill(todo, signal.SIGSTOP)
        frozen.update(todo)
        todo = [p for p in _descendants(root) if p not in frozen]
    below = [p for p in frozen if p != root]
    _kill(below, signal.SIGKILL)
    _wait_gone(below, 5)  # the listener (SIGKILLed next) and tini reap them
    _kill([root], signal.SIGKILL)
    _wait_gone([root], 5)


# --- commands ---------------------------------------------------------------------------------------

def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise LabError(f"{name} is missing (scripts/testbed.sh up installs what the lab needs)")
    return found


def _run(*cmd: str, stdin: str | None = None, timeout: float = 60) -> str:
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise LabError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _run_all(cmds: Sequence[Sequence[str]], timeout: float = 60) -> None:
    """Run the commands side by side; raise for the first that failed."""
    procs = [subprocess.Popen(c, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for c in cmds]
    errors = []
    for cmd, proc in zip(cmds, procs, strict=True):
        _, err = proc.communicate(timeout=timeout)
        if proc.returncode:
            errors.append(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()}")
    if errors:
        raise LabError("; ".join(errors))


def _log(host: LabHost, daemon: str) -> Path:
    return LOG_DIR / f"{host.name}-{daemon}.log"


def _keygen_cmd(path: Path, comment: str) -> list[str]:
    return [_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]


def _lab_netns_names() -> list[str]:
    out = subprocess.run([_tool("ip"), "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    return [line.split()[0] for line in out.splitlines() if line.split() and _NETNS.match(line.split()[0])]


def _user_exists(user: str) -> bool:
    return subprocess.run(["id", "-u", user], capture_output=True, timeout=10).returncode == 0


# --- the lab ----------------------------------------------------------------------------------------

class SshLab:
    LAB_NETNS = "vtui-lab"
    SUBNET = "10.77.0.0/24"
    BRIDGE_ADDRESS = "10.77.0.1/24"

    def __init__(self, count: int, docker_hosts: Sequence[str] = ("h1",)) -> None:
        if not 0 <= count <= MAX_HOSTS:
            raise ValueError(f"the lab has up to {MAX_HOSTS} hosts, not {count}")
        names = [f"h{i}" for i in range(1, count + 1)]
        unknown = [n for n in docker_hosts if n not in names]
        if unknown and count:
            raise ValueError(f"docker_hosts names hosts the lab does not have: {unknown}")
        self.home = HOME_DIR
        self.hosts = [
            LabHost(name, f"vtui-{name}", f"10.77.0.{10 + i}", 22,
                    str(RUN_DIR / name / "docker.sock") if name in docker_hosts else None)
            for i, name in enumerate(names, 1)
        ]
        self._procs: dict[str, subprocess.Popen[bytes]] = {}  # "h1/sshd" -> its tini, while this process runs it

    # -- client side

    @property
    def ssh_config(self) -> Path:
        return self.home / ".ssh" / "config"

    @property
    def client_key(self) -> Path:
        return self.home / ".ssh" / "id_ed25519"

    @property
    def stranger_key(self) -> Path:
        return self.home / ".ssh" / "stranger_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.home / ".ssh" / "known_hosts"

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home)}

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"the lab has no host {name!r}")

    @property
    def proxy_command(self) -> str:
        """The ProxyCommand of the lab's ssh config (%h %p: the host's address and port)."""
        return f"{_tool('ip')} netns exec {self.LAB_NETNS} {_tool('busybox')} nc %h %p"

    def ssh_argv(self, target: str, *cmd: str) -> list[str]:
        """OpenSSH's ssh to `target` (h1, root@h2, vtuilab@10.77.0.13…) with the lab's config, never prompting."""
        return [_tool("ssh"), "-F", str(self.ssh_config), "-o", "BatchMode=yes", target, *cmd]

    def ssh(self, target: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.ssh_argv(target, *cmd), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def lab_run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        """Run a command inside the vtui-lab namespace (where the hosts' addresses are reachable)."""
        return subprocess.run([_tool("ip"), "netns", "exec", self.LAB_NETNS, *cmd],
                              capture_output=True, text=True, timeout=60)

    # -- up and down

    def up(self) -> None:
        """Build the lab; first removes what a crashed earlier run left. On failure, tears down what it made."""
        if os.geteuid() != 0:
            raise LabError("the SSH lab needs root (network namespaces, sshd, dockerd)")
        if not self.hosts:
            raise LabError("a lab of no host")
        tools = ["ip", "nc", "busybox", "nsenter", "sshd", "ssh", "ssh-keygen", "tini"]
        for tool in tools + (["dockerd", "docker"] if self._docker else []):
            _tool(tool)
        self._cleanup()
        try:
            self._up()
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        """Stop every daemon of the lab (by pidfile), delete its namespaces, its user (if up() made it) and
        its directories. Works from what is on disk, so also for a lab another process started."""
        self._cleanup()

    @property
    def _docker(self) -> list[LabHost]:
        return [h for h in self.hosts if h.docker_socket]

    def _up(self) -> None:
        for path in (RUN_DIR, LIB_DIR, LOG_DIR, AUTHORIZED_DIR):
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
            path.chmod(0o755)
        for old in LOG_DIR.glob("h*-*.log"):
            old.unlink()
        if not PRIVSEP_DIR.exists():
            PRIVSEP_DIR.mkdir(mode=0o755)
            PRIVSEP_MARK.touch()
        for host in self.hosts:
            host.state_dir.mkdir(mode=0o755)
            host.run_dir.mkdir(mode=0o755)
        STATE_FILE.write_text(json.dumps({"count": len(self.hosts), "docker_hosts": [h.name for h in self._docker],
                                          "home": str(self.home)}))
        image = self._start_image_save()
        self._make_network()
        self._make_keys()
        for host in self._docker:
            self._start_dockerd(host)
        for host in self.hosts:
            self._write_sshd_config(host)
            self._spawn_sshd(host)
        self._ensure_user()
        self._write_client_config()
        self._wait_sshd(self.hosts)
        if self._docker:
            self._finish_image_save(image)
            for host in self._docker:
                self._wait_dockerd(host)
            _run_all([[_tool("docker"), "-H", f"unix://{h.docker_socket}", "load", "-q", "-i", str(IMAGE_TAR)]
                      for h in self._docker], timeout=120)
            IMAGE_TAR.unlink()

    def _make_network(self) -> None:
        ip = _tool("ip")
        names = [self.LAB_NETNS, *(h.netns for h in self.hosts)]
        _run(ip, "-batch", "-", stdin="".join(f"netns add {n}\n" for n in names))
        lab = [f"link add br0 type bridge\naddr add {self.BRIDGE_ADDRESS} dev br0\nlink set br0 up\nlink set lo up\n"]
        lab += [f"link add v{h.name} type veth peer name eth0 netns {h.netns}\nlink set v{h.name} master br0 up\n"
                for h in self.hosts]
        _run(ip, "-n", self.LAB_NETNS, "-batch", "-", stdin="".join(lab))
        procs = []
        for h in self.hosts:
            proc = subprocess.Popen([ip, "-n", h.netns, "-batch", "-"], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            procs.append((h, proc))
        for h, proc in procs:
            batch = f"addr add {h.address}/24 dev eth0\nlink set eth0 up\nlink set lo up\n"
            _, err = proc.communicate(batch, timeout=30)
            if proc.returncode:
                raise LabError(f"configuring {h.netns} failed: {err.strip()}")

    def _make_keys(self) -> None:
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(mode=0o700, parents=True)
        self.home.chmod(0o700)
        _run_all([_keygen_cmd(self.client_key, "vtui-lab-client"), _keygen_cmd(self.stranger_key, "vtui-lab-stranger"),
                  *(_keygen_cmd(h.host_key, f"vtui-lab-{h.name}") for h in self.hosts)])
        public = Path(f"{self.client_key}.pub").read_text()
        for user in ("root", LAB_USER):
            (AUTHORIZED_DIR / user).write_text(public)
            (AUTHORIZED_DIR / user).chmod(0o644)

    def _ensure_user(self) -> None:
        if _user_exists(LAB_USER):
            return
        USER_MARK.touch()
        # -p '*': no password, yet not locked ('!'), which sshd without PAM refuses even for a key
        _run("useradd", "--system", "--no-create-home", "--shell", "/bin/sh", "-p", "*", LAB_USER)

    def _write_sshd_config(self, host: LabHost) -> None:
        REMOTE_HOME.mkdir(mode=0o755, parents=True, exist_ok=True)
        host.sshd_config.write_text(
            f"""# vtui SSH lab: {host.name} in netns {host.netns}
Port {host.port}
ListenAddress {host.address}
HostKey {host.host_key}
PidFile {host.sshd_pidfile}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AuthorizedKeysFile {AUTHORIZED_DIR}/%u
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
MaxSessions 32
MaxStartups 100
LogLevel VERBOSE
UseDNS no
PrintMotd no
PrintLastLog no
Subsystem sftp internal-sftp
# a home of the lab's own: the machine's root dotfiles (e.g. a pyenv init whose rehash lock a killed
# session leaves behind, stalling every later command for a minute) stay out of the lab's sessions
SetEnv HOME={REMOTE_HOME}
""")

    def _spawn(self, key: str, netns: str, cmd: Sequence[str], log: Path) -> None:
        with log.open("ab") as out:
            self._procs[key] = subprocess.Popen(
                [_tool("nsenter"), f"--net=/run/netns/{netns}", "--", _tool("tini"), "-s", "--", *cmd],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                env={"PATH": DAEMON_PATH, "LANG": "C.UTF-8"})

    def _spawn_sshd(self, host: LabHost) -> None:
        host.sshd_pidfile.unlink(missing_ok=True)
        log = _log(host, "sshd")
        self._spawn(f"{host.name}/sshd", host.netns,
                    [_tool("sshd"), "-D", "-e", "-f", str(host.sshd_config), "-E", str(log)], log)

    def _wait_sshd(self, hosts: Sequence[LabHost], timeout: float = 15) -> None:
        """Until every sshd wrote its pidfile (it does so once listening) and accepts through the lab bridge."""
        deadline = time.monotonic() + timeout
        waiting = list(hosts)
        while waiting:
            for host in waiting:
                proc = self._procs.get(f"{host.name}/sshd")
                if proc is not None and proc.poll() is not None:
                    raise LabError(f"sshd of {host.name} exited ({proc.returncode}); see {_log(host, 'sshd')}")
            waiting = [h for h in waiting if _pidfile_pid(h.sshd_pidfile) is None]
            if waiting and time.monotonic() > deadline:
                raise LabError(f"sshd of {waiting[0].name} did not start; see {_log(waiting[0], 'sshd')}")
            if waiting:
                time.sleep(0.01)
        nc = _tool("nc")
        waiting = list(hosts)
        while True:
            failed = [h for h in waiting if self.lab_run(nc, "-z", "-w1", h.address, str(h.port)).returncode]
            if not failed:
                return
            if time.monotonic() > deadline:
                raise LabError(f"sshd of {failed[0].name} does not accept on {failed[0].address}:{failed[0].port}")
            waiting = failed
            time.sleep(0.05)

    def _start_dockerd(self, host: LabHost) -> None:
        assert host.docker_socket
        log = _log(host, "dockerd")
        self._spawn(f"{host.name}/dockerd", host.netns, [
            _tool("dockerd"), "--data-root", str(host.state_dir / "docker"), "--exec-root", str(host.docker_exec_root),
            "--pidfile", str(host.docker_pidfile), "-H", f"unix://{host.docker_socket}",
            "--bip", f"10.78.{host.index}.1/24", "--log-level", "warn"], log)

    def _wait_dockerd(self, host: LabHost, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        proc = self._procs[f"{host.name}/dockerd"]
        while True:
            if proc.poll() is not None:
                raise LabError(f"dockerd of {host.name} exited ({proc.returncode}); see {_log(host, 'dockerd')}")
            if host.docker_socket and Path(host.docker_socket).exists():
                probe = subprocess.run([_tool("docker"), "-H", f"unix://{host.docker_socket}", "info", "--format",
                                        "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30)
                if probe.returncode == 0:
                    return
            if time.monotonic() > deadline:
                raise LabError(f"dockerd of {host.name} did not answer; see {_log(host, 'dockerd')}")
            time.sleep(0.05)

    def _start_image_save(self) -> subprocess.Popen[str] | None:
        if not self._docker:
            return None
        return subprocess.Popen([_tool("docker"), "-H", MAIN_DOCKER, "save", "-o", str(IMAGE_TAR), TEST_IMAGE],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def _finish_image_save(proc: subprocess.Popen[str] | None) -> None:
        if proc is None:
            return
        _, err = proc.communicate(timeout=120)
        if proc.returncode:
            raise LabError(f"docker save {TEST_IMAGE} from the test bed's dockerd failed: {err.strip()} "
                           "(scripts/testbed.sh up builds it)")

    def _write_client_config(self) -> None:
        blocks = [f"Host {h.name}\n    HostName {h.address}\n    User root\n" for h in self.hosts]
        blocks.append("Host 10.77.0.*\n    User root\n")
        if len(self.hosts) > 1:  # h2 reached through h1 (ProxyJump comes first, so Host *'s ProxyCommand is unused)
            blocks.append(f"Host {JUMPED}\n    HostName {self.hosts[1].address}\n    User root\n    ProxyJump h1\n")
        blocks.append(
            f"Host *\n    ProxyCommand {self.proxy_command}\n"
            f"    IdentityFile {self.client_key}\n    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {self.known_hosts}\n    StrictHostKeyChecking yes\n")
        self.ssh_config.write_text(
            f"# vtui SSH lab (tests/support/sshlab.py). asyncssh/vtui: HOME={self.home}. "
            f"OpenSSH: ssh -F {self.ssh_config}\n\n"
            + "\n".join(blocks))
        self.ssh_config.chmod(0o600)
        self.write_known_hosts()

    def write_known_hosts(self) -> None:
        """known_hosts with every host's current key (after rekey(), to trust the new key)."""
        self.known_hosts.write_text("".join(h.known_hosts_line() + "\n" for h in self.hosts))
        self.known_hosts.chmod(0o600)

    # -- sshd on one host

    def stop_sshd(self, name: str) -> None:
        """Kill that host's listening sshd and every process below it (its connections, their sessions) at once."""
        host = self.host(name)
        pid = _pidfile_pid(host.sshd_pidfile)
        if pid is not None:
            _kill_tree_now(pid)
        host.sshd_pidfile.unlink(missing_ok=True)
        self._reap(f"{name}/sshd")

    def start_sshd(self, name: str) -> None:
        host = self.host(name)
        if _pidfile_pid(host.sshd_pidfile) is not None:
            return
        self._reap(f"{name}/sshd")
        self._spawn_sshd(host)
        self._wait_sshd([host])

    def rekey(self, name: str) -> None:
        """A new host key for that host and its sshd restarted; known_hosts is left as it was (a changed key)."""
        host = self.host(name)
        self.stop_sshd(name)
        host.host_key.unlink(missing_ok=True)
        Path(f"{host.host_key}.pub").unlink(missing_ok=True)
        _run(*_keygen_cmd(host.host_key, f"vtui-lab-{name}"))
        self.start_sshd(name)

    def _reap(self, key: str) -> None:
        proc = self._procs.pop(key, None)
        if proc is None:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    # -- teardown from what is on disk

    def _cleanup(self) -> None:
        if RUN_DIR.exists():
            self._stop_daemons()
        for key in list(self._procs):
            self._reap(key)
        self._stop_namespace_stragglers()
        self._unmount_leftovers()
        names = _lab_netns_names()
        if names:
            _run(_tool("ip"), "-batch", "-", stdin="".join(f"netns del {n}\n" for n in names))
        if USER_MARK.exists() and _user_exists(LAB_USER):
            _run("userdel", LAB_USER)
        if PRIVSEP_MARK.exists():
            with contextlib.suppress(OSError):
                PRIVSEP_DIR.rmdir()
        for path in (RUN_DIR, LIB_DIR):
            shutil.rmtree(path, ignore_errors=True)
            if path.exists():
                raise LabError(f"could not remove {path}")

    @staticmethod
    def _stop_daemons() -> None:
        def pids(pattern: str) -> list[int]:
            found = (_pidfile_pid(p) for p in sorted(RUN_DIR.glob(pattern)))
            return [p for p in found if p is not None]

        def kill_containers() -> None:
            # no grace: dockerd would give each container 10 s to heed SIGTERM, which a PID 1 often ignores
            inits = pids("**/init.pid")
            _kill(inits, signal.SIGKILL)
            _wait_gone(inits, 5)

        # a container's shim has no pidfile: it is the parent of the container's init
        shims = {stat[1] for pid in pids("**/init.pid") if (stat := _stat(pid))}
        shims = {pid for pid in shims if str(RUN_DIR) in _cmdline(pid)}
        kill_containers()
        dockerds = pids("h*/docker.pid")  # it stops its containerd and the shims; a restarted container dies again
        _kill(dockerds, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in dockerds) and time.monotonic() < deadline:
            kill_containers()
            time.sleep(0.05)
        _stop(dockerds, 0)
        kill_containers()  # what a dockerd that had crashed left running
        _stop([p for p in shims if _alive(p)], 5)
        _stop(pids("**/containerd.pid"), 10)
        for pid in pids("h*/sshd.pid"):
            _kill_tree_now(pid)
        _stop(pids("**/*.pid"), 5)

    def _stop_namespace_stragglers(self) -> None:
        """Processes still inside a lab namespace once its daemons are gone: on a host, one a test started
        over SSH that left the session (setsid, nohup); in vtui-lab, a client's relay (ProxyCommand), which
        ends by itself once its host's end closed. Only the lab put them there."""
        def inside(name: str) -> list[int]:
            out = subprocess.run([_tool("ip"), "netns", "pids", name], capture_output=True, text=True,
                                 timeout=30).stdout
            return [int(p) for p in out.split() if p.isdigit() and int(p) != os.getpid()]

        deadline = time.monotonic() + 2
        for name in sorted(_lab_netns_names(), key=lambda n: n == self.LAB_NETNS):  # the relays last
            left = inside(name)
            while left and name == self.LAB_NETNS and time.monotonic() < deadline:
                time.sleep(0.05)
                left = inside(name)
            if left:
                print(f"sshlab: stopping {len(left)} process(es) left in {name}: {left}", file=sys.stderr)
                _stop(left, 5)

    @staticmethod
    def _unmount_leftovers() -> None:
        """Mounts a lab dockerd left under the lab's directories (it had no time to undo them)."""
        points = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith((f"{RUN_DIR}/", f"{LIB_DIR}/")):
                points.append(point)
        for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)

    # -- status

    def status(self) -> str:
        if not STATE_FILE.exists():
            return "no SSH lab is up"
        state = json.loads(STATE_FILE.read_text())
        lab = SshLab(int(state["count"]), state["docker_hosts"])
        lines = [f"export HOME={lab.home}    # asyncssh / vtui", f"ssh -F {lab.ssh_config} h1    # OpenSSH", ""]
        for h in lab.hosts:
            sshd = _pidfile_pid(h.sshd_pidfile)
            line = f"{h.name:4} {h.address:12} netns {h.netns:8} sshd " + (f"pid {sshd}" if sshd else "DOWN")
            if h.docker_socket:
                docker = _pidfile_pid(h.docker_pidfile)
                line += f"  dockerd {h.docker_socket} " + (f"pid {docker}" if docker else "DOWN")
            lines.append(line)
        return "\n".join(lines)


_session_lab: SshLab | None = None
_session_users = 0


@pytest.fixture(scope="session")
def ssh_lab() -> Iterator[SshLab]:
    """Three lab hosts (h1 with its own dockerd and the test image), torn down at the end of the session.

    Each test module that imports this fixture gets a fixture definition of its own, so pytest would
    set it up once per module; they share one lab here, and the last teardown takes it down."""
    global _session_lab, _session_users
    if _session_lab is None:
        lab = SshLab(3, docker_hosts=("h1",))
        try:
            lab.up()
        except (LabError, OSError, subprocess.SubprocessError) as err:
            pytest.fail(f"the SSH lab could not be built: {err}")
        _session_lab = lab
    _session_users += 1
    try:
        yield _session_lab
    finally:
        _session_users -= 1
        if not _session_users:
            _session_lab.down()
            _session_lab = None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.sshlab", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build a lab (tearing down any earlier one)")
    up.add_argument("count", type=int, nargs="?", default=3)
    up.add_argument("--docker", default="h1", help="comma-separated hosts with their own dockerd (default h1)")
    up.add_argument("--no-docker", action="store_true")
    sub.add_parser("down", help="tear the lab down")
    sub.add_parser("status", help="what runs, and the HOME to export")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            docker_hosts = () if args.no_docker else tuple(n for n in args.docker.split(",") if n)
            lab = SshLab(args.count, docker_hosts)
            start = time.monotonic()
            lab.up()
            print(f"lab up in {time.monotonic() - start:.1f} s\n{lab.status()}")
        elif args.command == "down":
            start = time.monotonic()
            SshLab(0).down()
            print(f"lab down in {time.monotonic() - start:.1f} s")
        else:
            print(SshLab(0).status())
    except LabError as err:
        print(f"sshlab: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
