"""Engine backends: one per engine, the same async interface, no textual."""

from vtui.backends.base import Backend, Capability, Change, NodeSpec, Removed, Reset, Upsert, backend_for, host_links
from vtui.errors import EngineError

__all__ = ["Backend", "Capability", "Change", "EngineError", "NodeSpec", "Removed", "Reset", "Upsert",
           "backend_for", "host_links"]
