"""Live model switch on real Kafka, Flink and Cassandra: shadow, promote and rollback of the
trends detector reach the running job within seconds, without a restart, keep every other
model's learned state, and leave the profiles job's counts untouched."""
import dataclasses
import time

import pytest
from click.testing import CliRunner

from personastream.commands.models import models_group
from personastream_contracts.cassandra import keyspace, session
from personastream_flows.ingest.event_ingest import SCHEMA_DIR, Ingestor
from personastream_stack import flink_jobs

# the candidate: the best detector on NAB (the job's default, here promoted over an older one);
# it learns in shadow for fewer than 100 windows, so its stand-in (2-0-0) scores for it
LIVE, CANDIDATE = "2-0-0", "3-5-0"
SWITCH_TIMEOUT_S = 60
LAG_S = 120
OPEN_MINUTES = 3  # the newest minutes, whose windows the watermark has not closed yet


@pytest.fixture
def lifecycle(isolated):
    # minutes of traffic go out one per second; a watermark two minutes (of event time) behind
    # lets a Kafka partition read late by the job still count in its window
    s = dataclasses.replace(isolated.settings, trends_window_s=60, trends_watermark_s=LAG_S,
                            trends_detector_version=LIVE, profiles_allowed_lateness_s=LAG_S)
    return dataclasses.replace(isolated, settings=s)


def models(settings, *args: str) -> str:
    result = CliRunner().invoke(models_group, list(args), obj=settings, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def by_minute(rows: dict) -> dict:
    """{(item, minute index): row}, minutes counted from the first window seen."""
    first = min(start for _, start in rows)
    return {(item, int((start - first).total_seconds() // 60)): row
            for (item, start), row in rows.items()}


def switch(tt, settings, ingestor, expected, minute: int, done) -> tuple[int, float]:
    """Send one minute of traffic per second until a scored window satisfies ``done(minute,
    row)``; return the first such minute and the seconds since the call (how fast the job
    followed)."""
    start = time.monotonic()
    while time.monotonic() - start < SWITCH_TIMEOUT_S:
        tt.produce(settings, tt.traffic(range(minute, minute + 1), ingestor, expected))
        minute += 1
        time.sleep(1)
        hits = [m for (item, m), row in by_minute(tt.trend_rows(settings)).items() if done(m, row)]
        if hits:
            return min(hits), time.monotonic() - start
    raise AssertionError(f"no scored window satisfied the switch within {SWITCH_TIMEOUT_S}s")


def test_shadow_promote_rollback_switch_the_running_job(lifecycle, trend_traffic):
    tt = trend_traffic
    s = lifecycle.settings
    ingestor = Ingestor(SCHEMA_DIR, geoip_database=None, max_body_bytes=10_000_000)
    expected: dict = {}
    # the opening burst is in Kafka before the jobs start (see TrendTraffic.produce)
    tt.produce(s, tt.traffic(range(0, 10), ingestor, expected))
    trends = flink_jobs.submit(s, "score_trends", instance=lifecycle.uid)
    profiles = flink_jobs.submit(s, "build_profiles", instance=lifecycle.uid)
    rows = by_minute(tt.wait_rows(s, (10 - OPEN_MINUTES) * len(tt.ITEMS)))
    assert {r.model_version for r in rows.values()} == {LIVE}
    assert {r.shadow_version for r in rows.values()} == {None}

    assert f"shadow - -> {CANDIDATE}" in models(s, "shadow", "trends_detector", CANDIDATE)
    shadow_from, shadow_s = switch(tt, s, ingestor, expected, 10,
                                   lambda m, r: r.shadow_version == CANDIDATE)
    assert f"live {LIVE} -> {CANDIDATE}" in models(s, "promote", "trends_detector", CANDIDATE)
    live_from, promote_s = switch(tt, s, ingestor, expected, len(expected) // len(tt.ITEMS),
                                  lambda m, r: r.model_version == CANDIDATE)
    assert f"live {CANDIDATE} -> {LIVE}" in models(s, "rollback", "trends_detector")
    minute = len(expected) // len(tt.ITEMS)
    back_from, rollback_s = switch(tt, s, ingestor, expected, minute,
                                   lambda m, r: m > live_from and r.model_version == LIVE)
    print(f"switch latency: shadow {shadow_s:.1f}s, promote {promote_s:.1f}s, "
          f"rollback {rollback_s:.1f}s")
    last = len(expected) // len(tt.ITEMS) - OPEN_MINUTES
    rows = by_minute(tt.wait_rows(s, last * len(tt.ITEMS)))

    for item in tt.ITEMS:
        series = [rows[(item, m)] for m in range(last) if (item, m) in rows]
        assert [r.views for r in series] == [expected[(item, m)] for m in range(last)], item
        versions = [r.model_version for r in series]
        # live: LIVE, then CANDIDATE from the promotion on, then LIVE again; never flapping
        switches = [i for i in range(1, len(versions)) if versions[i] != versions[i - 1]]
        assert [versions[i] for i in switches] == [CANDIDATE, LIVE], (item, versions)
        promoted, rolled_back = switches
        # the shadow's detector learned from its first shadow window, so the promoted model
        # went on counting from there; the live one kept learning as the rollback target
        candidate_counts = [r.n_learned for r in series[promoted:rolled_back]]
        shadow_windows = sum(1 for r in series[:promoted] if r.shadow_version == CANDIDATE)
        assert shadow_windows > 0
        assert candidate_counts == list(range(shadow_windows + 1,
                                              shadow_windows + 1 + len(candidate_counts)))
        assert [r.n_learned for r in series[rolled_back:]] == \
            list(range(rolled_back + 1, len(series) + 1)), (item, versions)
        assert all(r.shadow_score is not None for r in series[:promoted]
                   if r.shadow_version == CANDIDATE)
        # who scored: the live version, or the candidate's stand-in while it learns
        assert {r.scored_by for r in series[:promoted]} == {LIVE}
        assert [r.scored_by for r in series[promoted:rolled_back]] == \
            ["2-0-0" if r.n_learned <= 100 else CANDIDATE for r in series[promoted:rolled_back]]
        assert {r.scored_by for r in series[rolled_back:]} == {LIVE}

    # no job restarted, and the profiles job counted every view once
    running = {j.job_id: j for j in flink_jobs.list_jobs(s)}
    for job in (trends, profiles):
        assert running[job.job_id].state == "RUNNING"
    assert_profile_views(tt, s, ingestor, expected)


def assert_profile_views(tt, settings, ingestor, expected) -> None:
    """Summed over users, the views of the day equal the views sent: one later minute of
    traffic moves the watermark past every minute sent (that minute itself stays open)."""
    minute = len(expected) // len(tt.ITEMS)
    tt.produce(settings, tt.traffic(range(minute + 10, minute + 11), ingestor, {}))
    total = sum(expected.values())
    deadline = time.monotonic() + 120
    with session(settings) as cql:
        while True:
            counted = sum(r.views_1d or 0 for r in cql.execute(
                f"SELECT views_1d FROM {keyspace(settings)}.profiles"))
            if counted == total or time.monotonic() > deadline:
                break
            time.sleep(2)
    assert counted == total
