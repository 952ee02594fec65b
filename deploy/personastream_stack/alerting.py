"""The pipeline's alerts: Prometheus alerting rules (:data:`RULES`, the one source of each
threshold), and Alertmanager (Debian's package) routing them to a webhook on loopback that
writes each notification to a log (:mod:`personastream_stack.alert_log`).

Firing alerts show in ``stack status``, in Prometheus (``/api/v1/alerts``, the UI's Alerts
page) and in Alertmanager (``/api/v2/alerts``); ``promtool test rules`` checks every rule on
made-up series (``tests/unit/test_alert_rules.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

from personastream_contracts.objectives import FRESHNESS_GOAL_S

#: Share of the events reaching the pipeline that may be dead-lettered.
DEADLETTER_SHARE = 0.05
#: Records a job may be behind before growth of its lag is worth an alert.
LAG_FLOOR_RECORDS = 1000
#: Events ingest dead-lettered (late events are dead-lettered by the jobs, after acceptance).
INGEST_LETTERS = 'personastream_events_deadlettered_total{source="ingest"}'
#: Flink's Kafka sources' records left to read, per job.
JOB_LAG = "sum by (job_name) (flink_taskmanager_job_task_operator_pendingRecords)"


@dataclass(frozen=True)
class Rule:
    """An alert: fires once ``expr`` has had results for ``for_`` (Prometheus' ``for``)."""

    name: str
    expr: str
    for_: str
    summary: str
    severity: str = "page"

    def as_dict(self) -> dict:
        return {"alert": self.name, "expr": self.expr, "for": self.for_,
                "labels": {"severity": self.severity},
                "annotations": {"summary": self.summary}}


RULES = [
    Rule("FreshnessSlow",
         "histogram_quantile(0.99, sum by (le) "
         f"(rate(personastream_freshness_seconds_bucket[1m]))) > {FRESHNESS_GOAL_S:g}",
         "2m", f"freshness p99 is {{{{ $value | humanize }}}}s (goal {FRESHNESS_GOAL_S:g} s): "
               "events reach live profiles late; look at job lag and NiFi queues"),
    Rule("DeclaredJobNotRunning",
         "personastream_job_declared unless on (job_name) (flink_jobmanager_job_uptime > 0)",
         "1m", "declared Flink job {{ $labels.job_name }} is not running "
               "(`personastream jobs list`; the reconciler resubmits it)"),
    Rule("JobLagGrowing",
         f"({JOB_LAG}) > {LAG_FLOOR_RECORDS} and deriv(({JOB_LAG})[2m:10s]) > 0",
         "2m", "job {{ $labels.job_name }} is {{ $value | humanize }} records behind and "
               "falling further behind"),
    Rule("DeadLetterShareHigh",  # of what ingest received (a late event was accepted first)
         f"sum(rate({INGEST_LETTERS}[2m])) / (sum(rate({INGEST_LETTERS}[2m])) + "
         f"sum(rate(personastream_events_accepted_total[2m]))) > {DEADLETTER_SHARE:g}",
         "1m", f"{{{{ $value | humanizePercentage }}}} of events are dead-lettered (more than "
               f"{DEADLETTER_SHARE:.0%}); `personastream deadletters list` says why"),
    Rule("NiFiBackPressure",
         # queues whose threshold is 1 flowfile pace the batching on purpose: not counted
         "max by (component_name) (nifi_percent_used_count >= 100 and on (component_id) "
         "nifi_backpressure_object_threshold > 1)",
         "1m", "NiFi queue {{ $labels.component_name }} is full: its source is held back"),
    Rule("ServerDown", 'up{job!="api"} == 0', "30s",
         "{{ $labels.job }} at {{ $labels.instance }} does not answer Prometheus "
         "(`personastream stack status`)"),
]


def rules_file() -> dict:
    """Prometheus' rule file.

    >>> [r["alert"] for r in rules_file()["groups"][0]["rules"]][:2]
    ['FreshnessSlow', 'DeclaredJobNotRunning']
    """
    return {"groups": [{"name": "personastream", "rules": [r.as_dict() for r in RULES]}]}


def alertmanager_config(receiver_url: str) -> dict:
    """Alertmanager's configuration: every alert to the webhook at ``receiver_url``, grouped
    by alert name, resolved ones too."""
    return {"route": {"receiver": "log", "group_by": ["alertname"], "group_wait": "5s",
                      "group_interval": "10s", "repeat_interval": "1h"},
            "receivers": [{"name": "log", "webhook_configs": [
                {"url": receiver_url, "send_resolved": True}]}]}
