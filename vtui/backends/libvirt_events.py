"""The process-wide libvirt event loop, run in its own thread.

libvirt delivers domain events, keepalives and stream callbacks only while an
event implementation runs. The default implementation in one daemon thread
serves every connection and every asyncio loop (callbacks hop to their loop
with call_soon_threadsafe), unlike libvirtaio, which binds to a single loop.
"""

from __future__ import annotations

import threading

import libvirt

_lock = threading.Lock()
_started = False


def _ignore_error(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; we report them ourselves."""


def ensure_event_loop() -> None:
    """Register and start the event loop once; call before opening connections."""
    global _started
    with _lock:
        if _started:
            return
        libvirt.registerErrorHandler(_ignore_error, None)
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=_run, name="vtui-libvirt-events", daemon=True).start()
        _started = True


def _run() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()
