"""The reconciler's loop: it waits for a TaskManager, reports what it resubmits, samples the
jobs' lags, sets the Python workers' niceness, and backs off (doubling, capped) after rounds
that fail. Flink's REST answers and the local TaskManagers are stubbed: pure logic."""
from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
import requests

from personastream_stack import flink_jobs
from personastream_stack.errors import StackError
from personastream_stack.flink import FlinkUnreachable, rest_get
from personastream_stack.flink_jobs import JobError, JobInfo


@pytest.fixture(autouse=True)
def lag_samples(monkeypatch):
    samples: list[int] = []
    monkeypatch.setattr(flink_jobs.declared_jobs, "sample_lags",
                        lambda settings, get_json: samples.append(1))
    return samples


@pytest.fixture(autouse=True)
def prioritized(monkeypatch):
    """The calls of ``Flink(settings).prioritize_python_workers()``; ``stub.refusal``: what
    they raise."""
    calls: list[int] = []

    class Flink:
        refusal: StackError | None = None

        def __init__(self, settings):
            pass

        def prioritize_python_workers(self) -> int:
            calls.append(1)
            if Flink.refusal:
                raise Flink.refusal
            return 3
    monkeypatch.setattr(flink_jobs, "Flink", Flink)
    return SimpleNamespace(calls=calls, stub=Flink)


@pytest.fixture
def sleeps(monkeypatch):
    waited: list[float] = []
    monkeypatch.setattr(flink_jobs.time, "sleep", waited.append)
    return waited


def rounds_of(monkeypatch, outcomes):
    """reconcile() answers each round with the next outcome (an exception is raised)."""
    outcomes = iter(outcomes)

    def reconcile(settings):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    monkeypatch.setattr(flink_jobs, "reconcile", reconcile)


def test_failed_rounds_double_the_wait_up_to_the_cap_and_success_resets_it(monkeypatch, sleeps,
                                                                           lag_samples,
                                                                           prioritized):
    monkeypatch.setattr(flink_jobs, "rest_get", lambda s, path, timeout_s: {"taskmanagers": 1})
    monkeypatch.setattr(flink_jobs, "MAX_RECONCILE_BACKOFF_S", 60)
    resubmitted = JobInfo("a" * 32, "land_events", "RUNNING", 0)
    rounds_of(monkeypatch, [JobError("refused")] * 3 + [[(resubmitted, "/cp/chk-7")], []])
    lines: list[str] = []
    flink_jobs.watch(None, interval_s=10, report=lines.append, rounds=5)
    assert sleeps == [20, 40, 60, 10, 10]
    assert lines[0] == "reconciling failed, trying again in 20s: refused"
    assert lines[3] == ("land_events was declared but not running: resubmitted as "
                        f"{'a' * 32} from /cp/chk-7")
    assert len(lines) == 4
    assert len(lag_samples) == 2  # sampled after each round that did not fail
    assert len(prioritized.calls) == 2  # the Python workers' niceness set after each of them too


def test_a_refused_niceness_is_reported_and_the_loop_goes_on(monkeypatch, sleeps, prioritized):
    monkeypatch.setattr(flink_jobs, "rest_get", lambda s, path, timeout_s: {"taskmanagers": 1})
    rounds_of(monkeypatch, [[], []])
    prioritized.stub.refusal = StackError("cannot set niceness 19 on pid 7: denied")
    lines: list[str] = []
    flink_jobs.watch(None, interval_s=10, report=lines.append, rounds=2)
    assert sleeps == [10, 10] and len(prioritized.calls) == 2
    assert lines == ["could not set the Python workers' niceness: cannot set niceness 19 on "
                     "pid 7: denied"] * 2


def test_nothing_is_submitted_while_flink_has_no_taskmanager_or_does_not_answer(
        monkeypatch, sleeps, lag_samples, prioritized):
    answers = iter([{"taskmanagers": 0}, requests.ConnectionError("refused")])

    def rest_get(settings, path, timeout_s):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer
    monkeypatch.setattr(flink_jobs, "rest_get", rest_get)
    rounds_of(monkeypatch, [])  # any call would fail the test with StopIteration
    lines: list[str] = []
    flink_jobs.watch(None, interval_s=5, report=lines.append, rounds=2)
    assert sleeps == [5, 5] and lines == [] and lag_samples == [] and prioritized.calls == []


def test_an_unreachable_flink_says_how_to_start_it_and_stays_a_connection_error():
    with socket.socket() as s:  # a loopback port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FlinkUnreachable, match="personastream stack up flink") as err:
        rest_get(SimpleNamespace(flink_rest_url=f"http://127.0.0.1:{port}"), "/jobs/overview")
    assert isinstance(err.value, requests.ConnectionError)  # the reconciler's waits still hold
