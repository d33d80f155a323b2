"""Docker backend: containers of one dockerd (unix socket, tcp, or a forwarded socket)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import threading
import time
from collections.abc import AsyncGenerator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from vtui.actions import Options
from vtui.backends.base import Backend, Capability, Change, LineSplitter, NodeSpec, Removed, Reset, Upsert
from vtui.backends.cgroups import CounterReader
from vtui.backends.docker_logs import LOGS_JOIN_TIMEOUT, LOGS_THREAD, LinePipe
from vtui.backends.docker_nodes import container_node, inspected_node
from vtui.backends.docker_socket import ApiRefused, get_json
from vtui.backends.docker_stats import api_sample
from vtui.console.docker_exec import DEFAULT_SHELL, open_attach, open_exec
from vtui.console.session import SHELL, ConsoleRequest, ConsoleSession, NotRunning, ViewOnly
from vtui.errors import CommandFailed, ConsoleError, EngineError, HostError, LogsUnavailable, Refused
from vtui.model import Kind, Node, State
from vtui.model.stats import Sample
from vtui.transport import Transport

if TYPE_CHECKING:
    import docker
    import docker.errors
    import requests

log = logging.getLogger(__name__)

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL, as docker stop
OPEN_WAIT = 20.0  # seconds a call waits for a connect() under way (docker-py's own timeout is 15)
FIRST_LISTING_TIMEOUT = 5.0  # seconds; then connect() takes over, with its own timeout and messages
LIFECYCLE_THREADS = 16  # containers made or removed at once (and docker-py's connections)



def _load_docker_py() -> None:
    """docker-py and requests (about 0.1 s to import, as much as the rest of the first frame):
    imported when the first API client is made, in the backend's thread, not at start-up."""
    global docker, requests  # the module's names for them, bound once
    import docker
    import docker.errors
    import requests


def default_base_url() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


_CAUSES: tuple[tuple[type[OSError], str, str], ...] = (
    (FileNotFoundError, "No such file or directory", "dockerd is not running (no socket at {where})"),
    (PermissionError, "Permission denied", "permission denied on {where} (run as root or join the docker group)"),
    (ConnectionRefusedError, "Connection refused", "dockerd is not accepting connections on {where}"),
)


def _causes(err: BaseException) -> list[BaseException]:
    """The error and what it wraps: requests and urllib3 keep OS errors in args or .reason."""
    seen: list[BaseException] = []
    todo: list[object] = [err]
    while todo:
        item = todo.pop()
        if isinstance(item, BaseException) and item not in seen:
            seen.append(item)
            todo += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return seen


def explain(base_url: str, err: BaseException) -> str:
    """Turn a docker-py/requests failure into a sentence."""
    where = base_url.removeprefix("unix://")
    causes = _causes(err)
    text = " ".join(str(c) for c in causes)
    for exc_type, needle, sentence in _CAUSES:
        if needle in text or any(isinstance(c, exc_type) for c in causes):
            return sentence.format(where=where)
    return f"{err} ({base_url})"


class DockerBackend(Backend):
    engine = "docker"
    kind = Kind.CONTAINER
    capabilities = frozenset({Capability.EXIT_STATE, Capability.NETNS, Capability.CREATE})

    def __init__(
        self, host: str, base_url: str, counters: CounterReader | None = None, *, read_only: bool = False,
        transport: Transport | None = None,
    ) -> None:
        """`counters` reads the kernel's counter files where the containers run (LocalCounters on this
        machine, RemoteCounters over a host's connection); without it, the stats API."""
        super().__init__(host, base_url, read_only=read_only, transport=transport)
        self._api: docker.APIClient | None = None
        self._counters = counters
        self._first: Future[Any] | None = None  # warm_up()'s listing, until first_listing() takes it
        # clear until connect() has tried to make the client: a call made before (the nodes can be on
        # screen first, from warm_up) waits for it; after a failed connect() or close(), calls fail at once
        self._opening = threading.Event()
        # the stats API costs ~1 s per container: its own threads, so it never delays events
        self._stats_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vtui-docker-stats")
        # containers made and removed by labs: dockerd does many at once, as `docker rm -f A B …` asks it to
        self._lifecycle_pool = ThreadPoolExecutor(max_workers=LIFECYCLE_THREADS, thread_name_prefix="vtui-docker-make")

    @property
    def api(self) -> docker.APIClient:
        """The client; while connect() makes it (the nodes can be on screen before, from warm_up), the
        calling thread waits for it. Called on the event loop only after `await self._connected()`."""
        if self._api is None and not self._opening.is_set():
            self._opening.wait(OPEN_WAIT)
        if self._api is None:
            _load_docker_py()  # the callers' except clauses name its errors
            raise self.unavailable("not connected")
        return self._api

    async def _connected(self) -> None:
        """Wait, off the event loop, for a connect() under way to finish."""
        if not self._opening.is_set():
            await asyncio.to_thread(self._opening.wait, OPEN_WAIT)

    def warm_up(self) -> None:
        """This machine's socket: its containers fetched in a thread now, without docker-py."""
        if self.transport is None and self.target.startswith("unix://") and self._first is None:
            socket_path = self.target.removeprefix("unix://")
            self._first = self._pool.submit(get_json, socket_path, "/containers/json?all=1", FIRST_LISTING_TIMEOUT)

    def first_listing(self) -> list[Node] | None:
        first, self._first = self._first, None
        if first is None or not first.done():
            return None
        try:
            return [container_node(self.host, s) for s in first.result()]
        except (OSError, ApiRefused, ValueError, TypeError, KeyError) as err:  # TimeoutError is an OSError
            log.info("docker on %s: no first listing: %s", self.host, err)
            return None

    async def _connect(self) -> None:
        self._opening.clear()
        try:
            self._api = await self._call(self._open)
        finally:
            self._opening.set()

    def _open(self) -> docker.APIClient:
        _load_docker_py()
        api: docker.APIClient | None = None
        try:
            # version="auto" asks the daemon, so this is I/O: we are in a thread.
            api = docker.APIClient(base_url=self.target, version="auto", timeout=15, max_pool_size=LIFECYCLE_THREADS)
            api.ping()
        except (docker.errors.DockerException, requests.RequestException, OSError) as err:
            if api is not None:
                api.close()
            raise self.unavailable(explain(self.target, err)) from err
        return api

    async def close(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            await self._call(api.close)
        if self._counters is not None:
            await self._counters.close()

    async def list_nodes(self) -> list[Node]:
        return await self._call(self._list)

    def _list(self) -> list[Node]:
        try:
            summaries = self.api.containers(all=True)
        except (docker.errors.DockerException, requests.RequestException) as err:
            raise self.unavailable(explain(self.target, err)) from err
        return [container_node(self.host, s) for s in summaries]

    def _read(self, container_id: str) -> Node | None:
        """One container after an event: from inspect, since dockerd's list is a replica
        that can still show the state from before the event."""
        try:
            return inspected_node(self.host, self.api.inspect_container(container_id))
        except docker.errors.NotFound:
            return None
        except (docker.errors.DockerException, requests.RequestException) as err:
            raise self.unavailable(explain(self.target, err)) from err

    def _perform(self, node: Node, action: str, options: Options) -> str | None:
        api, cid = self.api, node.id
        timeout = int(options.timeout or STOP_TIMEOUT)
        calls = {
            "start": lambda: api.start(cid),
            "stop": lambda: api.stop(cid, timeout=timeout),
            "restart": lambda: api.restart(cid, timeout=timeout),
            "kill": lambda: api.kill(cid),
            "pause": lambda: api.pause(cid),
            "resume": lambda: api.unpause(cid),
            "remove": lambda: api.remove_container(cid, v=options.volumes),
        }
        if action not in calls:
            raise Refused(f"{action} is not implemented for containers")
        try:
            calls[action]()
        except docker.errors.APIError as err:
            raise Refused(f"{action} {node.name!r}: {err.explanation or err}") from err
        except requests.RequestException as err:
            raise self.unavailable(explain(self.target, err)) from err
        return None

    async def create(self, spec: NodeSpec) -> Node:
        self.check_writable(f"create the container {spec.name!r}")
        return await asyncio.get_running_loop().run_in_executor(self._lifecycle_pool, self._create, spec)

    def _create(self, spec: NodeSpec) -> Node:
        try:
            from vtui.backends.docker_create import make_container

            return make_container(self.api, self.host, spec)
        except docker.errors.APIError as err:
            raise Refused(f"create {spec.name!r} on {self.host}: {err.explanation or err}") from err
        except requests.RequestException as err:
            raise self.unavailable(explain(self.target, err)) from err

    async def discard(self, node: Node) -> bool:
        self.check_writable(f"remove {node.name!r}")

        def remove() -> bool:
            try:
                self.api.remove_container(node.id, v=True, force=True)
            except docker.errors.NotFound:
                return False
            except docker.errors.APIError as err:
                raise Refused(f"remove {node.name!r} on {self.host}: {err.explanation or err}") from err
            except requests.RequestException as err:
                raise self.unavailable(explain(self.target, err)) from err
            return True

        return await asyncio.get_running_loop().run_in_executor(self._lifecycle_pool, remove)

    async def run_in(self, node: Node, command: str) -> tuple[int, str]:
        self.check_writable(f"run a command in {node.name!r}")

        def run() -> tuple[int, str]:
            try:
                exec_id = self.api.exec_create(node.id, shlex.split(command))["Id"]
                output = self.api.exec_start(exec_id)
                code = self.api.exec_inspect(exec_id).get("ExitCode")
            except docker.errors.APIError as err:
                raise Refused(f"run {command!r} in {node.name!r}: {err.explanation or err}") from err
            except requests.RequestException as err:
                raise self.unavailable(explain(self.target, err)) from err
            return int(code if code is not None else -1), output.decode("utf-8", errors="replace")

        return await self._call(run)

    async def open_console(self, node: Node, request: ConsoleRequest = SHELL) -> ConsoleSession:
        """A shell in the container (bash if it has one, else sh) on a TTY, or with `request.attach`
        the container's own terminal, as `docker attach`."""
        if node.state is not State.RUNNING:
            what = "attaching" if request.attach else "a shell"
            raise NotRunning(f"{node.name!r} is {node.state}: {what} needs a running container")
        await self._connected()
        if request.attach:
            session = await open_attach(self.api, self._call, node.id, node.name)
            return ViewOnly(session) if self.read_only else session
        if self.read_only:
            raise ConsoleError(f"read-only mode: refused to open a shell in {node.name!r} (it starts a process "
                               "there); attaching shows its terminal without sending keys")
        return await open_exec(self.api, self._call, node.id, node.name, request.command or DEFAULT_SHELL,
                               request.user)

    async def exit_state(self, node: Node) -> dict[str, Any]:
        """State from inspect: ExitCode, OOMKilled, FinishedAt, Error (for triage)."""

        def inspect() -> dict[str, Any]:
            try:
                return dict(self.api.inspect_container(node.id).get("State") or {})
            except docker.errors.NotFound:
                return {}
            except (docker.errors.DockerException, requests.RequestException) as err:
                raise self.unavailable(explain(self.target, err)) from err

        return await self._call(inspect)

    async def netns_pid(self, node: Node) -> int:
        state = await self.exit_state(node)
        if not state:
            raise Refused(f"{node.name!r} no longer exists on {node.host}")
        if not state.get("Running") or not state.get("Pid"):
            raise Refused(f"{node.name!r} is {state.get('Status', 'not running')}: a link needs it running",
                                remedy="start")
        return int(state["Pid"])

    async def sample(self, nodes: Sequence[Node]) -> dict[str, Sample]:
        ids = [n.id for n in nodes]
        samples: dict[str, Sample] = {}
        missing, why = ids, "their cgroup files cannot be read here"
        if self._counters is not None:
            try:
                samples, missing = await self._counters.read(ids)
            except HostError as err:  # the host's connection failed: the event stream says so too
                raise self.unavailable(err.reason) from err
            except CommandFailed as err:
                log.warning("docker on %s: counters: %s", self.host, err)
                why = f"reading their counters failed: {err}"
        if missing:  # ~1 s of daemon work per container: only where the files are out of reach
            loop = asyncio.get_running_loop()
            fallback = await asyncio.gather(
                *(loop.run_in_executor(self._stats_pool, self._api_sample, i) for i in missing))
            samples.update({i: s for i, s in zip(missing, fallback, strict=True) if s is not None})
        self.stats_note = (
            f"stats of {len(missing)} container(s) come from the Docker API ({why}); "
            "this is slower and loads dockerd" if missing else ""
        )
        return {self.node_key(i): s for i, s in samples.items()}

    def _api_sample(self, container_id: str) -> Sample | None:
        try:
            raw = self.api.stats(container_id, stream=False, one_shot=True)
        except docker.errors.NotFound:
            return None  # removed meanwhile
        except (docker.errors.DockerException, requests.RequestException) as err:
            raise self.unavailable(explain(self.target, err)) from err
        return api_sample(raw, time.monotonic())

    async def watch(self) -> AsyncGenerator[Change, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | EngineError] = asyncio.Queue()
        try:
            stream = await self._call(self.api.events, None, None, {"type": ["container"]}, True)
        except (docker.errors.DockerException, requests.RequestException) as err:
            raise self.unavailable(explain(self.target, err)) from err

        def post(item: dict[str, Any] | EngineError) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def pump() -> None:
            reason = "lost the connection to dockerd (its event stream ended)"
            try:
                for event in stream:  # decoded JSON objects
                    if isinstance(event, dict):
                        post(event)
            except Exception as err:  # noqa: BLE001 - any failure ends the stream
                reason = explain(self.target, err)
            post(self.unavailable(reason))

        threading.Thread(target=pump, name="vtui-docker-events", daemon=True).start()
        try:
            yield Reset(tuple(await self.list_nodes()))
            while True:
                item = await queue.get()
                if isinstance(item, EngineError):
                    raise item
                container_id = str(item.get("id") or item.get("Actor", {}).get("ID", ""))
                if not container_id:
                    continue
                node = None if item.get("Action") == "destroy" else await self._call(self._read, container_id)
                yield Upsert(node) if node else Removed(self.node_key(container_id))
        finally:
            await self._call(stream.close)

    async def logs(self, node: Node, *, tail: int | None = 200, follow: bool = False) -> AsyncGenerator[str, None]:
        """stdout and stderr of the container, in the engine's order, as `docker logs` shows them.

        docker-py reads the stream in its own thread: without a TTY it strips the 8-byte frame
        headers (stream type, length) and hands over the payloads; with a TTY the stream is raw and
        comes byte by byte. Either way lines may be split across chunks: LineSplitter joins them.
        """
        await self._connected()
        api, pipe = self.api, LinePipe(asyncio.get_running_loop())

        def pump() -> None:
            error: Exception | None = None
            try:
                stream = api.logs(node.id, stdout=True, stderr=True, stream=True, follow=follow,
                                  tail="all" if tail is None else tail, timestamps=False)
                if pipe.attach(stream):  # else closed meanwhile
                    lines = LineSplitter()
                    for chunk in stream:  # ends when the container stops, or on close()
                        pipe.put(lines.feed(chunk.encode() if isinstance(chunk, str) else chunk))
                    pipe.put(lines.flush())
            except docker.errors.NotFound:
                error = LogsUnavailable(f"no container {node.name!r} on {self.host} (removed?)")
            except docker.errors.APIError as err:  # e.g. a logging driver that cannot be read back
                error = LogsUnavailable(f"logs of {node.name!r}: {err.explanation or err}")
            except Exception as err:  # noqa: BLE001 - any other failure is the connection's, and ends the stream
                error = self.unavailable(explain(self.target, err))
            pipe.end(error)

        thread = threading.Thread(target=pump, name=LOGS_THREAD, daemon=True)
        thread.start()
        try:
            while (batch := await pipe.get()) is not None:
                for line in batch:
                    yield line
        finally:
            pipe.close()
            if thread.is_alive():
                await self._call(thread.join, LOGS_JOIN_TIMEOUT)

