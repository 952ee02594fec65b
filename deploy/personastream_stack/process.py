"""Processes tracked by pid files (a benchmark's own API servers; the stack's servers run under
supervisord, :mod:`personastream_stack.supervision`), and waits that name what they wait for.

>>> import tempfile, sys
>>> d = Daemon("sleeper", Path(tempfile.mkdtemp()), marker="time.sleep(30)")
>>> pid = d.spawn([sys.executable, "-c", "import time; time.sleep(30)"])
>>> d.running_pid() == pid
True
>>> d.terminate(timeout_s=5)
True
>>> d.running_pid() is None
True
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

from personastream_stack.errors import StackError, StackTimeout

log = logging.getLogger(__name__)

EXEC_TIMEOUT_S = 10


def cmdline(pid: int) -> str:
    """The command line of a live process, or '' if there is none."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_bytes(pid: int) -> int:
    """Resident memory of a process in bytes (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def log_tail(path: Path, n_lines: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(lines[-n_lines:])


class Daemon:
    """A server started in its own session, with stdout/stderr in ``<run_dir>/<name>.log``.

    The pid file is trusted only while ``/proc/<pid>/cmdline`` still contains ``marker``, so a
    recycled pid never makes us report or kill a stranger's process.
    """

    def __init__(self, name: str, run_dir: Path, marker: str):
        self.name = name
        self.marker = marker
        self.pid_file = run_dir / f"{name}.pid"
        self.log_file = run_dir / f"{name}.log"

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self.marker in cmdline(pid) else None

    def spawn(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> int:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=cwd,
                                    env=dict(env) if env is not None else None,
                                    start_new_session=True)
        self.pid_file.write_text(f"{proc.pid}\n")
        if not self._await_exec(proc.pid, alive=lambda: proc.poll() is None):
            raise StackError(f"{self.name} exited at start; end of {self.log_file}:\n"
                             f"{log_tail(self.log_file)}")
        log.info("%s started, pid %d, log %s", self.name, proc.pid, self.log_file)
        return proc.pid

    def _await_exec(self, pid: int, alive: Callable[[], bool]) -> bool:
        """Wait until ``pid`` shows ``marker``: between fork and exec (and during exec, when
        the kernel reports an empty command line) it does not yet. False if it exited."""
        deadline = time.monotonic() + EXEC_TIMEOUT_S
        while self.marker not in cmdline(pid):
            if not alive():
                return False
            if time.monotonic() > deadline:  # forked but never exec'd the server
                raise StackError(f"{self.name} (pid {pid}) did not start its server within "
                                 f"{EXEC_TIMEOUT_S}s; see {self.log_file}")
            time.sleep(0.01)
        return True

    def terminate(self, timeout_s: float) -> bool:
        """SIGTERM, then SIGKILL after ``timeout_s``; then SIGKILL to what is left of its
        process group (workers it started: NiFi's Python processors, PyFlink's), unless that
        group is the caller's. False if it was not running."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        group = os.getpgid(pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while self.marker in cmdline(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.2)
        if self.marker in cmdline(pid):
            log.warning("%s (pid %d) ignored SIGTERM for %.0fs; killing it", self.name, pid, timeout_s)
            os.kill(pid, signal.SIGKILL)
            while self.marker in cmdline(pid):
                _reap(pid)
                time.sleep(0.1)
        if group != os.getpgrp():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True


def _reap(pid: int) -> None:
    """Collect a child that exited, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


T = TypeVar("T")


def poll(check: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.5) -> T:
    """Call ``check`` every ``interval_s`` until it returns something truthy, and return that;
    raise :class:`StackTimeout` naming ``what`` and the last value after ``timeout_s``. Unlike
    :func:`wait_for`, an exception of ``check`` propagates: what the integration tests wait
    with, where a failing check is a failure, not "not yet".

    >>> poll(iter([0, "", "ready"]).__next__, 1, "the third value", interval_s=0)
    'ready'
    >>> poll(lambda: [], 0, "a list with something in it", interval_s=0)
    Traceback (most recent call last):
    ...
    personastream_stack.errors.StackTimeout: timed out after 0s waiting for a list with \
something in it (last: [])
    """
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        if time.monotonic() >= deadline:
            raise StackTimeout(f"timed out after {timeout_s:.0f}s waiting for {what} "
                               f"(last: {value!r})")
        time.sleep(interval_s)
    return value


def wait_for(check: Callable[[], bool], *, what: str, timeout_s: float,
             daemon: Daemon | None = None, interval_s: float = 1.0) -> float:
    """Poll ``check`` until it is true; return the seconds waited.

    Raises :class:`StackTimeout` naming ``what`` after ``timeout_s``, or :class:`StackError`
    at once if ``daemon`` died meanwhile, with the end of its log.
    """
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except Exception as err:  # noqa: BLE001 - any failure of a probe means "not yet"
            log.debug("waiting for %s: %s", what, err)
        if daemon is not None and daemon.running_pid() is None:
            raise StackError(f"{daemon.name} exited while waiting for {what}; "
                             f"end of {daemon.log_file}:\n{log_tail(daemon.log_file)}")
        if time.monotonic() - start > timeout_s:
            where = f"; see {daemon.log_file}" if daemon else ""
            raise StackTimeout(f"timed out after {timeout_s:.0f}s waiting for {what}{where} "
                               "(raise startup_timeout_s if the machine is slow)")
        time.sleep(interval_s)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
