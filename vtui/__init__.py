"""vtui: a keyboard-driven manager for VMs, containers and lab networks."""

__version__ = "0.1.0"
