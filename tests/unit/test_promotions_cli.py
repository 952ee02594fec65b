"""`personastream promotions`: validate names the broken field; publish, activate, pause and
list go through the state transitions, over an in-memory control topic (no servers)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from personastream.commands import promotions
from personastream_contracts.settings import resolve
from personastream_models import promotion_rules as rules
from personastream_models.promotion_state import PromotionState

SETTINGS = resolve(environ={})


@pytest.fixture
def topic(monkeypatch):
    """The control topic as a dict of the latest record per promotion."""
    records: dict[str, str] = {}
    monkeypatch.setattr(promotions, "states", lambda settings: {
        k: PromotionState.from_json(v) for k, v in records.items()})

    def write(settings, state):
        state.running_rule()  # what the real write checks
        records[state.name] = state.to_json()

    monkeypatch.setattr(promotions, "write", write)
    return records


def run(*args: str):
    return CliRunner().invoke(promotions.promotions_group, list(args), obj=SETTINGS)


def candidate(tmp_path, **changes) -> str:
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps({**rules.load("mobile_welcome").to_dict(), **changes}))
    return str(path)


def test_validate_passes_every_rule_file():
    result = run("validate")
    n = sum(len(v) for v in rules.available().values())
    assert result.exit_code == 0 and f"{n} of {n} rules valid" in result.output


def test_validate_names_every_broken_field(tmp_path):
    result = run("validate", candidate(tmp_path, priority=-5, end="2020-01-01T00:00:00Z"),
                 "mobile_welcome")
    assert result.exit_code == 1
    assert "field 'priority' must be at least 0, got -5" in result.output
    assert "ok   mobile_welcome/1-0-0" in result.output and "1 of 2 rules valid" in result.output


def test_publish_activate_pause_and_list(topic, tmp_path):
    assert run("activate", "mobile_welcome").exit_code == 1  # not published yet
    result = run("publish", "mobile_welcome")
    assert result.exit_code == 0 and "mobile_welcome: paused 1-0-0" in result.output
    assert run("publish", "mobile_welcome").exit_code == 1  # published already
    # a later version of an active promotion waits for activate
    assert run("activate", "mobile_welcome").exit_code == 0
    assert run("publish", candidate(tmp_path, version="1-1-0", priority=25)).exit_code == 0
    assert PromotionState.from_json(topic["mobile_welcome"]).version == "1-0-0"
    result = run("activate", "mobile_welcome", "--version", "1-1-0", "--dry-run")
    assert "active 1-1-0 (dry run" in result.output
    assert PromotionState.from_json(topic["mobile_welcome"]).version == "1-0-0"
    assert run("activate", "mobile_welcome", "--version", "1-1-0").exit_code == 0
    assert run("pause", "mobile_welcome").exit_code == 0
    result = run("pause", "mobile_welcome")
    assert result.exit_code == 1 and "is paused already" in result.output
    listed = run("list").output.splitlines()
    assert "mobile_welcome\tfiles:1-0-0\tpublished:1-0-0,1-1-0\tpaused 1-1-0" in listed
    assert "mobile_welcome" in run("show", "mobile_welcome").output


def test_activate_refuses_an_unknown_version(topic):
    run("publish", "mobile_welcome")
    result = run("activate", "mobile_welcome", "--version", "3-0-0")
    assert result.exit_code == 1
    assert "no published version '3-0-0' (published: 1-0-0); publish it first" in result.output


def test_publish_refuses_a_broken_rule_naming_the_field(topic, tmp_path):
    result = run("publish", candidate(tmp_path, conditions=[{"kind": "moon_phase"}]))
    assert result.exit_code == 1
    assert "field 'conditions[0].kind' names an unknown condition 'moon_phase'" in result.output
    assert topic == {}
