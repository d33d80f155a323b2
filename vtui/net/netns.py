"""Sockets inside another network namespace, made by a short-lived thread that enters it.

setns(2) moves only the calling thread, and a socket stays in the namespace it was made in: so a
thread enters the namespace, makes the socket and ends. That costs about 1 ms, where pyroute2's
`IPRoute(netns=…)` forks a child (about 8 ms), and it never touches the process's own namespace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyroute2 import IPRoute

import contextlib
import ctypes
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator

CLONE_NEWNET = 0x40000000
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17  # set TX checksum offload
_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceGone(OSError):
    """The namespace's path does not exist (its process has ended)."""


def socket_in(netns: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket made inside the network namespace at `netns` (e.g. /proc/PID/ns/net)."""
    made: list[socket.socket] = []
    run_in(netns, lambda: made.append(socket.socket(family, kind, proto)))
    return made[0]


@contextlib.contextmanager
def iproute_in(netns: str) -> Iterator[IPRoute]:
    """A netlink (rtnetlink) connection inside the namespace; NamespaceGone when it is not there."""
    from pyroute2 import IPRoute
    sock = socket_in(netns, socket.AF_NETLINK, socket.SOCK_DGRAM, 0)  # NETLINK_ROUTE
    with IPRoute(fileno=sock.detach()) as ipr:  # pyroute2 owns and closes the descriptor
        yield ipr


def run_in(netns: str, work: Callable[[], None]) -> None:
    """Call `work` in a short-lived thread inside the namespace (for what is per namespace but not a
    socket, such as the /proc/sys/net files a thread opens there)."""
    failed: list[OSError] = []

    def enter_and_work() -> None:
        try:
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            failed.append(NamespaceGone(err.errno, f"no network namespace at {netns}"))
            return
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                failed.append(OSError(code, os.strerror(code)))
                return
            work()
        except OSError as err:
            failed.append(err)
        finally:
            os.close(fd)

    thread = threading.Thread(target=enter_and_work, name="vtui-netns")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


def tx_checksum_off(netns: str, ifname: str) -> None:
    """Turn TX checksum offload off on one interface (what `ethtool -K IF tx off` does): a frame
    that crosses into an emulated NIC or a tunnel must carry its real checksum."""
    value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
    ifreq = struct.pack("16sP", ifname.encode(), ctypes.addressof(value)).ljust(40, b"\0")
    with socket_in(netns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
