"""SSH targets as users write them: `user@host:port`, `host`, `[v6]:port`, or a ~/.ssh/config alias."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TARGET = re.compile(r"^(?:(?P<user>[\w.-]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[\w.-]+)(?::(?P<port>\d+))?$", re.ASCII)


@dataclass(frozen=True, slots=True)
class SshTarget:
    """`user@host:port` taken apart; `host` may be an alias of ~/.ssh/config."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (f"{self.user}@" if self.user else "") + host + (f":{self.port}" if self.port else "")


def parse_target(text: str) -> SshTarget:
    """Raises ValueError with a sentence for what is not a target."""
    m = _TARGET.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not an SSH target (write user@host:port, host, or a ~/.ssh/config alias)")
    port = int(m["port"]) if m["port"] else None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"{text!r}: port {port} is out of range")
    return SshTarget(m["host"].strip("[]"), m["user"], port)
