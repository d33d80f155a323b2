"""Host keys: telling an unknown key from a changed one, and recording a key the user accepted.

Nothing is written to known_hosts except by `record()`, which callers reach only after the user
said yes to the fingerprint (the TUI's question, the CLI's prompt, or `vtui trust --fingerprint`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # asyncssh is slow to import: only where a key is judged
    import asyncssh

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


@dataclass(frozen=True, slots=True)
class HostKeyProblem:
    name: str  # the host's name in vtui
    host: str  # as known_hosts matches it: the HostName (or HostKeyAlias)
    port: int
    algorithm: str  # "ssh-ed25519"
    fingerprint: str  # "SHA256:…"
    public_key: str  # "ssh-ed25519 AAAA…", for known_hosts
    known_hosts: Path  # where an accepted key is recorded
    changed: bool  # a different key is on record for this host
    jump_of: str = ""  # set for a ProxyJump host: the host it leads to

    @property
    def pattern(self) -> str:
        """The host as known_hosts writes it."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @property
    def who(self) -> str:
        """The host in a sentence: `h1 (10.0.0.1)`, or `jump host h1 (10.0.0.1) on the way to h2`."""
        named = f"{self.name} ({self.pattern})"
        return f"jump host {named} on the way to {self.jump_of}" if self.jump_of else named

    def sentence(self) -> str:
        if self.changed:
            return (f"WARNING: the host key of {self.who} has CHANGED: it now shows "
                    f"{self.algorithm} {self.fingerprint}, not the key in {self.known_hosts}. vtui refuses to "
                    "connect: someone may be intercepting the connection, or the host was reinstalled. "
                    f"If you know it was, remove the old key (ssh-keygen -f {self.known_hosts} -R '{self.pattern}') "
                    "and accept the new one")
        return (f"the host key of {self.who} is unknown: {self.algorithm} {self.fingerprint}. "
                f"If that is the host's fingerprint, accept it: "
                f"vtui trust {self.name} --fingerprint {self.fingerprint}")


def known_hosts_files(configured: Sequence[str] | None) -> list[Path]:
    """The files asyncssh checks: ~/.ssh/config's UserKnownHostsFile (and global ones), else the default."""
    return [Path(p).expanduser() for p in (configured or [DEFAULT_KNOWN_HOSTS])]


def judge_host_key(name: str, host: str, port: int, key: asyncssh.SSHKey,
                   configured: Sequence[str] | None, jump_of: str = "") -> HostKeyProblem:
    """The host presented `key`, which known_hosts does not trust: is another key on record?"""
    import asyncssh

    files = known_hosts_files(configured)
    readable = [str(f) for f in files if os.access(f, os.R_OK)]
    changed = False
    if readable:
        trusted = asyncssh.read_known_hosts(readable).match(host, "", None if port == 22 else port)[0]
        changed = bool(trusted)
    return HostKeyProblem(
        name, host, port, key.get_algorithm(), key.get_fingerprint("sha256"),
        " ".join(key.export_public_key("openssh").decode().split()[:2]), files[0], changed, jump_of)


def record(problem: HostKeyProblem) -> None:
    """Append the accepted key to the user's known_hosts (never for a changed key)."""
    if problem.changed:
        raise ValueError(f"{problem.name}: a changed host key is not recorded by vtui; remove the old one first")
    path = problem.known_hosts
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        if file.tell() and not _ends_with_newline(path):
            file.write("\n")
        file.write(f"{problem.pattern} {problem.public_key}\n")


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"
