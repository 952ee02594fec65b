"""The local stack's servers run under supervisord (one per state directory): a server that
crashes is started again by itself, with supervisord's backoff, and a crashed server's leftover
workers are ended (:mod:`personastream_stack.reaper`).

supervisord rather than our own process control: it is the well-kept, widely deployed
supervisor on PyPI, does restarts with backoff, stops a program's whole process group, rotates
logs, and is driven over XML-RPC (``supervisorctl`` works on the same socket:
``supervisorctl -c <state_dir>/supervisor/supervisord.conf status``).

>>> import sys, tempfile, types
>>> settings = types.SimpleNamespace(state_dir=Path(tempfile.mkdtemp()))
>>> sleeper = Program(settings, "sleeper", settings.state_dir / "sleeper")
>>> pid = sleeper.start([sys.executable, "-c", "import time; time.sleep(60)"])
>>> sleeper.running_pid() == pid
True
>>> sleeper.terminate(), sleeper.running_pid()
(True, None)
>>> shutdown(settings)
True
"""
from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path
from typing import Mapping, Sequence

from supervisor.xmlrpc import Faults, SupervisorTransport

from personastream_stack import reaper
from personastream_stack.errors import StackError
from personastream_stack.process import log_tail

log = logging.getLogger(__name__)

#: A program that exits within this many seconds of its start did not start: supervisord tries
#: again after 1, 2, 3 ... s, :data:`START_RETRIES` times, then gives up (state FATAL).
START_SECONDS = 5
START_RETRIES = 10
#: SIGTERM to the program's process group, SIGKILL after this many seconds.
STOP_WAIT_S = 60
#: Program states in which it has a live process.
LIVE_STATES = frozenset({"STARTING", "RUNNING", "STOPPING"})


def directory(settings) -> Path:
    return settings.state_dir / "supervisor"


def programs_dir(settings) -> Path:
    """One ``<name>.conf`` per program ever started (supervisord includes them all)."""
    return directory(settings) / "programs"


def config_file(settings) -> Path:
    return directory(settings) / "supervisord.conf"


def _socket(settings) -> Path:
    return directory(settings) / "supervisor.sock"


def _quote(value: object) -> str:
    """A value for supervisord's configuration (``%`` is its interpolation character)."""
    return str(value).replace("%", "%%")


def _main_config(settings) -> str:
    here = directory(settings)
    return f"""\
[unix_http_server]
file={_quote(_socket(settings))}
chmod=0700

[supervisord]
logfile={_quote(here / "supervisord.log")}
pidfile={_quote(here / "supervisord.pid")}
childlogdir={_quote(here)}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{_quote(_socket(settings))}

[eventlistener:reaper]
command={_quote(shlex.join([sys.executable, "-m", "personastream_stack.reaper"]))}
events=PROCESS_STATE
autorestart=true
stdout_logfile=NONE
stderr_logfile={_quote(here / "reaper.log")}

[include]
files={_quote(programs_dir(settings))}/*.conf
"""


def rpc(settings) -> xmlrpc.client.ServerProxy:
    """supervisord's XML-RPC interface (``rpc(s).supervisor.getAllProcessInfo()``)."""
    transport = SupervisorTransport(None, None, f"unix://{_socket(settings)}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def running(settings) -> bool:
    try:
        return rpc(settings).supervisor.getState()["statename"] == "RUNNING"
    except OSError:
        return False


def end_unsupervised(settings, timeout_s: float = STOP_WAIT_S) -> list[int]:
    """End the programs a previous supervisord of this state directory left when it died
    (``kill -9``): nobody restarts them any more and they hold the servers' ports. They are
    the process groups of its session (whose id is its pid, kept in its pid file): SIGTERM,
    SIGKILL after ``timeout_s``. Returns the groups ended."""
    try:
        previous = int((directory(settings) / "supervisord.pid").read_text())
    except (OSError, ValueError):
        return []
    deadline = time.monotonic() + 5  # killed, it may not have finished dying
    while reaper.alive(previous) and time.monotonic() < deadline:
        time.sleep(0.1)
    if reaper.alive(previous):  # it runs (hung), or its pid is another's now (Linux gives
        return []  # no new process the id of a session that still has members)
    groups = reaper.session_groups(previous)
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10)):
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
        deadline = time.monotonic() + wait_s
        while reaper.session_groups(previous) and time.monotonic() < deadline:
            time.sleep(0.2)
    if groups:
        log.warning("ended %d program(s) left by a supervisord that died (pid %d)",
                    len(groups), previous)
    return groups


def ensure_running(settings, timeout_s: float = 20) -> None:
    """Start this state directory's supervisord unless it runs (it daemonizes itself), after
    ending what a previous one that died left running."""
    if running(settings):
        return
    end_unsupervised(settings)
    here = directory(settings)
    programs_dir(settings).mkdir(parents=True, exist_ok=True)
    config_file(settings).write_text(_main_config(settings))
    done = subprocess.run([sys.executable, "-m", "supervisor.supervisord",
                           "-c", str(config_file(settings))], capture_output=True, text=True)
    deadline = time.monotonic() + timeout_s
    while not running(settings):
        if done.returncode != 0 or time.monotonic() > deadline:
            raise StackError(f"supervisord did not start ({done.returncode}): "
                             f"{done.stdout}{done.stderr}\nend of {here / 'supervisord.log'}:\n"
                             f"{log_tail(here / 'supervisord.log')}")
        time.sleep(0.1)
    log.info("supervisord started, configuration %s", config_file(settings))


def shutdown(settings) -> bool:
    """Stop supervisord once none of its programs runs; True if it was stopped now."""
    if not running(settings):
        return False
    server = rpc(settings).supervisor
    if any(p["statename"] in LIVE_STATES for p in server.getAllProcessInfo()
           if p["group"] != "reaper"):
        return False
    server.shutdown()
    pid_file = directory(settings) / "supervisord.pid"
    while pid_file.exists():
        time.sleep(0.1)
    return True


def _await_own_group(pid: int, timeout_s: float = 2) -> None:
    """Wait until a program just (re)started leads its process group: supervisord signals the
    group, and a child still between fork and ``setpgrp`` would miss the SIGTERM (supervisord
    then takes it for gone and kills it only after :data:`STOP_WAIT_S`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if os.getpgid(pid) == pid:
                return
        except ProcessLookupError:
            return
        time.sleep(0.01)


class Program:
    """A server run by supervisord, its output in ``<run_dir>/<name>.log``; the interface of
    :class:`personastream_stack.process.Daemon` (name, log_file, running_pid, terminate)."""

    def __init__(self, settings, name: str, run_dir: Path):
        self.settings = settings
        self.name = name
        self.log_file = run_dir / f"{name}.log"
        self.config = programs_dir(settings) / f"{name}.conf"

    def info(self) -> dict | None:
        """supervisord's view of the program (state, pid, ...); None if it is not known."""
        try:
            return rpc(self.settings).supervisor.getProcessInfo(self.name)
        except OSError:  # supervisord is not running
            return None
        except xmlrpc.client.Fault as fault:
            if fault.faultCode == Faults.BAD_NAME:
                return None
            raise

    def status(self) -> tuple[int | None, str]:
        """Its pid while it has a live process (else None), and its state: RUNNING, BACKOFF
        (restarting), FATAL (gave up: see the log), STOPPED, ..., UNKNOWN (not known)."""
        info = self.info()
        if info is None:
            return None, "UNKNOWN"
        return info["pid"] or None if info["statename"] in LIVE_STATES else None, info["statename"]

    def running_pid(self) -> int | None:
        return self.status()[0]

    def state(self) -> str:
        return self.status()[1]

    def _write_config(self, argv: Sequence[str], env: Mapping[str, str],
                      cwd: Path | None, stop_signal: str = "TERM") -> None:
        environment = ",".join(f'{k}="{_quote(v)}"' for k, v in env.items())
        lines = [f"[program:{self.name}]", f"command={_quote(shlex.join(map(str, argv)))}",
                 "autostart=false\nautorestart=true",
                 f"startsecs={START_SECONDS}\nstartretries={START_RETRIES}",
                 f"stopsignal={stop_signal}\nstopwaitsecs={STOP_WAIT_S}",
                 "stopasgroup=true\nkillasgroup=true\nredirect_stderr=true",
                 f"stdout_logfile={_quote(self.log_file)}",
                 "stdout_logfile_maxbytes=50MB\nstdout_logfile_backups=2"]
        if environment:
            lines.append(f"environment={environment}")
        if cwd is not None:
            lines.append(f"directory={_quote(cwd)}")
        self.config.parent.mkdir(parents=True, exist_ok=True)
        partial = self.config.with_suffix(".partial")
        partial.write_text("\n".join(lines) + "\n")
        partial.chmod(0o600)  # the environment may hold secrets
        os.replace(partial, self.config)

    def start(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
              cwd: Path | None = None, stop_signal: str = "TERM") -> int:
        """Run ``argv`` under supervisord (restarted whenever it exits), unless it runs;
        return its pid. ``env`` is added to supervisord's; ``stop_signal`` is what stops it
        (PostgreSQL's fast shutdown is INT: TERM waits for its clients to leave)."""
        ensure_running(self.settings)
        if (pid := self.running_pid()) is not None:
            return pid
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._write_config(argv, env or {}, cwd, stop_signal)
        server = rpc(self.settings).supervisor
        added, changed, _ = server.reloadConfig()[0]
        if self.name in changed:
            with contextlib.suppress(xmlrpc.client.Fault):  # not running
                server.stopProcess(self.name, True)
            server.removeProcessGroup(self.name)
        if self.name in added or self.name in changed:
            server.addProcessGroup(self.name)
        try:
            server.startProcess(self.name, False)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode != Faults.ALREADY_STARTED:
                raise StackError(f"supervisord could not start {self.name}: {fault.faultString}; "
                                 f"end of {self.log_file}:\n{log_tail(self.log_file)}") from None
        pid = self.running_pid()
        if pid is None:
            raise StackError(f"{self.name} exited at start ({self.state()}); end of "
                             f"{self.log_file}:\n{log_tail(self.log_file)}")
        log.info("%s started under supervisord, pid %d, log %s", self.name, pid, self.log_file)
        return pid

    def terminate(self, wait: bool = True) -> bool:
        """Stop the program (SIGTERM to its process group, SIGKILL after :data:`STOP_WAIT_S`)
        and leave it stopped, or stop its restarts; False if it was not running. ``wait``
        False: return at once (then :meth:`wait_stopped`)."""
        pid, state = self.status()
        if pid is not None:
            _await_own_group(pid)
        if state in LIVE_STATES or state == "BACKOFF":
            rpc(self.settings).supervisor.stopProcess(self.name, wait)
        return state in LIVE_STATES

    def wait_stopped(self) -> None:
        """Wait until the program has stopped (supervisord kills it after its stop wait)."""
        while self.running_pid() is not None:
            time.sleep(0.2)
