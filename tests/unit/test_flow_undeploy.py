"""Deleting a test's process group: NiFi refuses (409) while a controller service is still being
disabled, and the deletion is asked again until it succeeds or the deadline passes. NiFi's
answers are stubbed: pure logic (the real deletion runs in every integration test's teardown)."""
from __future__ import annotations

import time

import nipyapi
import pytest

from personastream_flows import deploy
from personastream_flows.errors import FlowError

GROUP = object()


def conflict() -> nipyapi.nifi.rest.ApiException:
    error = nipyapi.nifi.rest.ApiException(status=409, reason="Conflict")
    error.body = "http_context_map cannot be deleted because it is not disabled"
    return error


@pytest.fixture
def nifi(monkeypatch):
    """delete_process_group answers each call with the next outcome (an exception is raised)."""
    calls: list[object] = []
    outcomes: list[object] = []

    def delete(group, force):
        calls.append(group)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
    monkeypatch.setattr(deploy.nipyapi.canvas, "delete_process_group", delete)
    monkeypatch.setattr(deploy, "find_group", lambda name: GROUP)
    monkeypatch.setattr(deploy.time, "sleep", lambda s: None)
    return calls, outcomes


def test_a_refused_deletion_is_asked_again_until_it_succeeds(nifi):
    calls, outcomes = nifi
    outcomes += [conflict(), ValueError("Timed Out waiting for _all_controllers_in_state"), None]
    deploy._delete_group(GROUP, "ingest_test_x", time.monotonic() + 60)
    assert calls == [GROUP] * 3


def test_past_the_deadline_or_another_error_it_says_what_to_do(nifi):
    calls, outcomes = nifi
    outcomes += [conflict()]
    with pytest.raises(FlowError, match="ingest_test_x could not be deleted.*NiFi UI"):
        deploy._delete_group(GROUP, "ingest_test_x", time.monotonic() - 1)
    forbidden = nipyapi.nifi.rest.ApiException(status=403, reason="Forbidden")
    outcomes += [forbidden]
    with pytest.raises(FlowError, match="Forbidden"):
        deploy._delete_group(GROUP, "ingest_test_x", time.monotonic() + 60)
    assert len(calls) == 2  # neither asked again
