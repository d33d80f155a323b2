"""Engine backends: one per engine, the same async interface, no textual."""

from vtui.backends.base import (
    Backend,
    Capability,
    Change,
    EngineUnavailable,
    NodeSpec,
    Removed,
    Reset,
    Upsert,
    backend_for,
    host_links,
)

__all__ = ["Backend", "Capability", "Change", "EngineUnavailable", "NodeSpec", "Removed", "Reset", "Upsert",
           "backend_for", "host_links"]
