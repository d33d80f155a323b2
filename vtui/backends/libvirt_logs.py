"""A VM's QEMU log: where libvirt keeps it, and the file read from its end and followed."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

from vtui.backends.base import LineSplitter
from vtui.errors import LogsUnavailable

SYSTEM_LOG_DIR = Path("/var/log/libvirt/qemu")
LOG_POLL = 0.25  # seconds between looks at a followed log file
_READ_BLOCK = 64 * 1024


def log_path(target: str, name: str) -> Path:
    """Where libvirt of the URI `target` keeps the log of the VM `name`: the domain name verbatim (it
    cannot contain '/') + '.log'.

    Raises LogsUnavailable for a remote URI: the file is on the other host.
    """
    uri = urlsplit(target)
    driver, _, _transport = uri.scheme.partition("+")
    if driver != "qemu":
        raise LogsUnavailable(
            f"{name!r} has no QEMU log: libvirt's {driver or target!r} driver keeps none "
            "(VMs of qemu:///system and qemu:///session have one)")
    if uri.path == "/system":
        folder = SYSTEM_LOG_DIR
    elif uri.path == "/session":
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "libvirt/qemu/log"
    else:
        raise LogsUnavailable(f"vtui does not know where {target} keeps the log of {name!r}")
    if "/" in name or name in ("", ".", ".."):
        raise LogsUnavailable(f"{name!r} cannot be a log file name")
    path = folder / f"{name}.log"
    if uri.hostname not in (None, "", "localhost", "127.0.0.1", "::1"):
        raise LogsUnavailable(
            f"the log of {name!r} is a file on {uri.hostname} ({path}): for now vtui reads VM logs "
            "only on the host itself (run vtui there)")
    return path


class LogFile:
    """A log file read from its end, then followed by polling (in a backend thread).

    Rotation (virtlogd renames the file to .log.0 and starts a new one) and truncation are handled:
    the rest of the old file is read, then the new one from its start.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._id = (0, 0)  # device and inode of the open file
        self._pos = 0
        self._lines = LineSplitter()
        self._lock = threading.Lock()  # a read and close() from different threads

    def open(self, name: str) -> None:
        try:
            with self._lock:
                self._open()
        except FileNotFoundError:
            raise LogsUnavailable(f"{name!r} has no log at {self.path} yet (libvirt writes it when the VM starts)"
                                  ) from None
        except PermissionError:
            raise LogsUnavailable(f"permission denied reading {self.path} (libvirt's logs are root's)") from None
        except OSError as err:
            raise LogsUnavailable(f"cannot read {self.path}: {err.strerror}") from None

    def _open(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        if self._fd >= 0:
            os.close(self._fd)
        st = os.fstat(fd)
        self._fd, self._id, self._pos = fd, (st.st_dev, st.st_ino), 0

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
            if fd >= 0:
                os.close(fd)

    def tail(self, count: int | None, final: bool) -> list[str]:
        """The last `count` lines (None: all); `final`: the unfinished last line too, as nothing follows."""
        with self._lock:
            return self._tail(count, final)

    def _tail(self, count: int | None, final: bool) -> list[str]:
        size = os.fstat(self._fd).st_size
        if count is None:
            lines = self._drain()
        elif count == 0:
            self._pos, lines = size, []
        else:  # back from the end, block by block, to count + 1 line ends (the first may be cut)
            start, newlines = size, 0
            blocks: list[bytes] = []
            while start > 0 and newlines <= count:
                step = min(_READ_BLOCK, start)
                start -= step
                blocks.insert(0, os.pread(self._fd, step, start))
                newlines += blocks[0].count(b"\n")
            self._pos = start + sum(len(b) for b in blocks)
            lines = self._lines.feed(b"".join(blocks))
        lines += self._lines.flush() if final else []
        return lines if count is None else lines[-count:] if count else []

    def read_new(self) -> list[str]:
        """What was written since the last read; across a rotation or truncation."""
        with self._lock:
            return self._read_new() if self._fd >= 0 else []

    def _read_new(self) -> list[str]:
        lines: list[str] = []
        try:
            st = os.stat(self.path)
        except OSError:
            st = None  # renamed away and not created again yet: keep reading the old one
        if st is not None and (st.st_dev, st.st_ino) != self._id:
            lines += self._drain() + self._lines.flush()
            try:
                self._open()
            except OSError:
                return lines  # gone again: next time
        elif os.fstat(self._fd).st_size < self._pos:
            lines += self._lines.flush()
            self._pos = 0
        return lines + self._drain()

    def _drain(self) -> list[str]:
        lines: list[str] = []
        while data := os.pread(self._fd, 16 * _READ_BLOCK, self._pos):
            self._pos += len(data)
            lines += self._lines.feed(data)
        return lines
