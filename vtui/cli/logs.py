"""A node's log on standard output, for `vtui logs` (no UI)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import aclosing
from typing import TextIO

from vtui.backends.base import Backend, backend_for
from vtui.cli.ls import connected, described
from vtui.errors import NotFound, VtuiError
from vtui.model.refs import NodeRef


async def print_logs(
    backends: Sequence[Backend], ref: NodeRef, tail: int | None, follow: bool, out: TextIO,
    err: TextIO | None = None,
) -> int:
    """Write the log of the node `ref` names to `out`, a line at a time; returns the exit status.

    0: the log was printed: all of it, or with `follow` until the log ends or Ctrl-C;
    1: the log cannot be read (no file, removed container, engine lost); 2: the name did not resolve;
    130: Ctrl-C before the log began.
    """
    err = err or sys.stderr
    began = False
    with _interruptible() as interrupted:
        try:
            async with connected(backends) as (listed, failures):
                for failure in described(failures):
                    print(f"vtui: {failure}", file=err)
                try:
                    node = ref.find([n for nodes in listed.values() for n in nodes])
                except NotFound as problem:
                    print(f"vtui: {problem}", file=err)
                    return 2
                began = True
                async with aclosing(backend_for(listed, node).logs(node, tail=tail, follow=follow)) as lines:
                    async for line in lines:
                        out.write(line + "\n")
                        if follow:
                            out.flush()
                out.flush()
        except asyncio.CancelledError:
            if not interrupted():
                raise
            return 0 if began else 130
        except VtuiError as problem:
            print(f"vtui: {problem}", file=err)
            return 1
        except BrokenPipeError:  # `vtui logs … | head`: the reader has all it wanted
            _silence(out)
    return 0


@contextlib.contextmanager
def _interruptible() -> Iterator[Callable[[], bool]]:
    """Ctrl-C cancels the current task instead of raising KeyboardInterrupt; yields "was it?"."""
    loop, current = asyncio.get_running_loop(), asyncio.current_task()
    if current is None:
        raise RuntimeError("not in a task")
    task = current
    seen: list[bool] = []

    def interrupt() -> None:
        seen.append(True)
        task.cancel()

    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread: asyncio.run's own handling
        yield lambda: False
        return
    try:
        yield lambda: bool(seen)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if previous is not None:  # asyncio.run's own, which turns a later Ctrl-C into KeyboardInterrupt
            signal.signal(signal.SIGINT, previous)
        for _ in seen:
            task.uncancel()


def _silence(out: TextIO) -> None:
    """After a broken pipe: point the stream at /dev/null, so flushing it at exit does not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
