"""`personastream models validate | publish` refuse broken or badly versioned specs, naming
the field; no servers needed."""
import json

from click.testing import CliRunner

from personastream.commands.models import models_group
from personastream_models import specs


def run(*args: str):
    return CliRunner().invoke(models_group, list(args), obj=None)


def candidate(tmp_path, **changes) -> str:
    doc = {**specs.load("trends_detector", "2-0-0").to_dict(), **changes}
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_validate_passes_every_published_spec():
    result = run("validate")
    assert result.exit_code == 0, result.output
    n = sum(len(v) for v in specs.available().values())
    assert f"{n} of {n} specs pass" in result.output


def test_validate_names_the_broken_field(tmp_path):
    result = run("validate", "--file", candidate(tmp_path, version="2-1-0", threshold=1.5))
    assert result.exit_code == 1
    assert "field 'threshold' must be a number in [0, 1], got 1.5" in result.output


def test_validate_reports_params_that_do_not_build(tmp_path):
    result = run("validate", "--file", candidate(tmp_path, version="2-1-0",
                                                 params={"window_size": "big"}))
    assert result.exit_code == 1
    assert "FAIL builds: field 'params' does not build" in result.output


def test_publish_refuses_a_published_version(tmp_path):
    result = run("publish", candidate(tmp_path, description="changed"))
    assert result.exit_code == 1
    assert "trends_detector/2-0-0 is published already" in result.output


def test_publish_refuses_a_bump_too_small_for_the_change(tmp_path):
    latest = specs.load("trends_detector")
    major, minor, _ = specs.version_key(latest.version)
    result = run("publish", candidate(
        tmp_path, version=f"{major}-{minor}-1", threshold=latest.threshold / 2,
        estimator=latest.estimator, params=dict(latest.params), features=latest.features))
    assert result.exit_code == 1
    assert f"must bump REVISION (to {major}-{minor + 1}-0)" in result.output
