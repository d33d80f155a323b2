"""A plan of steps carried out in phases: the steps of a phase at once (those that share a queue
word one after another), phase after phase; when a step fails or the run is interrupted, what the
run did is undone in reverse. Knows nothing of labs: vtui.labs.changes makes the steps."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from vtui.errors import LabError, VtuiError

PARALLEL = 16  # steps of a phase under way at once (a backend makes as many nodes at once)







@dataclass(frozen=True)
class Step:
    """One change: `sign` + for made, - for removed, ~ for changed; `what` in words."""

    sign: str
    what: str
    run: Callable[[], Awaitable[str]]  # does it; returns a detail worth telling, or ""
    undo: Callable[[], Awaitable[object]] | None = None  # takes it back when a later step fails
    one_at_a_time: str = ""  # steps with the same word here run one after another (a host's links)

    def __str__(self) -> str:
        return f"{self.sign} {self.what}"


# (step, "start" | "done" | "failed" | "undone", detail)
Progress = Callable[[Step, str, str], None]


def quiet(step: Step, state: str, detail: str) -> None:
    pass


async def run_phases(phases: Sequence[Sequence[Step]], progress: Progress,
                     between: Callable[[], Awaitable[None]]) -> None:
    """The phases in turn (`between` runs before each one after the first, to see what the last made);
    LabError naming every step that failed, after undoing what was done. Interrupted (ctrl+c), the
    steps under way finish, all is undone, and the CancelledError goes on."""
    done: list[Step] = []
    try:
        for index, phase in enumerate(phases):
            if index:
                await between()
            failures = await _phase(phase, progress, done)
            if failures:
                raise LabError("; ".join(failures))
    except BaseException:
        await asyncio.shield(_undo(done, progress))
        raise


async def _phase(phase: Sequence[Step], progress: Progress, done: list[Step]) -> list[str]:
    gate = asyncio.Semaphore(PARALLEL)
    failures: list[str] = []
    stopping = asyncio.Event()
    queues = {step.one_at_a_time: asyncio.Lock() for step in phase}

    async def one(step: Step) -> None:
        async with queues[step.one_at_a_time] if step.one_at_a_time else contextlib.nullcontext(), gate:
            if stopping.is_set():
                return
            progress(step, "start", "")
            started = time.monotonic()
            try:
                detail = await step.run()
            except VtuiError as err:
                failures.append(f"{step.what}: {err}")
                progress(step, "failed", str(err))
                return
            done.append(step)
            took = _seconds(time.monotonic() - started)
            progress(step, "done", f"{detail} ({took})" if detail else took)

    tasks = [asyncio.create_task(one(step)) for step in phase]
    try:
        await asyncio.wait(tasks)
    except asyncio.CancelledError:  # ctrl+c: no step starts; those under way finish, to be undone whole
        stopping.set()
        await asyncio.wait(tasks)
        raise
    return failures


async def _undo(done: Sequence[Step], progress: Progress) -> None:
    for step in reversed(done):
        if step.undo is None:
            continue
        try:
            await step.undo()
            progress(step, "undone", "")
        except VtuiError as err:
            progress(step, "failed", f"not undone: {err}")


def _seconds(took: float) -> str:
    return f"{took * 1000:.0f} ms" if took < 1 else f"{took:.1f} s"
