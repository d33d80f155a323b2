"""`vtui discover CIDR`: which hosts of a range answer on SSH, libvirt or docker (no UI)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from vtui.cli.terminal import columns
from vtui.errors import ConfigError
from vtui.transport.discovery import Scan
from vtui.transport.scan_terms import COLUMNS, PORTS, Found, Service, family, parse_ports, ssh_target

PROGRESS_EVERY = 0.1  # seconds between progress lines on a terminal


async def run_discover(
    cidr: str,
    *,
    ports: str | Sequence[Service] = PORTS,
    concurrency: int = 256,
    rate: float = 500.0,
    timeout: float = 1.0,  # noqa: ASYNC109  (each connect's and banner read's, not the command's)
    json_out: bool = False,
    add: bool = False,
    hosts_file: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Prints the hosts that answered (a table, or JSON) on `out` and a one-line summary on `err`,
    progress too when `err` is a terminal. `ports` may be spelled as for --ports ("ssh,docker:2375").
    With `add`, hosts with SSH open go into the hosts file. Returns 0 when some host answered,
    1 when none did (or they could not be added), 2 for bad input."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        services = parse_ports(ports) if isinstance(ports, str) else tuple(ports)
        progress = _Progress(err) if err.isatty() else None
        scan = Scan(cidr, services, concurrency=concurrency, rate=rate, timeout=timeout,
                    on_progress=progress.update if progress else None)
    except ValueError as problem:
        print(f"vtui: {problem}", file=err)
        return 2
    if progress is not None:
        progress.scan = scan
    try:
        found = await scan.run()
    finally:
        if progress is not None:
            progress.clear()
    if json_out:
        json.dump([_as_json(host) for host in found], out, indent=2)
        out.write("\n")
    elif found:
        print(table(found, services), file=out)
    print(scan.summary().sentence(), file=err)
    if add:
        targets = [target for host in found if (target := ssh_target(host)) is not None]
        if not targets:
            print("vtui: no host answered on SSH: nothing to add", file=err)
        elif not _added(targets, hosts_file, err):
            return 1
    return 0 if found else 1


def table(found: Sequence[Found], services: Sequence[Service] = PORTS) -> str:
    """ADDRESS SSH LIBVIRT DOCKER [OTHER] BANNER: the open ports of each kind, "-" for none."""
    others = any(s.family not in COLUMNS for s in services)
    headers = ("ADDRESS", *(c.upper() for c in COLUMNS), *(("OTHER",) if others else ()), "BANNER")

    def ports(host: Found, kind: str | None) -> str:  # None: the kinds without a column of their own
        kinds = {kind} if kind else set(COLUMNS)
        return ",".join(str(s.port) for s in host.services if (family(s.name) in kinds) == bool(kind)) or "-"

    rows = [headers]
    for host in found:
        cells = [str(host.address), *(ports(host, kind) for kind in COLUMNS)]
        if others:
            cells.append(ports(host, None))
        cells.append("; ".join(s.banner for s in host.services if s.banner))
        rows.append(tuple(cells))
    return columns(rows)


def _as_json(host: Found) -> dict[str, object]:
    return {"address": str(host.address),
            "services": [{"port": s.port, "name": s.name, "banner": s.banner} for s in host.services]}


def _added(targets: Sequence[str], hosts_file: Path | None, err: TextIO) -> bool:
    """Hands the SSH targets to the hosts file and says what it took; False when it could not."""
    from vtui.config.hosts import add_hosts, default_path  # only for --add

    where = hosts_file or default_path()
    try:
        added = add_hosts(hosts_file, targets)
    except ConfigError as problem:
        print(f"vtui: {problem}", file=err)
        return False
    except OSError as problem:
        print(f"vtui: cannot add hosts to {where}: {problem.strerror or problem}", file=err)
        return False
    kept = len(targets) - len(added)
    if added:
        also = f" ({kept} already there)" if kept else ""
        print(f"vtui: added {len(added)} to {where}: {', '.join(added)}{also}", file=err)
    else:
        print(f"vtui: all {len(targets)} already in {where}: nothing added", file=err)
    return True


class _Progress:
    """`scanning 10.0.0.0/24: 523/1270 attempts, 2 answered` rewritten in place, at most 10 times a second."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.scan: Scan | None = None
        self._last = 0.0
        self._shown = False

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < PROGRESS_EVERY:
            return
        self._last = now
        answered = "" if self.scan is None else f", {self.scan.summary().answered} answered"
        network = "" if self.scan is None else f" {self.scan.network}"
        self.err.write(f"\r\x1b[Kscanning{network}: {done}/{total} attempts{answered}")
        self.err.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
