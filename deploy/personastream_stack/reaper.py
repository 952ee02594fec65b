"""supervisord event listener that ends a crashed server's leftovers: the workers it started
(NiFi's Python processors, PyFlink's UDF workers) run on, orphaned, when the server dies on its
own (supervisord stops a program's process group only when it stops the program itself).

Each program leads a process group of its own inside supervisord's session (supervisord calls
``setsid`` when it daemonizes and ``setpgrp`` before each program's ``exec``). So whenever a
program changes state, every process of this session whose group leader is gone is an orphan of
a dead program, and is killed. Linux keeps a group's id unused while the group has members.

>>> orphan_groups(session=-1)
[]
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from supervisor import childutils


def _stat(pid: int | str) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name: state, ppid, pgrp, session, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet collected by its parent, does not)."""
    return (_stat(pid) or ["Z"])[0] != "Z"


def session_groups(session: int) -> list[int]:
    """Process groups of ``session`` other than its leader's."""
    groups = set()
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields and int(fields[3]) == session and int(fields[2]) != session:
            groups.add(int(fields[2]))
    return sorted(groups)


def orphan_groups(session: int) -> list[int]:
    """Process groups of ``session`` (other than its leader's) whose leader has exited."""
    return [g for g in session_groups(session) if not alive(g)]


def end_orphans() -> list[int]:
    """SIGKILL the orphaned groups of the session this listener shares with supervisord."""
    ended = []
    for group in orphan_groups(os.getsid(0)):
        try:
            os.killpg(group, signal.SIGKILL)
            ended.append(group)
        except ProcessLookupError:
            pass
    return ended


def main() -> None:
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        for group in end_orphans():
            event = childutils.get_headers(payload.split("\n", 1)[0])
            print(f"{headers['eventname']} of {event.get('processname')}: ended the leftovers "
                  f"of a dead program (process group {group})", file=sys.stderr, flush=True)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
