"""Linux timer slack of a server's threads: how late the kernel may end a timed wait, so that
wake-ups coalesce.

Cassandra's request and mutation pools (its shared executor, ``SEPWorker``) keep an idle worker
in timed sleeps of 10 µs while requests keep coming, to pick up the next one without being
signalled: at the kernel's default slack (50 µs) that is ~16,000 wake-ups a second. Under the
trends job's writes async-profiler put 64 % of those pools' CPU in ``SEPWorker.doWaitSpin``.
With 500 µs of slack the same writes cost 132-137 µs of Cassandra CPU each instead of 195-219,
and the job carried 1.5x the events (``benchmarks/results/trends-state-2026-12-06/``). A
waiting request is still handed to a sleeping worker at once (the pool unparks it); only the
idle worker's own polling wakes later.

:func:`with_timer_slack` prefixes a server's command with a launcher that sets the slack
(``prctl(PR_SET_TIMERSLACK)``) and then runs the server in its place (same pid): every thread
the server starts inherits the slack. On a cluster, systemd sets the same with ``TimerSlackNSec=``
in the server's unit.

>>> import subprocess
>>> subprocess.run(with_timer_slack(["cat", "/proc/self/timerslack_ns"], 300),
...                capture_output=True, text=True, check=True).stdout
'300000\\n'
>>> with_timer_slack(["cat"], 0)  # the kernel's default: no launcher
['cat']
"""
from __future__ import annotations

import sys

#: ``prctl`` option that sets the calling thread's timer slack (``<linux/prctl.h>``).
PR_SET_TIMERSLACK = 29
_LAUNCHER = (
    "import ctypes, os, sys; slack = int(sys.argv[1]); "
    f"failed = ctypes.CDLL(None, use_errno=True).prctl({PR_SET_TIMERSLACK}, slack, 0, 0, 0); "
    "failed and sys.exit(f'prctl(PR_SET_TIMERSLACK, {slack}) failed: "
    "{os.strerror(ctypes.get_errno())}'); os.execvp(sys.argv[2], sys.argv[2:])")


def with_timer_slack(argv: list[str], slack_us: int) -> list[str]:
    """``argv`` run with a timer slack of ``slack_us`` µs (0: unchanged, the kernel's default)."""
    if slack_us == 0:
        return argv
    return [sys.executable, "-c", _LAUNCHER, str(slack_us * 1000), *argv]


def timer_slack_ns(pid: int) -> int:
    """The timer slack of process ``pid``'s main thread (ns)."""
    with open(f"/proc/{pid}/timerslack_ns") as f:
        return int(f.read())
