"""What the CLI verbs share on the terminal: aligned columns and questions asked on stdin."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

YES = ("y", "yes")


def columns(rows: Sequence[Sequence[str]]) -> str:
    """Rows of cells (the first row the headers) as left-aligned columns two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def answer(question: str, out: TextIO | None = None) -> str:
    """The line typed after `question` (shown on `out`, standard output by default), stripped."""
    print(question, end="", file=out or sys.stdout, flush=True)
    return sys.stdin.readline().strip()


async def answer_async(question: str, out: TextIO | None = None) -> str:
    """`answer` for an event loop: stdin is read in a thread, the loop goes on."""
    return await asyncio.get_running_loop().run_in_executor(None, answer, question, out)


def agreed(reply: str) -> bool:
    """A yes: y or yes, in any case."""
    return reply.lower() in YES
