"""How a plan's steps are carried out, with steps that only keep a diary: phases in turn, a phase's
steps at once, a queue's steps one at a time, and on a failure or ctrl+c what was done undone in
reverse (the engine tests show the same with real containers)."""

from __future__ import annotations

import asyncio

import pytest

from vtui.errors import LabError
from vtui.labs.steps import Step, run_phases


class Diary:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.running = 0
        self.most = 0

    def step(self, name: str, *, fail: bool = False, seconds: float = 0.0, queue: str = "") -> Step:
        async def run() -> str:
            self.running += 1
            self.most = max(self.most, self.running)
            try:
                await asyncio.sleep(seconds)
            finally:
                self.running -= 1
            if fail:
                raise LabError(f"{name} broke")
            self.lines.append(f"did {name}")
            return ""

        async def undo() -> None:
            self.lines.append(f"undid {name}")

        return Step("+", name, run, undo, one_at_a_time=queue)

    def said(self, step: Step, state: str, detail: str) -> None:
        if state != "start":
            self.lines.append(f"{state} {step.what}" + (f": {detail}" if state == "failed" else ""))


async def nothing() -> None:
    pass


async def test_a_failed_step_undoes_what_was_done_in_reverse_and_stops_the_phases() -> None:
    diary = Diary()
    phases = [[diary.step("a")], [diary.step("b"), diary.step("c", fail=True, seconds=0.01)], [diary.step("d")]]
    with pytest.raises(LabError, match="c: c broke"):
        await run_phases(phases, diary.said, nothing)
    done = [line for line in diary.lines if not line.startswith(("done", "undone"))]
    assert done == ["did a", "did b", "failed c: c broke", "undid b", "undid a"]  # d never ran


async def test_a_phase_runs_at_once_but_a_queue_one_at_a_time() -> None:
    diary = Diary()
    await run_phases([[diary.step(f"n{i}", seconds=0.02) for i in range(4)]], diary.said, nothing)
    assert diary.most == 4
    queued = Diary()
    await run_phases([[queued.step(f"l{i}", seconds=0.02, queue="host") for i in range(4)]], queued.said, nothing)
    assert queued.most == 1 and [line for line in queued.lines if line.startswith("did")] == [
        "did l0", "did l1", "did l2", "did l3"]


async def test_an_interrupted_run_lets_the_steps_under_way_finish_then_undoes_them() -> None:
    diary = Diary()
    slow = [diary.step(f"s{i}", seconds=0.2, queue="q" if i else "") for i in range(3)]  # s1, s2 queued
    task = asyncio.create_task(run_phases([slow], diary.said, nothing))
    await asyncio.sleep(0.05)  # s0 and s1 under way, s2 waiting its turn
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(line for line in diary.lines if line.startswith(("did", "undid"))) == [
        "did s0", "did s1", "undid s0", "undid s1"]  # s2 never started
