"""A node's log, live: the last lines, then new ones as they are written."""

from __future__ import annotations

import logging
import re
from contextlib import aclosing
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Log
from textual.worker import Worker

from vtui.backends.base import Backend
from vtui.errors import VtuiError
from vtui.model import Node

log = logging.getLogger(__name__)

MAX_LINES = 10_000  # kept in the view; older lines are dropped
TAIL = 1_000  # lines read back when the view opens
FLUSH_EVERY = 0.05  # seconds: lines arriving meanwhile are written to the view at once

# what a terminal would interpret: colours and cursor moves (dropped), other control characters (shown as �)
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def plain(line: str) -> str:
    """A log line as it can be shown: text after the last carriage return, no escapes, no controls."""
    line = _ESCAPES.sub("", line.rpartition("\r")[2])
    return _CONTROLS.sub("\ufffd", line)


class LogsScreen(Screen[None]):
    """The log of one node. Lines are text, never markup. Closing the screen stops the stream."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="logs-close"),
        Binding("f", "toggle_follow", "Follow", id="logs-follow"),
        Binding("home,g", "top", "Top", id="logs-top"),
        Binding("end,G", "bottom", "Bottom", id="logs-bottom"),
    ]
    DEFAULT_CSS = """
    LogsScreen Log { height: 1fr; border: round $accent; border-subtitle-color: $text-muted; }
    """

    def __init__(self, backend: Backend, node: Node, *, follow: bool = True, tail: int | None = TAIL) -> None:
        """`follow`: keep reading new lines (else the last `tail` lines only, until `f`)."""
        super().__init__()
        self.backend, self.node, self.tail = backend, node, tail
        self.following = True  # the view scrolls to new lines
        self.streaming = follow  # the stream asks for new lines
        self.state = "opening"
        self._pending: list[str] = []
        self._worker: Worker[None] | None = None

    @property
    def view(self) -> Log:
        return self.query_one(Log)

    def compose(self) -> ComposeResult:
        yield Log(max_lines=MAX_LINES, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.view.border_title = Text(f"{self.node.kind} {self.node.name} on {self.node.host}: log")
        self.set_interval(FLUSH_EVERY, self._flush)
        self._start()
        self.view.focus()

    def _start(self) -> None:
        self._worker = self.run_worker(self._read(self.streaming), group="logs", exclusive=True, exit_on_error=False)

    async def _read(self, follow: bool) -> None:
        self._set_state("following the log" if follow else "reading")
        try:
            async with aclosing(self.backend.logs(self.node, tail=self.tail, follow=follow)) as lines:
                async for line in lines:
                    self._pending.append(line)
                    if len(self._pending) > 2 * MAX_LINES:
                        del self._pending[:-MAX_LINES]
        except VtuiError as err:
            self._end(f"── {err} ──", "cannot read the log")
        except Exception as err:  # a bug or an unexpected library error: shown, not a crash
            log.exception("reading the log of %s failed", self.node.key)
            self._end(f"── unexpected error: {err} ──", "cannot read the log")
        else:
            if follow:
                self._end("── the log ended (the node stopped?) ──", "ended")
            else:
                self._end(None, "not following new lines (f follows)")

    def _end(self, line: str | None, state: str) -> None:
        if line is not None:
            self._pending.append(line)
        self._flush()
        self._set_state(state)

    def _flush(self) -> None:
        if self._pending:
            lines, self._pending = self._pending, []
            self.view.write_lines([plain(line) for line in lines[-MAX_LINES:]])

    def _set_state(self, state: str) -> None:
        self.state = state
        scroll = "" if self.following else " · scrolling paused (f resumes)"
        self.view.border_subtitle = Text(state + scroll)

    def action_toggle_follow(self) -> None:
        """Pause or resume scrolling to new lines; a log that was read once is read again and followed."""
        if not self.streaming and self._worker is not None and self._worker.is_finished:
            self.streaming = self.following = True
            self.view.auto_scroll = True
            self.view.clear()
            self._start()
            return
        self.following = not self.following
        self.view.auto_scroll = self.following
        if self.following:
            self.view.scroll_end(animate=False)
        self._set_state(self.state)

    def action_top(self) -> None:
        self.view.scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.view.scroll_end(animate=False)

    def stop(self) -> None:
        """Stop reading (the backend's stream and its thread end with the worker)."""
        if self._worker is not None:
            self._worker.cancel()

    def action_close(self) -> None:
        self.stop()
        self.dismiss(None)

    def on_unmount(self) -> None:
        self.stop()
