"""One GET of the Docker Engine API over dockerd's unix socket, with the standard library alone:
the first frame's listing, made while the TUI loads and before docker-py (and requests behind it,
about 0.1 s to import) is loaded."""

from __future__ import annotations

import json
import socket
from typing import Any

MAX_RESPONSE = 64 << 20  # bytes: a listing of tens of thousands of containers fits


class ApiRefused(Exception):
    """dockerd answered with another status than 200, or not at all."""


def get_json(socket_path: str, path: str, timeout: float) -> Any:
    """The decoded body of `GET path` (blocking: call it in a thread); OSError when the socket cannot
    be reached or does not answer within `timeout`, ApiRefused for another answer than 200,
    ValueError for a body that is not JSON."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        # HTTP/1.0: dockerd answers without chunking and closes when done
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        chunks, size = [], 0
        while size < MAX_RESPONSE and (chunk := sock.recv(1 << 16)):
            chunks.append(chunk)
            size += len(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(status) < 2 or status[1] != b"200":
        raise ApiRefused(f"GET {path}: {b' '.join(status[1:]).decode(errors='replace') or 'no answer'}")
    return json.loads(body)
