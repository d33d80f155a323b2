"""Reusable widgets."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def set_content(static: Static, content: Text | str, *, layout: bool = True) -> None:
    """Update a Static only when its content changed: every update repaints, and with
    `layout` (for content whose size may change) re-lays out the whole screen."""
    if static.content != content:
        static.update(content, layout=layout)
