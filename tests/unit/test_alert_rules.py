"""Every alerting rule (:data:`personastream_stack.alerting.RULES`) checked by ``promtool test
rules`` on made-up series shaped like what Prometheus scrapes from the stack: quiet while the
series are healthy, firing (labels and rendered summary) once a problem has lasted the rule's
``for``, quiet again once they recover. No server runs."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from personastream_stack import alerting
from personastream_stack.pipeline_measures import FRESHNESS_BUCKETS

STEP = 15  # seconds between samples, and between evaluations of the rules
PROBLEM, RECOVERY, END = 300, 720, 1200  # seconds: the problem starts, it ends, the series end
FIRING_AT = 120  # seconds after a rule's `for` has elapsed: rate windows are full of the problem


def phase(t: int, phases: tuple):
    """The value of ``phases`` (healthy, problem, recovered; missing ones are healthy) at t."""
    healthy, problem, recovered = (*phases, phases[0], phases[0])[:3]
    return healthy if t < PROBLEM else problem if t < RECOVERY else recovered


def values(*phases) -> str:
    """promtool's samples of a series every STEP s from 0 to END: a phase's value is a number,
    a function of the time (s), or None: the series is gone (a staleness marker, then none)."""
    out: list[str] = []
    for t in range(0, END + 1, STEP):
        v = phase(t, phases)
        v = v(t) if callable(v) else v
        if v is None:
            out.append("_" if out and out[-1] in ("_", "stale") else "stale")
        else:
            out.append(f"{v:.15g}")
    return " ".join(out)


def counter(*rates) -> str:
    """A counter rising by each phase's rate (per second)."""
    return values(lambda t: sum(phase(u, rates) * STEP for u in range(0, t, STEP)))


def sel(name: str, **labels) -> str:
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def buckets(per_s: float, *shares: dict) -> dict:
    """Freshness histogram buckets of ``per_s`` observations a second, distributed in each
    phase by ``{le: share of the observations at most le}``."""
    def share(le, dist):
        return max((s for b, s in dist.items() if b <= le), default=0.0)
    inf = float("inf")
    return {sel("personastream_freshness_seconds_bucket", le="+Inf" if le == inf else float(le)):
            counter(*(per_s * share(le, dist) for dist in shares))
            for le in (*FRESHNESS_BUCKETS, inf)}


def uptime_ms(since: int):
    return lambda t: (t - since) * 1000


FLINK = {"job": "flink", "instance": "127.0.0.1:9250", "host": "localhost"}
LAG = "flink_taskmanager_job_task_operator_pendingRecords"
NIFI = {"job": "nifi", "instance": "127.0.0.1:8443", "component_type": "Connection",
        "parent_id": "pg-ingest"}


def lag(job_name: str, *phases) -> dict:
    """Records left to read by two subtasks of a job's Kafka source."""
    return {sel(LAG, job="flink", instance="127.0.0.1:9251", job_name=job_name,
                operator_name="Source: events", subtask_index=i): values(*phases)
            for i in (0, 1)}


def queue(component_id: str, name: str, threshold: int, *percent_used) -> dict:
    labels = {**NIFI, "component_id": component_id, "component_name": name}
    return {sel("nifi_percent_used_count", **labels): values(*percent_used),
            sel("nifi_backpressure_object_threshold", **labels): values(threshold)}


def growing(t):
    return 475 + 50 * (t - PROBLEM) / STEP


# (alert, its input series {series: values}, [(labels, rendered summary)] of the alerts firing
# during the problem: none if it must never fire)
CASES = [
    pytest.param("FreshnessSlow", buckets(20, {0.1: 0.5, 0.2: 1}, {0.1: 0.05, 0.2: 0.1, 2: 1}),
                 [({}, "freshness p99 is 1.994s (goal 1 s): events reach live profiles late; "
                       "look at job lag and NiFi queues")], id="FreshnessSlow"),
    *(pytest.param("DeclaredJobNotRunning", {
        sel("personastream_job_declared", job_name="live_activity"): values(1),
        sel("personastream_job_declared", job_name="build_profiles"): values(1),
        sel("flink_jobmanager_job_uptime", **FLINK, job_name="build_profiles", job_id="b1"):
            values(uptime_ms(-600)),
        sel("flink_jobmanager_job_uptime", **FLINK, job_name="live_activity", job_id="a1"):
            values(uptime_ms(-60), not_running, uptime_ms(RECOVERY))},
        [({"job_name": "live_activity"}, "declared Flink job live_activity is not running "
          "(`personastream jobs list`; the reconciler resubmits it)")], id=case)
      for case, not_running in (("DeclaredJobNotRunning-gone", None),
                                ("DeclaredJobNotRunning-restarting", 0))),
    pytest.param("JobLagGrowing", {
        **lag("live_activity", 475, growing,
              lambda t: max(50, growing(RECOVERY) - 250 * (t - RECOVERY) / STEP)),
        **lag("build_profiles", 30)},
        [({"job_name": "live_activity"},
          "job live_activity is 2.55k records behind and falling further behind")],
        id="JobLagGrowing"),
    pytest.param("JobLagGrowing", lag("live_activity", lambda t: 20000 - 100 * t / STEP), [],
                 id="JobLagGrowing-behind-but-catching-up"),
    pytest.param("DeadLetterShareHigh", {  # 1 %, then 10 %, of the events dead-lettered
        sel("personastream_events_accepted_total", event_type="product_view"): counter(60, 54),
        sel("personastream_events_accepted_total", event_type="add_to_cart"): counter(39, 36),
        sel("personastream_events_deadlettered_total", reason="schema_violation",
            source="ingest"): counter(1, 7),
        sel("personastream_events_deadlettered_total", reason="malformed_json",
            source="ingest"): counter(0, 3),
        sel("personastream_events_deadlettered_total", reason="body_too_large",
            source="ingest"): counter(0)},
        [({}, "10% of events are dead-lettered (more than 5%); `personastream deadletters "
              "list` says why")], id="DeadLetterShareHigh"),
    pytest.param("DeadLetterShareHigh", {  # late events were accepted: not in the share
        sel("personastream_events_accepted_total", event_type="product_view"): counter(60, 54),
        sel("personastream_events_deadlettered_total", reason="late_event",
            source="build_profiles"): counter(10, 10)}, [],
        id="DeadLetterShareHigh-late-events"),
    pytest.param("DeadLetterShareHigh", {
        sel("personastream_events_accepted_total", event_type="product_view"): counter(0),
        sel("personastream_events_deadlettered_total", reason="schema_violation",
            source="ingest"): counter(0)}, [], id="DeadLetterShareHigh-no-events"),
    pytest.param("NiFiBackPressure", {  # the ingest flow's queues (threshold 1: full on purpose)
        **queue("e8b13040", "batched", 1, 100),
        **queue("6dace099", "validated", 1, 100),
        **queue("83100290", "validated", 10000, 2),
        **queue("014063c2", "stamped", 10000, 3, 100, 0)},
        [({"component_name": "stamped"}, "NiFi queue stamped is full: its source is held back")],
        id="NiFiBackPressure"),
    pytest.param("ServerDown", {
        sel("up", job="kafka", instance="127.0.0.1:9404"): values(1, 0),
        sel("up", job="prometheus", instance="127.0.0.1:9099"): values(1),
        sel("up", job="api", instance="127.0.0.1:8000"): values(0)},  # not counted
        [({"job": "kafka", "instance": "127.0.0.1:9404"}, "kafka at 127.0.0.1:9404 does not "
          "answer Prometheus (`personastream stack status`)")], id="ServerDown"),
]


def promtool_test(tmp_path, name: str, series: dict, checks: list[tuple[int, list]]) -> None:
    """``promtool test rules`` of alert ``name`` on ``series``: ``checks`` are (eval time in
    s, the alerts expected firing then)."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: run `make tools` (Debian's prometheus package)"
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(alerting.rules_file()))
    test = tmp_path / "test.yml"
    test.write_text(yaml.safe_dump({
        "rule_files": [str(rules)], "evaluation_interval": f"{STEP}s",
        "tests": [{"name": name, "interval": f"{STEP}s",
                   "input_series": [{"series": s, "values": v} for s, v in series.items()],
                   "alert_rule_test": [{"eval_time": f"{t}s", "alertname": name,
                                        "exp_alerts": alerts} for t, alerts in checks]}]}))
    proc = subprocess.run([promtool, "test", "rules", str(test)], capture_output=True,
                          text=True, timeout=120)
    output = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines() if line.strip())
    assert proc.returncode == 0, f"promtool test rules {test}:\n{output}"


@pytest.mark.parametrize("name, series, firing", CASES)
def test_alert_fires_only_while_the_problem_lasts_its_for(tmp_path, name, series, firing):
    rule = next(r for r in alerting.RULES if r.name == name)
    for_s = int(rule.for_[:-1]) * {"s": 1, "m": 60}[rule.for_[-1]]
    checks = {t: [] for t in range(60, END + 1, 60)  # every minute: healthy or recovered
              if not firing or t < PROBLEM + for_s or t >= RECOVERY + 180}
    if firing:
        checks[PROBLEM + for_s - STEP] = []  # the problem has not lasted `for` yet
        checks[PROBLEM + for_s + FIRING_AT] = [
            {"exp_labels": {**labels, "severity": rule.severity},
             "exp_annotations": {"summary": summary}} for labels, summary in firing]
    promtool_test(tmp_path, name, series, sorted(checks.items()))


def test_every_rule_has_a_case_where_it_fires():
    assert {p.values[0] for p in CASES if p.values[2]} == {r.name for r in alerting.RULES}
