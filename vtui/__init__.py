"""vtui: a keyboard-driven manager for VMs, containers and lab networks."""

import os
import warnings

import platformdirs

__version__ = "0.1.0"


def _libvirt_logs_to_a_file() -> None:
    """libvirt's C library writes its warnings straight to file descriptor 2, over the
    TUI. It reads where to log once, when first imported: point it at a file first."""
    if "LIBVIRT_LOG_OUTPUTS" not in os.environ:
        state = platformdirs.user_state_path("vtui")
        state.mkdir(parents=True, exist_ok=True)
        os.environ["LIBVIRT_LOG_OUTPUTS"] = f"3:file:{state / 'libvirt.log'}"


_libvirt_logs_to_a_file()

# asyncssh's import warns that cryptography will drop DSA keys: about asyncssh, not for vtui's users to read
warnings.filterwarnings("ignore", message="DSA is deprecated", module="asyncssh")
