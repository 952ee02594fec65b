"""supervisord runs a program again after it is killed, ends what the dead one left behind,
and retries a program that fails at start until it is stopped."""
from __future__ import annotations

import os
import signal
import sys
import time
import types

import pytest

from personastream_stack import supervision
from personastream_stack.reaper import alive
from personastream_stack.supervision import Program

# A server that starts a worker (same process group), records the worker's pid, and runs on.
SERVER = ("import subprocess, sys, time; "
          "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
          "open(sys.argv[1], 'w').write(str(w.pid)); time.sleep(600)")


@pytest.fixture
def settings(tmp_path):
    s = types.SimpleNamespace(state_dir=tmp_path)
    yield s
    for program in (tmp_path / "supervisor" / "programs").glob("*.conf"):
        Program(s, program.stem, tmp_path).terminate()
    supervision.shutdown(s)


def wait_until(check, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (value := check()):
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s}s")


def test_a_killed_program_restarts_and_its_orphaned_worker_is_ended(settings, tmp_path):
    server = Program(settings, "server", tmp_path / "server")
    worker_file = tmp_path / "worker.pid"
    first = server.start([sys.executable, "-c", SERVER, str(worker_file)])
    first_worker = int(wait_until(lambda: worker_file.exists() and worker_file.read_text()))

    os.kill(first, signal.SIGKILL)  # the server alone, as a crash would

    second = wait_until(lambda: (pid := server.running_pid()) != first and pid)
    wait_until(lambda: not alive(first_worker))  # the reaper ended the orphan
    assert second != first and server.state() in {"STARTING", "RUNNING"}
    assert server.terminate() and server.running_pid() is None


def test_a_program_that_fails_at_start_is_retried_until_stopped(settings, tmp_path):
    failing = Program(settings, "failing", tmp_path / "failing")
    failing.start([sys.executable, "-c", "print('cannot bind port 1234'); raise SystemExit(3)"])
    wait_until(lambda: failing.state() == "BACKOFF")  # started again after a pause
    assert "cannot bind port 1234" in failing.log_file.read_text()
    assert failing.terminate() is False  # it was not running; its retries end
    assert failing.state() == "STOPPED"


def test_programs_left_by_a_supervisord_that_died_are_ended_before_a_new_one_starts(settings,
                                                                                    tmp_path):
    server = Program(settings, "server", tmp_path / "server")
    first = server.start([sys.executable, "-c", "import time; time.sleep(600)"])
    wait_until(lambda: server.state() == "RUNNING", timeout_s=10)
    old = int((tmp_path / "supervisor" / "supervisord.pid").read_text())
    os.kill(old, signal.SIGKILL)  # the server runs on, unsupervised, holding its port
    wait_until(lambda: not supervision.running(settings))

    second = server.start([sys.executable, "-c", "import time; time.sleep(600)"])

    assert not alive(first) and second != first and server.running_pid() == second
