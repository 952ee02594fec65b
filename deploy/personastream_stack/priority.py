"""CPU priority of the local stream processing: the request-serving servers first.

On one machine every server shares the same cores. When the Flink jobs are behind (a backlog,
or more traffic than they can carry) their TaskManagers take every core they can get, and the
collector and the API answer late or not at all, although Kafka would have kept the events for
the jobs to catch up later. So the local TaskManagers (and the Python workers they start) run
at a lower priority, ``flink_taskmanager_nice`` (Linux niceness, 0-19): they get all the CPU
the request path leaves idle and give way when it needs it. NiFi, Kafka, Cassandra and the API
keep the default priority. On a real cluster each tier has machines of its own.

Niceness is per thread in Linux, so :func:`renice` sets every thread of every process of a
tree; threads and processes started later inherit it from their parent.

>>> import os
>>> renice([os.getpid()], os.getpriority(os.PRIO_PROCESS, 0)) >= 1  # this process and its children
True
>>> set(thread_niceness(os.getpid())) == {os.getpriority(os.PRIO_PROCESS, 0)}
True
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from personastream_contracts.settings import LOWEST_NICE
from personastream_stack.errors import StackError

#: Why the system refuses a niceness: said by every error that sets one.
NEEDS_ROOT = "lowering a niceness needs root (CAP_SYS_NICE), raising it does not"


def _stat(path: Path) -> list[str]:
    """The fields of a ``/proc`` ``stat`` file after the command name (field 3 onwards)."""
    return path.read_text().rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int(_stat(entry / "stat")[1])
                children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        out.append(todo.pop())
        todo += children.get(out[-1], [])
    return out


def renice(roots: list[int], nice: int, descendants_only: bool = False) -> int:
    """Set the niceness of every thread of ``roots`` and their descendants (with
    ``descendants_only``, not the roots' own: e.g. a TaskManager's Python workers) to ``nice``;
    return how many processes were set. Raises :class:`StackError` if ``nice`` is out of 0-19,
    or if the system refuses (a lower niceness than a thread has needs CAP_SYS_NICE)."""
    if not 0 <= nice <= LOWEST_NICE:
        raise StackError(f"niceness must be 0 to {LOWEST_NICE}, got {nice}")
    pids = [p for root in roots for p in process_tree(root)
            if not (descendants_only and p == root)]
    for pid in pids:
        try:
            _set_threads(pid, nice)
        except PermissionError as err:
            raise StackError(f"cannot set niceness {nice} on pid {pid}: {err}; "
                             f"{NEEDS_ROOT}") from None
    return len(pids)


def set_own_niceness(nice: int) -> str | None:
    """Set the niceness of every thread of this process (the threads and processes they start
    afterwards inherit it); return why not if the system refuses (a lower niceness needs root,
    CAP_SYS_NICE).

    >>> set_own_niceness(os.getpriority(os.PRIO_PROCESS, 0)) is None
    True
    """
    try:
        _set_threads(os.getpid(), nice)
    except PermissionError as err:
        return f"cannot set niceness {nice} ({err}): {NEEDS_ROOT}"
    return None


def _set_threads(pid: int, nice: int) -> None:
    """Set every thread of ``pid`` to ``nice``; a process or thread that just ended is skipped,
    a refusal raises :class:`PermissionError`."""
    with contextlib.suppress(FileNotFoundError):  # the process just ended
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(ProcessLookupError):  # the thread just ended
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


def thread_niceness(pid: int) -> list[int]:
    """The niceness of each thread of ``pid`` (field 19 of its tasks' ``stat``)."""
    return [int(_stat(task / "stat")[16]) for task in Path(f"/proc/{pid}/task").iterdir()]
