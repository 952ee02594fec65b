"""The one-screen summary of ``personastream stack status``: rates, freshness, lag and errors
over the last minutes, read from Prometheus (:mod:`personastream_stack.prometheus`).

Each line is a PromQL query (:data:`LINES`), so what the summary says can be checked, graphed
or alerted on with the same expression in Prometheus' UI.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from personastream_contracts.objectives import OPS_WINDOW
from personastream_stack.prometheus import query


def _quantile(q: float, histogram: str, by: str = "") -> str:
    group = f"le{', ' + by if by else ''}"
    return f"histogram_quantile({q}, sum by ({group}) (rate({histogram}_bucket[{OPS_WINDOW}])))"


@dataclass(frozen=True)
class Line:
    """A line of the summary: its label, the query, how a value is written, the label naming
    each series when the query gives several, and what is written when it gives none."""

    label: str
    promql: str
    unit: str = ""
    by: str = ""
    empty: str = "-"


LINES = [
    Line("events accepted", f"sum(rate(personastream_events_accepted_total[{OPS_WINDOW}]))", "/s"),
    Line("dead-lettered", "sum by (reason) "
         f"(rate(personastream_events_deadlettered_total[{OPS_WINDOW}])) > 0", "/s", "reason",
         "none"),
    Line("freshness p50", _quantile(0.5, "personastream_freshness_seconds"), "s"),
    Line("freshness p99", _quantile(0.99, "personastream_freshness_seconds"), "s"),
    Line("job lag", "sum by (job_name) (flink_taskmanager_job_task_operator_pendingRecords)",
         " records", "job_name", "no job reports"),
    Line("job restarts", "max by (job_name) (flink_jobmanager_job_numRestarts)", "",
         "job_name", "no job runs"),
    Line("NiFi queued", "sum(nifi_amount_items_queued)", " flowfiles"),
    Line("Kafka in", "sum(rate(kafka_server_brokertopicmetrics_count{name=\"MessagesInPerSec\","
         f"topic!=\"\"}}[{OPS_WINDOW}]))", "/s"),
    Line("API requests", f"sum(rate(personastream_api_requests_total[{OPS_WINDOW}]))", "/s"),
    Line("API p99", _quantile(0.99, "personastream_api_request_seconds"), "s"),
    Line("anomalies flagged", f"sum(increase(personastream_anomalies_flagged_total[{OPS_WINDOW}]))",
         f" in {OPS_WINDOW}"),
    Line("targets down", "count by (job) (up == 0)", "", "job", "none"),
    Line("alerts firing", 'count by (alertname) (ALERTS{alertstate="firing"})', "", "alertname",
         "none"),
]


def _number(value: str, unit: str) -> str:
    """A sample value as the summary writes it.

    >>> _number("12.3456", "/s"), _number("NaN", "s"), _number("0.0123", "s")
    ('12.3/s', '-', '0.012s')
    """
    number = float(value)
    if number != number:  # NaN: no samples in the window
        return "-"
    digits = 3 if abs(number) < 1 and number else 1
    return f"{round(number, digits):g}{unit}"


def render(line: Line, result: list[dict]) -> str:
    """The text of one line from its query's result vector.

    >>> render(LINES[1], [{"metric": {"reason": "late_event"}, "value": [0, "0.5"]}])
    'dead-lettered       late_event 0.5/s'
    >>> render(LINES[0], []), render(Line("alerts", "ALERTS", empty="none"), [])
    ('events accepted     -', 'alerts              none')
    """
    if not result:
        text = line.empty
    elif line.by:
        text = "  ".join(f"{r['metric'].get(line.by, '?')} {_number(r['value'][1], line.unit)}"
                         for r in sorted(result, key=lambda r: r["metric"].get(line.by, "")))
    else:
        text = _number(result[0]["value"][1], line.unit)
    return f"{line.label:<19} {text}"


def summary(settings, ask: Callable[[str], list[dict]] | None = None) -> list[str]:
    """Every line of the summary (``ask`` answers a PromQL query; default: Prometheus at
    ``prometheus_url``)."""
    ask = ask or (lambda promql: query(settings, promql))
    return [render(line, ask(line.promql)) for line in LINES]
