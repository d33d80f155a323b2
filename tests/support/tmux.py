"""vtui in a real terminal: a tmux server of the test's own, driven as a person would."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_MARK = "vtui-exited:"


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True,
                              text=True, timeout=10).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "t", *(("-l",) if literal else ()), *keys)

    def type(self, text: str) -> None:
        self.keys(text, literal=True)
        self.keys("Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 20) -> str:
        """The screen once `text` is on it; fails with the screen as it was."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear within {timeout:g} s; the screen:\n{screen}")
            time.sleep(0.1)

    def exit_code(self, timeout: float = 20) -> int:
        """vtui's exit status, once it has exited."""
        screen = self.wait_for(EXIT_MARK, timeout)
        return int(screen.split(EXIT_MARK, 1)[1].split()[0])


@contextmanager
def vtui_in_tmux(*args: str, cols: int = 120, rows: int = 32, env: dict[str, str] | None = None,
                 prefix: tuple[str, ...] = ()) -> Iterator[Tmux]:
    """`vtui ARGS` in a fresh tmux server (our own socket, no user config); the server is killed after.
    `prefix` runs it inside another command (e.g. `ip netns exec NS`)."""
    term = Tmux(f"vtui-test-{uuid.uuid4().hex[:8]}")
    command = shlex.join([*prefix, sys.executable, "-m", "vtui", *args])
    shell = f"{command}; code=$?; echo; echo {EXIT_MARK}$code; sleep 600"
    subprocess.run(["tmux", "-L", term.socket, "-f", "/dev/null", "new-session", "-d", "-s", "t",
                    "-x", str(cols), "-y", str(rows), "sh", "-c", shell],
                   check=True, timeout=10, env={**os.environ, "TERM": "xterm-256color", **(env or {})})
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True, timeout=10)
