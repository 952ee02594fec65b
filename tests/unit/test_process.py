"""Daemon tracking and waits: a dead server or a timeout is reported with what was awaited."""
import sys

import pytest

from personastream_stack.errors import StackError, StackTimeout
from personastream_stack.process import Daemon, wait_for


def test_wait_reports_a_server_that_died_with_its_log(tmp_path):
    d = Daemon("crasher", tmp_path, marker="boom-marker")
    d.spawn([sys.executable, "-c", "import sys, time; print('boom-marker failed to bind'); "
             "sys.stdout.flush(); time.sleep(0.3); sys.exit(3)"])
    with pytest.raises(StackError, match="(?s)crasher exited while waiting for port 1.*failed to bind"):
        wait_for(lambda: False, what="port 1", timeout_s=30, daemon=d, interval_s=0.1)


def test_wait_times_out_naming_what(tmp_path):
    with pytest.raises(StackTimeout, match="waiting for the moon"):
        wait_for(lambda: False, what="the moon", timeout_s=0.3, interval_s=0.1)


def test_wait_returns_once_true():
    calls = iter([False, ValueError("not yet"), True])

    def check():
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert wait_for(check, what="x", timeout_s=5, interval_s=0.01) >= 0


def test_stale_pid_file_is_not_trusted(tmp_path):
    d = Daemon("ghost", tmp_path, marker="no-such-process-marker")
    d.pid_file.write_text("1\n")  # pid 1 exists but is not ours
    assert d.running_pid() is None
    assert d.terminate(timeout_s=1) is False
