"""Read and publish model placements on the model control topic (compacted, keyed by model).

The running jobs read the same topic as a broadcast stream (``personastream_flink.job_io``), so
what :func:`publish` writes reaches them within seconds; see
:mod:`personastream_models.registry` for the transitions.
"""
from __future__ import annotations

from personastream_contracts.errors import PersonastreamError
from personastream_contracts.topics import deliver, producer_config
from personastream_models import specs
from personastream_models.registry import Placement
from personastream_stack.kafka import TopicReadError, latest_by_key

READ_TIMEOUT_S = 10.0


class ModelControlError(PersonastreamError):
    """The control topic could not be read or written."""


def job_default(settings, model: str) -> Placement:
    """What a job runs when the topic has no record of ``model``: the version its settings
    name (empty: the latest spec)."""
    pinned = {settings.trends_detector: settings.trends_detector_version,
              settings.segments_clusterer: settings.segments_clusterer_version}
    return Placement.initial(model, specs.load(model, pinned.get(model) or None).version)


def placements(settings) -> dict[str, bytes]:
    """The latest placement record of every model on the topic (one read of the topic)."""
    try:
        return latest_by_key(settings, settings.topic_models_control, READ_TIMEOUT_S)
    except TopicReadError as error:
        raise ModelControlError(str(error)) from None


def current(settings, model: str, known: dict[str, bytes] | None = None) -> Placement:
    """The placement of ``model``: from ``known`` (a :func:`placements` read) or the topic,
    else :func:`job_default`."""
    known = placements(settings) if known is None else known
    return Placement.from_json(known[model]) if model in known else job_default(settings, model)


def publish(settings, placement: Placement) -> None:
    """Write ``placement`` (keyed by its model) and wait for the broker's acknowledgement."""
    from confluent_kafka import Producer

    for version in placement.running_versions():
        specs.load(placement.model, version)  # never publish a version jobs cannot load
    error = deliver(Producer(producer_config(settings)), settings.topic_models_control,
                    placement.model, placement.to_json().encode(), READ_TIMEOUT_S)
    if error:
        raise ModelControlError(f"could not publish to {settings.topic_models_control!r}: "
                                f"{error}")
