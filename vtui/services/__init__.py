"""The services a session holds above the backends: the hub, triage, opening consoles."""
