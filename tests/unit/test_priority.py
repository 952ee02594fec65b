"""The TaskManagers' niceness reaches every thread of every process of their tree; the API's,
set on every thread of its own process, is inherited by what it starts afterwards."""
import os
import subprocess
import sys
import time

import pytest

from personastream_contracts.errors import SettingsError
from personastream_contracts.settings import resolve
from personastream_stack.errors import StackError
from personastream_stack.priority import process_tree, renice, set_own_niceness, thread_niceness

# a process with three threads that starts a child process, then waits
FAMILY = """
import subprocess, sys, threading, time
for _ in range(3):
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.fixture
def family():
    parent = subprocess.Popen([sys.executable, "-c", FAMILY], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 10
    while len(thread_niceness(parent.pid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    yield parent.pid, child
    subprocess.run(["kill", str(child), str(parent.pid)], check=False)
    parent.wait()


def test_every_thread_of_the_tree_is_reniced(family):
    parent, child = family
    assert set(process_tree(parent)) == {parent, child}
    assert renice([parent], 7) == 2
    assert thread_niceness(parent) == [7] * len(thread_niceness(parent))
    assert len(thread_niceness(parent)) >= 4  # the main thread and three others
    assert thread_niceness(child) == [7]


def test_the_descendants_alone_are_reniced(family):
    """What the reconciler does to a TaskManager's Python workers."""
    parent, child = family
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert renice([parent], 9, descendants_only=True) == 1
    assert thread_niceness(child) == [9]
    assert set(thread_niceness(parent)) == {own}


def test_the_workers_niceness_is_checked_against_the_taskmanagers():
    assert resolve(environ={}).flink_python_worker_nice == 19
    with pytest.raises(SettingsError, match="PERSONASTREAM_FLINK_PYTHON_WORKER_NICE"):
        resolve(environ={"PERSONASTREAM_FLINK_PYTHON_WORKER_NICE": "5"})  # below 10


def test_a_niceness_out_of_range_is_refused(family):
    with pytest.raises(StackError, match="niceness must be 0 to 19, got 20"):
        renice([family[0]], 20)
    assert set(thread_niceness(family[0])) == {os.getpriority(os.PRIO_PROCESS, 0)}


def test_the_setting_is_checked_and_names_its_variable():
    assert resolve(environ={}).flink_taskmanager_nice == 10
    with pytest.raises(SettingsError, match="PERSONASTREAM_FLINK_TASKMANAGER_NICE"):
        resolve(environ={"PERSONASTREAM_FLINK_TASKMANAGER_NICE": "-5"})


# what `personastream serve` does: its own niceness first, then uvicorn's threads and workers
SERVER = """
import subprocess, sys, threading, time
from personastream_stack.priority import set_own_niceness
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()  # one thread before
print(set_own_niceness(int(sys.argv[1])), flush=True)
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def test_the_apis_niceness_reaches_its_threads_and_the_workers_it_starts():
    server = subprocess.Popen([sys.executable, "-c", SERVER, "6"], stdout=subprocess.PIPE,
                              text=True)
    applied, worker = server.stdout.readline().strip(), int(server.stdout.readline())
    try:
        assert applied == "None"  # raising a niceness needs no right
        assert thread_niceness(server.pid) == [6] * 3 and thread_niceness(worker) == [6]
    finally:
        subprocess.run(["kill", str(worker), str(server.pid)], check=False)
        server.wait()
    assert set_own_niceness(os.getpriority(os.PRIO_PROCESS, 0)) is None


def test_the_api_setting_is_checked_and_names_its_variable():
    assert resolve(environ={}).api_nice == 0
    assert resolve(environ={"PERSONASTREAM_API_NICE": "-10"}).api_nice == -10
    with pytest.raises(SettingsError, match="PERSONASTREAM_API_NICE"):
        resolve(environ={"PERSONASTREAM_API_NICE": "-21"})
