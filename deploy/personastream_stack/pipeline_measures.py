"""The pipeline's own measures, read from its Kafka records: which record moves which
Prometheus metric. Pure (no Kafka here): :mod:`personastream_stack.pipeline_exporter` feeds
:func:`observe` the records it consumes, tests feed it theirs.

A counter counts the records that arrived since the exporter started (Prometheus' ``rate``
and ``increase`` handle its restarts); label values are bounded by the contracts:

- ``personastream_events_accepted_total{event_type}``: records of ``topic_events_enriched``,
  by event type (one of the event schemas', else ``other``);
- ``personastream_events_deadlettered_total{reason,source}``: records of
  ``topic_events_deadletter`` by ``reason.code`` (one of ``REASON_CODES``, else ``other``) and
  who dead-lettered them: ``ingest``, or for ``late_event`` the windowed job its reason names (a
  job of the catalogue, else ``other``), for ``invalid_change`` ``merge_customers``. Late events are these ``late_event`` series, not a
  metric of their own;
- ``personastream_anomalies_flagged_total``: records of ``topic_trends_anomalies`` that are
  flagged (score_trends publishes flagged windows only);
- ``personastream_model_version_info{model,placement,version}``: 1 for the ``live`` and
  ``shadow`` version of each model, from the latest record per key of ``topic_models_control``;
- ``personastream_deadletters_replayed_total{outcome,reason}``: records of
  ``topic_deadletters_replayed``, the replay ledger (``personastream deadletters replay``): each
  letter replayed, by outcome (replayed, fixed, still_failing) and the letter's reason code;
- ``personastream_freshness_seconds``: per record of ``topic_live_profiles``, its ``written_at``
  (when live_activity wrote the profile) minus its ``updated_at`` (client time of the
  customer's newest event), 0 if a client's clock is ahead;
- ``personastream_job_declared{job_name}``: 1 for each Flink job declared to run
  (:mod:`personastream_contracts.declared_jobs`, read at each scrape), which alerts compare
  with the jobs Flink runs;
- ``personastream_exporter_kafka_up``: set by the exporter (1 while Kafka answers);
- ``personastream_exporter_bad_records_total{topic}``: records that could not be read.

>>> from prometheus_client import CollectorRegistry
>>> from personastream_contracts.settings import resolve
>>> registry = CollectorRegistry()
>>> metrics = Metrics(resolve(environ={}), registry)
>>> observe("events.deadletter", None, b'{"reason": {"code": "malformed_json"}}', metrics)
>>> registry.get_sample_value("personastream_events_deadlettered_total",
...                           {"reason": "malformed_json", "source": "ingest"})
1.0
>>> observe("events.enriched", b"user:u-1", b"[1]", metrics)
"ValueError: the record is not a JSON object: b'[1]'"
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from personastream_contracts import declared_jobs
from personastream_contracts.captures import INVALID_CHANGE
from personastream_contracts.deadletter_replay import OUTCOMES
from personastream_contracts.deadletters import REASON_CODES
from personastream_contracts.event_schemas import event_types, load_schemas
from personastream_contracts.event_trace import LATE, late_job_of
from personastream_contracts.formats import naive_utc
from personastream_flink.catalog import JOBS
from personastream_models.registry import Placement

OTHER = "other"
"""The label value of what the contracts do not know (an event type, reason code, job)."""
INGEST = "ingest"
"""The dead letters' ``source`` of every reason but ``late_event`` and ``invalid_change``."""
CHANGES_JOB = "merge_customers"
"""The ``source`` of ``invalid_change``: the job that reads the captured changes."""
FRESHNESS_BUCKETS = (.05, .1, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10, 30, 60)
"""Seconds, around the goal of a profile within 1 s of the event."""


def deadletter_labels(letter: dict, jobs=frozenset(JOBS)) -> tuple[str, str]:
    """``(reason, source)`` of a dead letter (see the module's docstring).

    >>> late = {"code": "late_event", "message": "event time 5 ms is behind the watermark w "
    ...                                         "of job build_profiles"}
    >>> deadletter_labels({"reason": late}), deadletter_labels({"reason": {"code": "new"}})
    (('late_event', 'build_profiles'), ('other', 'ingest'))
    >>> deadletter_labels({"reason": {"code": "invalid_change"}})
    ('invalid_change', 'merge_customers')
    """
    reason = letter["reason"]
    code = reason["code"] if reason["code"] in REASON_CODES else OTHER
    if code == INVALID_CHANGE:
        return code, CHANGES_JOB
    if code != LATE:
        return code, INGEST
    job = late_job_of(reason.get("message") or "")
    return code, job if job in jobs else OTHER


def placed_versions(placement: Placement) -> list[tuple[str, str, str]]:
    """``(model, placement, version)`` of the versions a placement runs in view.

    >>> placed_versions(Placement.initial("trends_detector", "2-0-0").with_shadow("3-4-0"))
    [('trends_detector', 'live', '2-0-0'), ('trends_detector', 'shadow', '3-4-0')]
    """
    shadow = [(placement.model, "shadow", placement.shadow)] if placement.shadow else []
    return [(placement.model, "live", placement.live), *shadow]


def freshness_s(profile: dict) -> float:
    """Seconds from the newest event's client time to the live profile's write (epoch
    milliseconds as ``live_activity`` writes them, or ISO-8601 text as it did before
    2026-12-07), at least 0.

    >>> freshness_s({"updated_at": 1796289528999, "written_at": 1796289529349})
    0.35
    >>> freshness_s({"updated_at": "2026-12-03T09:18:48.999", "written_at":
    ...              "2026-12-03T09:18:49.349"})
    0.35
    """
    written = naive_utc(profile["written_at"])
    return max(0.0, (written - naive_utc(profile["updated_at"])).total_seconds())


def profile_with_freshness(user_key: str, written_at: dt.datetime, age_s: float) -> dict:
    """A live profile record as ``live_activity`` writes it, written at ``written_at`` for an
    event ``age_s`` older: what :func:`freshness_s` reads back (tests feed the exporter with it).

    >>> written = dt.datetime(2026, 12, 3, 9, 18, 49, 349000, tzinfo=dt.timezone.utc)
    >>> freshness_s(profile_with_freshness("u-1", written, 0.35))
    0.35
    """
    written_ms = round(written_at.timestamp() * 1000)
    return {"user_key": user_key, "recent_items": [], "category_affinity": {},
            "brand_affinity": {}, "purchased": [], "n_events": 1,
            "updated_at": written_ms - round(age_s * 1000), "written_at": written_ms}


class DeclaredJobs(Collector):
    """``personastream_job_declared``, from the declared jobs file at each scrape.

    >>> import tempfile; from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "declared.json"
    >>> declared_jobs.record(path, "land_events", "land_events", "a" * 32)
    >>> [(s.labels, s.value) for s in next(DeclaredJobs(path).collect()).samples]
    [({'job_name': 'land_events'}, 1)]
    """

    def __init__(self, path: Path):
        self.path = path

    def collect(self):
        family = GaugeMetricFamily("personastream_job_declared",
                                   "1 for each Flink job declared to run", labels=["job_name"])
        for name in sorted(declared_jobs.read(self.path)):
            family.add_metric([name], 1)
        yield family


def _object(value: bytes | None) -> dict:
    doc = orjson.loads(value) if value is not None else None
    if not isinstance(doc, dict):
        raise ValueError(f"the record is not a JSON object: {(value or b'')[:200]!r}")
    return doc


class Metrics:
    """The measures in ``registry``, and per topic of ``settings`` the handler of its records
    (``key``, ``value``: bytes, None for a tombstone) that :func:`observe` calls."""

    def __init__(self, settings, registry: CollectorRegistry):
        self.event_types = frozenset(event_types(load_schemas()))
        self.accepted = Counter("personastream_events_accepted",
                                "Events accepted by ingest (records of the enriched topic)",
                                ["event_type"], registry=registry)
        self.deadlettered = Counter(
            "personastream_events_deadlettered",
            "Dead letters by reason code and by who dead-lettered them (ingest, or the job "
            "that found a late_event late)", ["reason", "source"], registry=registry)
        self.flagged = Counter("personastream_anomalies_flagged",
                               "Item trend windows flagged as anomalies", registry=registry)
        self.model_versions = Gauge("personastream_model_version_info",
                                    "1 for each model's live and shadow version",
                                    ["model", "placement", "version"], registry=registry)
        self.replayed = Counter(
            "personastream_deadletters_replayed", "Dead letters sent through the collector "
            "again, by outcome and the letter's reason code", ["outcome", "reason"],
            registry=registry)
        self.freshness = Histogram(
            "personastream_freshness_seconds", "Client time of a customer's newest event to "
            "the write of the live profile it updated", buckets=FRESHNESS_BUCKETS,
            registry=registry)
        self.kafka_up = Gauge("personastream_exporter_kafka_up",
                              "1 if the exporter's last request to Kafka succeeded",
                              registry=registry)
        self.bad_records = Counter("personastream_exporter_bad_records",
                                   "Records the exporter could not read", ["topic"],
                                   registry=registry)
        for event_type in self.event_types:  # series present from the start, at 0
            self.accepted.labels(event_type)
        for code in REASON_CODES:
            if code != LATE:
                self.deadlettered.labels(code, INGEST)
        self._placed: dict[str, list[tuple[str, str, str]]] = {}
        self.handlers = {settings.topic_events_enriched: self._accepted,
                         settings.topic_events_deadletter: self._deadletter,
                         settings.topic_trends_anomalies: self._anomaly,
                         settings.topic_models_control: self._placement,
                         settings.topic_live_profiles: self._live_profile,
                         settings.topic_deadletters_replayed: self._replayed}

    def _accepted(self, key: bytes | None, value: bytes | None) -> None:
        event_type = _object(value).get("event_type")
        self.accepted.labels(event_type if event_type in self.event_types else OTHER).inc()

    def _deadletter(self, key: bytes | None, value: bytes | None) -> None:
        self.deadlettered.labels(*deadletter_labels(_object(value))).inc()

    def _anomaly(self, key: bytes | None, value: bytes | None) -> None:
        if _object(value).get("flagged") is True:
            self.flagged.inc()

    def _placement(self, key: bytes | None, value: bytes | None) -> None:
        """The record replaces its key's series (a tombstone removes them)."""
        if key is None and value is None:
            raise ValueError("a tombstone without a key")
        placement = Placement.from_json(value) if value is not None else None
        model = key.decode() if key is not None else placement.model
        for labels in self._placed.pop(model, []):
            self.model_versions.remove(*labels)
        if placement is not None:
            self._placed[model] = placed_versions(placement)
            for labels in self._placed[model]:
                self.model_versions.labels(*labels).set(1)

    def _replayed(self, key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            record = _object(value)
            outcome = record["outcome"] if record.get("outcome") in OUTCOMES else OTHER
            reason = record.get("reason") if record.get("reason") in REASON_CODES else OTHER
            self.replayed.labels(outcome, reason).inc()

    def _live_profile(self, key: bytes | None, value: bytes | None) -> None:
        if value is not None:  # a tombstone: an erased customer
            self.freshness.observe(freshness_s(_object(value)))


def observe(topic: str, key: bytes | None, value: bytes | None, metrics: Metrics) -> str | None:
    """Move the metrics that a record of ``topic`` moves. A record that cannot be read is
    counted in ``bad_records`` and what is wrong with it returned (else None)."""
    handler = metrics.handlers[topic]
    try:
        handler(key, value)
    except Exception as error:  # whatever a record holds, the exporter goes on
        metrics.bad_records.labels(topic).inc()
        return f"{type(error).__name__}: {error}"
    return None
