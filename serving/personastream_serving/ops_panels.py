"""The panels of the ops dashboard (``GET /ops``): the one place of its PromQL. The page
(``static/ops.js``) reads them from ``/ops/config.json`` and asks Prometheus' HTTP API itself:
a chart's queries over the last :data:`RANGE_S` seconds every :data:`STEP_S` (``query_range``),
a table's now (``query``), all again every :data:`REFRESH_S`.

Where ``personastream stack status`` shows the same measure (``personastream_stack.ops_summary``)
the expression is the same, window included, so both say the same numbers (a unit test
compares them).

>>> [p.id for p in PANELS if p.series]
['throughput', 'freshness', 'lag', 'deadletters', 'flagged']
>>> dashboard("http://127.0.0.1:9099")["panels"][1]["series"][1]["promql"]
'histogram_quantile(0.99, sum by (le) (rate(personastream_freshness_seconds_bucket[2m])))'
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from personastream_contracts.objectives import FRESHNESS_GOAL_S, OPS_WINDOW

RANGE_S, STEP_S, REFRESH_S = 15 * 60, 5, 5
#: NiFi's flowfile amounts count its last 5 minutes.
NIFI_STATUS_S = 300


@dataclass(frozen=True)
class Series:
    """A chart's lines: one per series of ``promql``, named ``legend`` with each ``{label}``
    replaced by the series' value of that label."""

    legend: str
    promql: str


@dataclass(frozen=True)
class Column:
    """A table's column: for each row the value of ``promql``'s series with the row's key
    (``label``: that series' value of this label instead), or ``missing``. ``format``:
    ``number``, ``duration`` (seconds) or ``flag`` (yes if above 0, else no)."""

    header: str
    promql: str
    label: str = ""
    format: str = "number"
    missing: str = "-"


@dataclass(frozen=True)
class Panel:
    """A chart (``series``, values in ``unit``, a dashed line at ``goal``) or a table (a row per
    value of the ``key`` labels, ``(header, label)`` pairs, found by any of its ``columns``);
    ``empty`` says what no series means."""

    id: str
    title: str
    empty: str
    series: tuple[Series, ...] = ()
    unit: str = ""
    goal: tuple[str, float] | None = None
    key: tuple[tuple[str, str], ...] = ()
    columns: tuple[Column, ...] = ()


def _rate(counter: str) -> str:
    return f"sum(rate({counter}[{OPS_WINDOW}]))"


def _quantile(q: float, histogram: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket[{OPS_WINDOW}])))"


ALERT = 'ALERTS{alertstate="firing"}'

PANELS = [
    Panel("throughput", "Throughput per stage", "no stage reports a rate", unit="/s", series=(
        Series("NiFi received (5 min mean)", "sum(nifi_amount_flowfiles_received"
               f'{{component_type="RootProcessGroup"}}) / {NIFI_STATUS_S}'),
        Series("Kafka in {topic}", "sum by (topic) (rate(kafka_server_brokertopicmetrics_count"
               f'{{name="MessagesInPerSec",topic!="",topic!~"__.*"}}[{OPS_WINDOW}])) > 0'),
        Series("events accepted", _rate("personastream_events_accepted_total")),
        Series("Flink in {job_name}", "sum by (job_name) (rate(flink_taskmanager_job_task_"
               f'operator_numRecordsIn{{operator_name=~"Source.*"}}[{OPS_WINDOW}]))'),
        Series("API requests", _rate("personastream_api_requests_total")))),
    Panel("freshness", "Freshness: client time to live profile", "no live profile written",
          unit="s", goal=("goal p99", FRESHNESS_GOAL_S), series=(
              Series("p50", _quantile(0.5, "personastream_freshness_seconds")),
              Series("p99", _quantile(0.99, "personastream_freshness_seconds")))),
    Panel("lag", "Consumer lag per job", "no Flink job reports its lag", unit=" records",
          series=(Series("{job_name}", "sum by (job_name) "
                         "(flink_taskmanager_job_task_operator_pendingRecords)"),)),
    Panel("deadletters", "Dead letters by reason", "no dead letters", unit="/s", series=(
        Series("{reason}", "sum by (reason) "
               f"(rate(personastream_events_deadlettered_total[{OPS_WINDOW}])) > 0"),)),
    Panel("flagged", f"Trend anomalies flagged (per {OPS_WINDOW})", "no trends scored",
          series=(Series("flagged",
                         f"sum(increase(personastream_anomalies_flagged_total[{OPS_WINDOW}]))"),)),
    Panel("jobs", "Flink jobs", "no job declared or running", key=(("job", "job_name"),),
          columns=(
              Column("declared", "max by (job_name) (personastream_job_declared)",
                     format="flag", missing="no"),
              Column("running for", "max by (job_name) (flink_jobmanager_job_uptime > 0) / 1000",
                     format="duration", missing="not running"),
              Column("restarts", "max by (job_name) (flink_jobmanager_job_numRestarts)"))),
    Panel("models", "Model placements", "no model placed", key=(("model", "model"),), columns=(
        Column("live", 'personastream_model_version_info{placement="live"}', label="version"),
        Column("shadow", 'personastream_model_version_info{placement="shadow"}',
               label="version", missing="none"))),
    Panel("alerts", "Firing alerts", "no alert firing",
          key=(("alert", "alertname"), ("Flink job", "job_name"), ("server", "job"),
               ("NiFi queue", "component_name")),
          columns=(Column("severity", ALERT, label="severity"),
                   Column("active for", "time() - (ALERTS_FOR_STATE and ignoring (alertstate) "
                                        f"{ALERT})", format="duration"))),
]


def dashboard(prometheus_url: str) -> dict:
    """What the page needs: where Prometheus is, the time range and the panels."""
    return {"prometheus_url": prometheus_url, "range_s": RANGE_S, "step_s": STEP_S,
            "refresh_s": REFRESH_S, "panels": [dataclasses.asdict(p) for p in PANELS]}
