"""Logs of containers and VMs, from the real engines; `docker logs`, `tail` and the files are the referees."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import docker
import libvirt
import pytest
from docker.types import LogConfig
from textual.app import App
from textual.widgets import Log

from tests.conftest import SYSTEM_URI, TEST_IMAGE, TEST_LABELS, TEST_VM, Containers, TestContainer, a_run_of, wait_for
from vtui.backends.base import LineSplitter
from vtui.backends.docker import DockerBackend
from vtui.backends.docker_logs import LOGS_THREAD
from vtui.backends.libvirt import LibvirtBackend
from vtui.backends.libvirt_logs import SYSTEM_LOG_DIR, LogFile
from vtui.cli.logs import print_logs
from vtui.cli.parser import tail_arg
from vtui.errors import LogsUnavailable
from vtui.model import Node
from vtui.model.refs import NodeRef
from vtui.screens.logs import LogsScreen, plain

SOCKET = "unix:///var/run/docker.sock"


def log_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == LOGS_THREAD]


def wait_until_logged(container: TestContainer, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in container.handle.logs().decode():
        assert time.monotonic() < deadline, f"{text!r} not logged within {timeout} s"
        time.sleep(0.05)


@pytest.fixture
async def docker_backend(docker_client: docker.DockerClient) -> AsyncIterator[DockerBackend]:
    backend = DockerBackend("local", SOCKET)
    await backend.connect()
    yield backend
    await backend.close()
    assert not log_threads(), "a log stream outlived its test"


async def node_named(backend: DockerBackend | LibvirtBackend, name: str) -> Node:
    return next(n for n in await backend.list_nodes() if n.name == name)


async def run(*cmd: str) -> tuple[str, str]:
    """A referee command's stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    return out.decode(), err.decode()


async def collect(lines: AsyncIterator[str], until: str, timeout: float = 10.0) -> list[str]:
    """Lines up to and including the first that contains `until`."""
    seen: list[str] = []
    async with asyncio.timeout(timeout):
        async for line in lines:
            seen.append(line)
            if until in line:
                return seen
    raise AssertionError(f"the log ended before {until!r}: {seen[-5:]}")


# --- the line splitter (no engine) ---------------------------------------------------------------

def test_lines_are_joined_across_chunks_and_decoded() -> None:
    splitter = LineSplitter()
    e_acute = "é".encode()
    assert splitter.feed(b"one\r\ntw") == ["one"]
    assert splitter.feed(b"o " + e_acute[:1]) == []
    assert splitter.feed(e_acute[1:] + b"\n\xff bad\nrest") == ["two é", "\ufffd bad"]
    assert splitter.flush() == ["rest"]
    assert splitter.flush() == []


def test_tail_argument() -> None:
    assert tail_arg("5") == 5 and tail_arg("0") == 0 and tail_arg("all") is None
    with pytest.raises(Exception, match="a number of lines or 'all'"):
        tail_arg("-1")


# --- docker --------------------------------------------------------------------------------------

async def test_tail_gives_the_last_lines_of_stdout_and_stderr(
    containers: Containers, docker_backend: DockerBackend
) -> None:
    web = containers.run("for i in $(seq 1 50); do echo line$i; done; sleep 0.3; echo oops >&2; sleep 3600")
    wait_until_logged(web, "oops")
    node = await node_named(docker_backend, web.name)
    last = [line async for line in docker_backend.logs(node, tail=5)]
    assert last == ["line47", "line48", "line49", "line50", "oops"]
    stdout, stderr = await run("docker", "logs", "--tail", "5", web.name)
    assert stdout.splitlines() == last[:4] and stderr.splitlines() == ["oops"]
    everything = [line async for line in docker_backend.logs(node, tail=None)]
    assert everything == [f"line{i}" for i in range(1, 51)] + ["oops"]
    assert [line async for line in docker_backend.logs(node, tail=0)] == []


AFTER_GO = "while [ ! -e /tmp/go ]; do sleep 0.05; done"  # a container's next line waits for go()


def go(container: TestContainer) -> None:
    container.handle.exec_run(["touch", "/tmp/go"])


async def test_follow_sees_a_line_written_after_it_began(containers: Containers, docker_backend: DockerBackend) -> None:
    web = containers.run(f"echo first; {AFTER_GO}; echo second; sleep 30")
    node = await node_named(docker_backend, web.name)
    lines = docker_backend.logs(node, follow=True)
    assert await collect(lines, "first") == ["first"]
    go(web)  # "second" is written only now, after "first" was read
    assert await collect(lines, "second") == ["second"]
    assert len(log_threads()) == 1
    await lines.aclose()
    assert not log_threads()


async def test_following_a_container_that_stops_ends_with_it(
    containers: Containers, docker_backend: DockerBackend
) -> None:
    web = containers.run("echo bye; sleep 1")
    node = await node_named(docker_backend, web.name)
    async with asyncio.timeout(10):
        assert [line async for line in docker_backend.logs(node, follow=True)] == ["bye"]


async def test_cancelling_a_reader_that_waits_stops_the_thread(
    containers: Containers, docker_backend: DockerBackend
) -> None:
    quiet = containers.run("sleep 3600")
    node = await node_named(docker_backend, quiet.name)
    lines = docker_backend.logs(node, follow=True)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(lines), 0.5)  # waiting for a line that never comes; then cancelled
    assert not log_threads()
    await lines.aclose()


async def test_tty_and_long_lines(
    containers: Containers, docker_client: docker.DockerClient, docker_backend: DockerBackend
) -> None:
    script = "printf 'in '; sleep 0.3; printf 'two\\n'; echo '[bold]x[/]'; sleep 3600"
    tty = docker_client.containers.run(TEST_IMAGE, ["sh", "-c", script], tty=True, detach=True,
                                       labels=TEST_LABELS)
    containers.made.append(tty)
    long = containers.run("head -c 40000 /dev/zero | tr '\\0' x; echo; echo end; sleep 3600")
    wait_until_logged(long, "end")
    node = await node_named(docker_backend, long.name)
    assert [len(line) for line in [line async for line in docker_backend.logs(node)]] == [40000, 3]
    node = await node_named(docker_backend, str(tty.name))
    async with asyncio.timeout(10):
        lines = docker_backend.logs(node, follow=True)
        assert await collect(lines, "[/]") == ["in two", "[bold]x[/]"]  # CRLF of the TTY dropped
        await lines.aclose()


async def test_a_removed_container_has_no_log(containers: Containers, docker_backend: DockerBackend) -> None:
    gone = containers.run()
    node = await node_named(docker_backend, gone.name)
    gone.remove()
    with pytest.raises(LogsUnavailable, match=f"no container '{gone.name}' on local"):
        _ = [line async for line in docker_backend.logs(node)]


# --- libvirt -------------------------------------------------------------------------------------

async def test_the_vm_log_shows_the_start_and_matches_the_file(
    test_vm: libvirt.virDomain, libvirt_backend: LibvirtBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = await node_named(libvirt_backend, TEST_VM)
    path = SYSTEM_LOG_DIR / f"{TEST_VM}.log"
    assert libvirt_backend.log_path(node) == path
    if not path.exists():  # this run's VM has not run yet: libvirt writes the log at its first start
        test_vm.create()
        test_vm.destroy()
    tailed = threading.Event()
    tail = LogFile.tail

    def tail_and_tell(log: LogFile, count: int | None, final: bool) -> list[str]:
        try:
            return tail(log, count, final)
        finally:
            tailed.set()

    monkeypatch.setattr(LogFile, "tail", tail_and_tell)
    lines = libvirt_backend.logs(node, tail=0, follow=True)
    started = asyncio.create_task(collect(lines, "starting up libvirt version"))
    assert await asyncio.to_thread(tailed.wait, 10)  # from here on it polls the end of the file
    test_vm.create()
    assert "starting up libvirt version" in (await started)[-1]  # a new line: it followed from the end
    test_vm.destroy()
    await collect(lines, "shutting down, reason=destroyed")
    await lines.aclose()
    read = [line async for line in libvirt_backend.logs(node, tail=5)]
    whole = path.read_text().splitlines()  # read after: qemu's own last words may land after libvirt's
    assert len(read) == 5 and a_run_of(read, whole), (read, whole[-7:])


@pytest.fixture
def odd_vm(copied_vm: Callable[[str], str]) -> str:
    """A copy of the test VM under a name a shell would interpret."""
    return copied_vm("it's a $(vm) too")


async def test_the_log_file_of_an_odd_name_is_the_name_verbatim(
    odd_vm: str, libvirt_backend: LibvirtBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    conn = libvirt.open(SYSTEM_URI)
    conn.lookupByName(odd_vm).create()
    conn.close()
    node = await node_named(libvirt_backend, odd_vm)
    assert libvirt_backend.log_path(node) == Path(f"/var/log/libvirt/qemu/{odd_vm}.log")
    assert f"{odd_vm}.log" in os.listdir(SYSTEM_LOG_DIR)  # libvirt does not escape it
    lines = [line async for line in libvirt_backend.logs(node, tail=200)]
    assert any("starting up libvirt version" in line for line in lines)
    quoted = odd_vm.replace("'", "'\\''")  # as QEMU's command line is logged: shell-quoted
    assert any(f"-name 'guest={quoted},debug-threads=on'" in line for line in lines)
    assert os.listdir(tmp_path) == []


async def test_remote_and_other_drivers_say_why_there_is_no_log(libvirt_backend: LibvirtBackend) -> None:
    node = await node_named(libvirt_backend, TEST_VM)
    far = LibvirtBackend("far", "qemu+ssh://root@far.example/system")
    with pytest.raises(LogsUnavailable, match=r"file on far\.example .*only on the host itself"):
        _ = [line async for line in far.logs(node)]
    with pytest.raises(LogsUnavailable, match="libvirt's 'test' driver keeps none"):
        _ = [line async for line in LibvirtBackend("demo", "test:///default").logs(node)]
    assert LibvirtBackend("local", "qemu+unix:///system").log_path(node) == SYSTEM_LOG_DIR / f"{TEST_VM}.log"


def test_a_followed_file_survives_rotation_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "vm.log"
    path.write_bytes(b"".join(b"old %d\n" % i for i in range(1000)) + b"half")
    log = LogFile(path)
    log.open("vm")
    assert log.tail(2, final=False) == ["old 998", "old 999"]  # the unfinished line waits
    with path.open("ab") as f:
        f.write(b" done\nnext\n")
    assert log.read_new() == ["half done", "next"]
    assert log.read_new() == []
    path.rename(tmp_path / "vm.log.0")  # virtlogd's rotation: the rest of the old file, then the new one
    with (tmp_path / "vm.log.0").open("ab") as f:
        f.write(b"last of old\n")
    assert log.read_new() == ["last of old"]
    path.write_bytes(b"new 1\nnew 2\n")
    assert log.read_new() == ["new 1", "new 2"]
    path.write_bytes(b"again\n")  # truncated and rewritten
    assert log.read_new() == ["again"]
    log.close()
    log = LogFile(path)
    log.open("vm")
    assert log.tail(None, final=True) == ["again"]
    log.close()
    with pytest.raises(LogsUnavailable, match="has no log at"):
        LogFile(tmp_path / "none.log").open("none")


# --- the CLI function ----------------------------------------------------------------------------

async def test_print_logs(containers: Containers, test_vm: libvirt.virDomain) -> None:
    web = containers.run("echo hello; echo world >&2; sleep 3600")
    wait_until_logged(web, "world")
    backends = [DockerBackend("local", SOCKET), LibvirtBackend("local", SYSTEM_URI)]
    out, err = io.StringIO(), io.StringIO()
    assert await print_logs(backends, NodeRef(web.name), 200, False, out, err) == 0
    assert sorted(out.getvalue().splitlines()) == ["hello", "world"] and err.getvalue() == ""
    if not (SYSTEM_LOG_DIR / f"{TEST_VM}.log").exists():  # a VM that never ran has no log yet
        test_vm.create()
    out = io.StringIO()
    assert await print_logs(backends, NodeRef.parse(f"local/vm/{TEST_VM}"), 3, False, out, err) == 0
    assert len(out.getvalue().splitlines()) == 3
    assert await print_logs(backends, NodeRef("no-such-node"), 200, False, out, err) == 2
    assert "no VM or container is named 'no-such-node'" in err.getvalue()
    mute = containers.client.containers.run(TEST_IMAGE, ["sleep", "3600"], detach=True, labels=TEST_LABELS,
                                            log_config=LogConfig(type=LogConfig.types.NONE))
    containers.made.append(mute)
    err = io.StringIO()
    assert await print_logs(backends, NodeRef(str(mute.name)), 200, False, io.StringIO(), err) == 1
    assert "does not support reading" in err.getvalue()


def test_ctrl_c_while_following_exits_0(containers: Containers) -> None:
    web = containers.run("echo ready; sleep 3600")
    script = ("import asyncio, sys; from vtui.cli.logs import print_logs;"
              " from vtui.backends.docker import DockerBackend; from vtui.model.refs import NodeRef;"
              f"sys.exit(asyncio.run(print_logs([DockerBackend('local', {SOCKET!r})], NodeRef({web.name!r}), 10, True,"
              " sys.stdout)))")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert (proc.returncode, stderr) == (0, "")


# --- the screen ----------------------------------------------------------------------------------

class LogsApp(App[None]):
    def __init__(self, screen: LogsScreen) -> None:
        super().__init__()
        self.logs = screen

    def on_mount(self) -> None:
        self.push_screen(self.logs)


def rendered(view: Log) -> list[str]:
    return [view.render_line(y).text.rstrip() for y in range(view.size.height)]


async def test_the_screen_shows_lines_verbatim_and_stops_on_escape(
    containers: Containers, docker_backend: DockerBackend
) -> None:
    web = containers.run("echo '[bold]x[/]'; printf '\\033[31mred\\033[0m\\n'; sleep 1; echo later; sleep 3600")
    wait_until_logged(web, "red")
    screen = LogsScreen(docker_backend, await node_named(docker_backend, web.name))
    app = LogsApp(screen)
    async with app.run_test(size=(80, 20)) as pilot:
        view = screen.view
        await wait_for(pilot, lambda: "later" in view.lines, timeout=10)
        assert list(view.lines) == ["[bold]x[/]", "red", "later"]
        await pilot.pause()
        assert rendered(view)[:4] == ["[bold]x[/]", "red", "later", ""]
        assert str(view.border_subtitle) == "following the log"
        await pilot.press("f")
        assert "scrolling paused" in str(view.border_subtitle) and not view.auto_scroll
        await pilot.press("f")
        assert str(view.border_subtitle) == "following the log"
        assert len(log_threads()) == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is not screen and not log_threads())


async def test_the_screen_shows_an_error_as_a_line(containers: Containers, docker_backend: DockerBackend) -> None:
    gone = containers.run()
    node = await node_named(docker_backend, gone.name)
    gone.remove()
    screen = LogsScreen(docker_backend, node)
    async with LogsApp(screen).run_test() as pilot:
        await wait_for(pilot, lambda: bool(screen.view.lines))
        assert list(screen.view.lines) == [f"── no container '{gone.name}' on local (removed?) ──"]
        assert str(screen.view.border_subtitle) == "cannot read the log"


async def test_a_log_read_once_is_followed_on_f(containers: Containers, docker_backend: DockerBackend) -> None:
    web = containers.run(f"echo one; {AFTER_GO}; echo two; sleep 3600")
    wait_until_logged(web, "one")
    screen = LogsScreen(docker_backend, await node_named(docker_backend, web.name), follow=False)
    async with LogsApp(screen).run_test() as pilot:
        await wait_for(pilot, lambda: screen.state != "reading")
        assert screen.state.startswith("not following"), (screen.state, list(screen.view.lines))
        assert list(screen.view.lines) == ["one"]
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.state == "following the log")
        go(web)
        await wait_for(pilot, lambda: len(screen.view.lines) > 1 or screen.state != "following the log", timeout=10)
        assert list(screen.view.lines) == ["one", "two"], screen.state
        await pilot.press("q")


def test_plain_drops_escapes_and_shows_controls() -> None:
    assert plain("\x1b[1;31mred\x1b[0m [b]x[/b]\tend") == "red [b]x[/b]\tend"
    assert plain("10%\r50%\r100%") == "100%"
    assert plain("a\x00b\x0bc") == "a\ufffdb\ufffdc"
