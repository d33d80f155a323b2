"""Container counters of a remote host: one shell command per poll over the host's connection.

The command runs SCRIPT, a POSIX sh script (dash, busybox ash, bash), with the container ids
as arguments. It finds each container's cgroup directory among the layouts that
`candidate_layouts` lists (in that order), then has a single `head` print every counter file
of every container, and of its first process /proc/PID/net/dev, each under head's
"==> path <==" header. Its output:

    vtui-mem MemTotal:       16384000 kB      /proc/meminfo's line, once
    vtui-ctr <id> <layout> <pid>              per container found: its index in
    ...                                         candidate_layouts, a pid of it (or nothing)
    ==> /sys/fs/cgroup/cpuacct/docker/<id>/cpuacct.usage <==
    123456789
                                              (head's blank line between files)
    ==> /proc/<pid>/net/dev <==
    ...
    vtui-end                                  last: what came before is complete

Python maps the paths back to each container through the same CounterFiles the local reader
opens, and builds Samples with the same parsing (`sample_from_texts`). Ids the script did not
find, or whose files vanished before head read them (the container stopped), are missing.

Nothing is remembered between polls: discovery costs a few `test -e` builtins per container,
and the memory limit is one more tiny file in the same head, so it is read every poll (no
cache to go stale when `docker update --memory` changes it, and no per-container state).
"""

from __future__ import annotations

import functools
import re
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from vtui.backends.cgroups import (
    CounterFiles,
    candidate_layouts,
    memory_limit,
    parse_mem_total,
    sample_from_texts,
)
from vtui.errors import CommandFailed
from vtui.model.stats import Sample

Runner = Callable[[str], Awaitable[str]]
"""Runs one shell command line on the host and returns its stdout; raises when the transport fails."""

CONTAINER_ID = re.compile(r"[0-9a-f]{12,64}")

# Arguments: the root the host's files are under ("" for /; a test tree otherwise), then ids.
# The layouts are tried in candidate_layouts' order, k counting them; file names as CounterFiles.
# head -n: more lines than any counter file has.
# No single quote, backslash or "!" in it: quoted once it is a literal for sh, bash, zsh and fish.
SCRIPT = """\
root=$1
shift
cg=$root/sys/fs/cgroup
nl="
"
files=
while IFS= read -r line; do
  case $line in MemTotal:*) echo "vtui-mem $line"; break ;; esac
done < "$root/proc/meminfo"
for id in "$@"; do
  k=0
  v=
  for ctl in "" cpuacct cpu,cpuacct; do
    for d in "docker/$id" "system.slice/docker-$id.scope"; do
      if [ -z "$ctl" ] && [ -e "$cg/$d/cpu.stat" ]; then v=2; break 2; fi
      if [ -n "$ctl" ] && [ -e "$cg/$ctl/$d/cpuacct.usage" ]; then v=1; break 2; fi
      k=$((k + 1))
    done
  done
  if [ "$v" = 2 ]; then
    c=$cg/$d
    files=$files$c/cpu.stat$nl$c/memory.current$nl$c/memory.stat$nl$c/memory.max$nl$c/io.stat$nl
  elif [ "$v" = 1 ]; then
    c=$cg/$ctl/$d
    m=$cg/memory/$d
    files=$files$c/cpuacct.usage$nl$m/memory.usage_in_bytes$nl$m/memory.stat$nl$m/memory.limit_in_bytes$nl
    files=$files$cg/blkio/$d/blkio.throttle.io_service_bytes$nl
  else
    continue
  fi
  pid=
  { read -r pid < "$c/cgroup.procs"; } 2>/dev/null
  echo "vtui-ctr $id $k $pid"
  if [ -n "$pid" ]; then files=$files$root/proc/$pid/net/dev$nl; fi
done
if [ -n "$files" ]; then
  IFS=$nl
  set -f
  head -n 100000 $files 2>/dev/null
  echo
fi
echo vtui-end
"""

MEM, CONTAINER, END = "vtui-mem ", "vtui-ctr ", "vtui-end"
HEADER = re.compile(r"^==> (.*) <==\n", re.MULTILINE)  # head's, before each file


class CounterCommandError(CommandFailed):
    """The command ran but its output is cut short or not understood."""


def check_ids(container_ids: Sequence[str]) -> list[str]:
    """The ids, each once, in order; ValueError for any that is not 12 to 64 lowercase hex digits."""
    for cid in container_ids:
        if not CONTAINER_ID.fullmatch(cid):
            raise ValueError(f"not a container id: {cid!r}")
    return list(dict.fromkeys(container_ids))


def counter_command(container_ids: Sequence[str], root: str = "") -> str:
    """The command line reading the containers' counters (ids checked first)."""
    return shlex.join(["sh", "-c", SCRIPT, "sh", root, *check_ids(container_ids)])


@functools.lru_cache(maxsize=4096)
def layout_files(root: str, container_id: str, index: int) -> CounterFiles:
    """The files of a container's index-th candidate layout: path names only, kept since pathlib
    makes them slowly (about 0.1 ms a container)."""
    return CounterFiles.of(candidate_layouts(Path(root or "/"), container_id)[index])


def parse_output(
    output: str, container_ids: Sequence[str], root: str, now: float
) -> tuple[dict[str, Sample], list[str]]:
    """Samples from SCRIPT's output; the ids without complete files are missing."""
    text = output.rstrip("\n")
    if not (text == END or text.endswith("\n" + END)):
        tail = text[-80:].rpartition("\n")[2]
        raise CounterCommandError(f"the counter command's output is cut short (last line {tail!r})")
    preamble, *pairs = HEADER.split(text[:-len(END)])
    sections = dict(zip(pairs[::2], pairs[1::2], strict=True))  # path -> the file's text
    host_total: int | None = None
    found: dict[str, tuple[int, str]] = {}
    for line in preamble.splitlines():
        if line.startswith(MEM):
            host_total = parse_mem_total(line[len(MEM):])
        elif line.startswith(CONTAINER):  # id, layout index, and a pid unless the cgroup has no process
            cid, index, *pids = line[len(CONTAINER):].split()
            if index.isdigit():
                found[cid] = (int(index), pids[0] if pids and pids[0].isdigit() else "")
        # anything else came before the script (a shell's rc file printing): not ours
    if host_total is None:
        raise CounterCommandError("the counter command printed no MemTotal (is /proc/meminfo readable?)")

    samples: dict[str, Sample] = {}
    missing: list[str] = []
    for cid in container_ids:
        if cid not in found:
            missing.append(cid)
            continue
        k, pid = found[cid]
        net = f"{root}/proc/{pid}/net/dev"
        try:
            files = layout_files(root, cid, k)
            samples[cid] = sample_from_texts(
                files.v2, now, cpu=sections[files.cpu], memory=sections[files.memory],
                memory_stat=sections[files.memory_stat], io=sections[files.io],
                limit=memory_limit(sections[files.memory_limit], host_total),
                net_dev=sections.get(net) if pid else None)  # None too if it exited before head read it
        except (KeyError, IndexError, ValueError):  # KeyError: gone before head read its files
            missing.append(cid)
    return samples, missing


class RemoteCounters:
    """A remote host's containers: one command per poll through `run`, the host's connection.

    `root` is where the host's files are ("/"), or a tree laid out as the kernel's (tests)."""

    def __init__(self, run: Runner, *, root: str = "/") -> None:
        self._run = run
        self._root = root.rstrip("/")

    async def read(self, container_ids: Sequence[str]) -> tuple[dict[str, Sample], list[str]]:
        ids = check_ids(container_ids)
        if not ids:
            return {}, []
        command = counter_command(ids, self._root)
        start = time.monotonic()
        output = await self._run(command)
        # the files were read somewhere between sending and receiving: the middle is the best guess
        now = (start + time.monotonic()) / 2
        return parse_output(output, ids, self._root, now)

    async def close(self) -> None:
        """Nothing held: the connection belongs to the host's transport."""
