"""Where a link's commands run, apart from what they make: netlink on this machine (pyroute2 in a
worker thread), or one sh script of `ip` commands per change over a remote host's SSH connection.
Both raise LinkError with a sentence.

An executor knows no kind of link. It runs an operation (Op: a blocking netlink rendering, and a
script rendering with the parser of its outcome) that a net primitive (vtui.net.bridge, vxlan,
vmlink) defines, and it has the few primitives every kind uses: veth pairs (one or many), an end's
state and impairment, the interfaces of a namespace, its status, a capture, and the host's own
addresses and routes. The kinds of link (vtui.net.kinds) compose these."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shlex
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from vtui.errors import CommandFailed, LinkError
from vtui.net import batch
from vtui.net.plan import ABSENT, End, EndStatus, Impairment, Veth

Run = Callable[[str], Awaitable[str]]  # a command line on the host; its stdout
Stream = Callable[[str], AsyncGenerator[bytes, None]]  # a long-running command line's stdout, as it comes


T = TypeVar("T", covariant=True)
R = TypeVar("R")


class Op(Protocol[T]):
    """One change (or reading) of kernel objects, rendered for each place it can run."""

    def netlink(self) -> T:
        """Carry it out on this machine: blocking netlink calls (an executor runs them in a thread)."""
        ...

    def script(self, host: str) -> str:
        """The POSIX sh script that carries it out on `host`; LinkError when it has none (yet)."""
        ...

    def outcome(self, output: str) -> T:
        """The result from the script's output (its last line); LinkError with a sentence."""
        ...


class Executor(Protocol):
    host: str

    async def run(self, op: Op[R]) -> R: ...
    async def wire(self, veth: Veth) -> bool: ...
    async def unwire(self, veth: Veth) -> bool: ...
    async def wire_many(self, veths: Sequence[Veth]) -> list[bool | LinkError]: ...
    async def unwire_many(self, veths: Sequence[Veth]) -> list[bool | LinkError]: ...
    async def set_admin(self, veth: Veth, side: str, up: bool) -> None: ...
    async def impair(self, veth: Veth, side: str, impairment: Impairment) -> None: ...
    async def interfaces(self, end: End) -> set[str]: ...
    async def status(self, veth: Veth) -> dict[str, EndStatus]: ...
    async def status_many(self, veths: Sequence[Veth]) -> list[dict[str, EndStatus]]: ...
    def capture(self, end: End, count: int | None) -> AsyncIterator[bytes]: ...
    async def route_source(self, remote: str) -> str | None: ...
    async def addresses(self) -> list[str]: ...


def capture_argv(end: End, count: int | None) -> list[str]:
    """tcpdump on one end, in its namespace, writing pcap to stdout packet by packet."""
    return ["nsenter", f"--net={end.netns}", "tcpdump", "-i", end.ifname, "-U", "-w", "-", "-s", "0",
            "--immediate-mode", "-q", *(["-c", str(count)] if count else [])]


def capture_error(end: End, host: str, stderr: str) -> LinkError:
    if "tcpdump" in stderr and "No such file" in stderr:
        return LinkError(f"capture on {end}: tcpdump is not installed on {host} (Debian: apt install tcpdump)")
    return LinkError(f"capture on {end}: {stderr.strip() or 'tcpdump failed'}")


class LocalExecutor:
    """Netlink calls, each in a worker thread (they block)."""

    host = "local"

    async def run(self, op: Op[R]) -> R:
        return await asyncio.to_thread(op.netlink)

    async def wire(self, veth: Veth) -> bool:
        from vtui.net import local
        return await asyncio.to_thread(local.wire_veth, veth)

    async def unwire(self, veth: Veth) -> bool:
        from vtui.net import local
        return await asyncio.to_thread(local.unwire_veth, veth)

    async def wire_many(self, veths: Sequence[Veth]) -> list[bool | LinkError]:
        """wire() for each link, one after the other in one worker thread: each its result or LinkError."""
        from vtui.net import local
        return await asyncio.to_thread(local.wire_many, veths)

    async def unwire_many(self, veths: Sequence[Veth]) -> list[bool | LinkError]:
        from vtui.net import local
        return await asyncio.to_thread(local.unwire_many, veths)

    async def set_admin(self, veth: Veth, side: str, up: bool) -> None:
        from vtui.net import local
        await asyncio.to_thread(local.set_admin, veth, side, up)

    async def impair(self, veth: Veth, side: str, impairment: Impairment) -> None:
        from vtui.net import local
        await asyncio.to_thread(local.impair, veth, side, impairment)

    async def interfaces(self, end: End) -> set[str]:
        from vtui.net import local
        return await asyncio.to_thread(local.interfaces, end.pid, end.where)

    async def status(self, veth: Veth) -> dict[str, EndStatus]:
        from vtui.net import local
        return await asyncio.to_thread(local.status, veth)

    async def status_many(self, veths: Sequence[Veth]) -> list[dict[str, EndStatus]]:
        from vtui.net import local
        return await asyncio.to_thread(local.status_many, veths)

    async def route_source(self, remote: str) -> str | None:
        from vtui.net import local
        return await asyncio.to_thread(local.route_source, remote)

    async def addresses(self) -> list[str]:
        from vtui.net import local
        return await asyncio.to_thread(local.global_addresses)

    async def capture(self, end: End, count: int | None) -> AsyncIterator[bytes]:
        process = await asyncio.create_subprocess_exec(*capture_argv(end, count), stdin=asyncio.subprocess.DEVNULL,
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert process.stdout is not None and process.stderr is not None
        errors = asyncio.ensure_future(process.stderr.read())
        try:
            while chunk := await process.stdout.read(1 << 16):
                yield chunk
            if await process.wait():
                raise capture_error(end, "this machine", (await errors).decode("utf-8", "replace"))
        finally:
            errors.cancel()
            if process.returncode is None:
                process.terminate()
                await process.wait()


class ShellExecutor:
    """The batch scripts, run by `sh` on the host through `run` (one command per change).

    The script's verdict is its last line of output, whatever its exit status: the line is what
    batch.outcome() reads, so the command is made to succeed and the line decides."""

    def __init__(self, run: Run, stream: Stream, host: str) -> None:
        self._run = run
        self._stream = stream
        self.host = host

    async def _script(self, script: str) -> str:
        return await self._run(shlex.join(["sh", "-c", script]) + "; true")

    async def run(self, op: Op[R]) -> R:
        return op.outcome(await self._script(op.script(self.host)))

    async def wire(self, veth: Veth) -> bool:
        return batch.outcome(veth, await self._script(batch.wire_script(veth)))

    async def unwire(self, veth: Veth) -> bool:
        return batch.outcome(veth, await self._script(batch.unwire_script(veth)))

    async def wire_many(self, veths: Sequence[Veth]) -> list[bool | LinkError]:
        """wire() for each link, all in one script: one command on the host (one more per
        batch.MAX_COMMAND bytes of script, ~100 links). Each link's result or LinkError."""
        return await self._many(veths, batch.wire_script)

    async def unwire_many(self, veths: Sequence[Veth]) -> list[bool | LinkError]:
        """Each link's end joins a doomed group; each namespace then deletes the group at once."""
        from vtui.net import local
        group = local.doomed_group()
        return await self._many(veths, lambda veth: batch.doom_script(veth, group),
                                tail=lambda part: batch.gone_script(part, group))

    async def _many(self, veths: Sequence[Veth], script: Callable[[Veth], str],
                    tail: Callable[[Sequence[Veth]], str] = lambda part: "") -> list[bool | LinkError]:
        results: dict[int, bool | LinkError] = {}
        scripts: dict[int, str] = {}
        for index, veth in enumerate(veths):
            try:
                scripts[index] = script(veth)  # LinkError for a name or MTU refused before any shell
            except LinkError as err:
                results[index] = err
        todo = list(scripts)
        while todo:
            part = [todo.pop(0)]
            size = batch.joined_size(scripts[part[0]])
            while todo and size + batch.joined_size(scripts[todo[0]]) <= batch.MAX_COMMAND:
                size += batch.joined_size(scripts[todo[0]])
                part.append(todo.pop(0))
            output = await self._script(batch.join_scripts([scripts[i] for i in part])
                                        + tail([veths[i] for i in part]))
            results.update(zip(part, batch.split_outcomes([veths[i] for i in part], output), strict=True))
        return [results[index] for index in range(len(veths))]

    async def set_admin(self, veth: Veth, side: str, up: bool) -> None:
        batch.outcome(veth, await self._script(batch.admin_script(veth, side, up)))

    async def impair(self, veth: Veth, side: str, impairment: Impairment) -> None:
        batch.outcome(veth, await self._script(batch.impair_script(veth, side, impairment)))

    async def route_source(self, remote: str) -> str | None:
        out = await self._script(f"ip -j route get {ipaddress.ip_address(remote)} 2>/dev/null || echo '[]'")
        routes = json.loads(out or "[]")
        return _source(routes[0] if routes else {})

    async def addresses(self) -> list[str]:
        shown = json.loads(await self._script("ip -j -4 addr show scope global"))
        return [str(a["local"]) for link in shown for a in link.get("addr_info", []) if "local" in a]

    async def interfaces(self, end: End) -> set[str]:
        out = await self._script(f"nsenter --net={end.netns} ip -j link show || echo vtui-gone")
        if out.strip().endswith("vtui-gone"):
            raise LinkError(f"{end.where} is not running (no network namespace on {self.host})")
        return {str(link["ifname"]) for link in _json(out, end)}

    async def status(self, veth: Veth) -> dict[str, EndStatus]:
        out = await self._script(batch.status_script(veth))
        shown: dict[str, list[dict[str, Any]]] = {}
        for line in out.splitlines():
            key, _, text = line.partition(" ")
            if key in ("a", "b", "aq", "bq") and text.startswith("["):
                shown[key] = _json(text, veth.a if key[0] == "a" else veth.b)
        return {side: _end_status(shown.get(side, []) + shown.get(f"{side}q", []), veth.alias(side))
                for side in ("a", "b")}

    async def status_many(self, veths: Sequence[Veth]) -> list[dict[str, EndStatus]]:
        return list(await asyncio.gather(*(self.status(veth) for veth in veths)))

    async def capture(self, end: End, count: int | None) -> AsyncIterator[bytes]:
        chunks = self._stream(shlex.join(capture_argv(end, count)))
        try:
            async for chunk in chunks:
                yield chunk
        except CommandFailed as err:
            raise capture_error(end, self.host, str(err)) from err
        finally:
            await chunks.aclose()


def _source(route: dict[str, Any]) -> str | None:
    """The source address of a route to another host; None for none, or one to an address of its own."""
    if not route or route.get("type") in ("local", "unreachable", "blackhole", "prohibit"):
        return None
    return str(route["prefsrc"]) if route.get("prefsrc") else None


def _json(text: str, end: End) -> list[dict[str, Any]]:
    try:
        shown = json.loads(text)
    except ValueError as err:
        raise LinkError(f"{end.where}: `ip -j` gave no JSON ({text.strip()[-120:]!r})") from err
    return [item for item in shown if isinstance(item, dict)] if isinstance(shown, list) else []


def _end_status(shown: list[dict[str, Any]], alias: str) -> EndStatus:
    """An end from `ip -j -s link show dev IF` and the root qdisc (`tc -j qdisc show`) in one array."""
    links = [item for item in shown if "ifname" in item]
    if not links or links[0].get("ifalias") != alias:
        return ABSENT
    link = links[0]
    stats = link.get("stats64", {})
    rx, tx = stats.get("rx", {}), stats.get("tx", {})
    flags = link.get("flags", [])
    qdiscs = [item.get("kind", "") for item in shown if item.get("root") and item.get("kind") in ("tbf", "netem")]
    return EndStatus(present=True, up="UP" in flags, carrier="LOWER_UP" in flags,
                     rx_bytes=int(rx.get("bytes", 0)), tx_bytes=int(tx.get("bytes", 0)),
                     rx_packets=int(rx.get("packets", 0)), tx_packets=int(tx.get("packets", 0)),
                     drops=int(rx.get("dropped", 0)) + int(tx.get("dropped", 0)), qdisc=qdiscs[0] if qdiscs else "")
