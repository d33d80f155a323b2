"""vtui leaves when its terminal goes away, instead of spinning on a dead tty."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def vtui_on_a_pty() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """vtui --demo on a fresh pty, not its session leader (as under `make run`)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "vtui", "--demo"], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    deadline = time.monotonic() + 15
    seen = b""
    while b"db-primary" not in seen:  # wait for the table: the app is up
        assert time.monotonic() < deadline, "vtui did not start"
        try:
            seen += os.read(master, 65536)
        except OSError:
            break
    yield proc, master
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_exits_when_the_terminal_is_closed(vtui_on_a_pty: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, master = vtui_on_a_pty
    os.close(master)  # the SSH session drops: the pty is hung up
    assert proc.wait(timeout=10) == 129  # gone, not spinning on the dead tty


def test_exits_on_sighup(vtui_on_a_pty: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, master = vtui_on_a_pty
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=10) == 129
    os.close(master)


def test_exits_when_the_terminal_is_closed_while_it_starts() -> None:
    """The SSH session drops while vtui draws its first frames: Textual's goodbye to the dead terminal
    can block for good (its writer thread has died on the pty's EIO); vtui leaves all the same."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "vtui", "--demo"], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        deadline = time.monotonic() + 15
        seen = b""
        while b"\x1b[?1049h" not in seen:  # the alternate screen: Textual has started drawing
            assert time.monotonic() < deadline, "vtui did not start"
            seen += os.read(master, 65536)
        os.close(master)
        assert proc.wait(timeout=15) == 129
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
