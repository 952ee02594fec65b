"""Read and publish model placements on the model control topic (compacted, keyed by model).

The running jobs read the same topic as a broadcast stream (``personastream_flink.job_io``), so
what :func:`publish` writes reaches them within seconds; see
:mod:`personastream_models.registry` for the transitions.
"""
from __future__ import annotations

import uuid

from personastream.errors import PersonastreamError
from personastream_models import specs
from personastream_models.registry import Placement

READ_TIMEOUT_S = 10.0


class ModelControlError(PersonastreamError):
    """The control topic could not be read or written."""


def job_default(settings, model: str) -> Placement:
    """What a job runs when the topic has no record of ``model``: the version its settings
    name (empty: the latest spec)."""
    pinned = {settings.trends_detector: settings.trends_detector_version,
              settings.segments_clusterer: settings.segments_clusterer_version}
    return Placement.initial(model, specs.load(model, pinned.get(model) or None).version)


def current(settings, model: str) -> Placement:
    """The latest placement of ``model`` on the topic, else :func:`job_default`."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    topic = settings.topic_models_control
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"personastream-models-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "log_level": 0})
    try:
        try:
            meta = consumer.list_topics(topic, timeout=READ_TIMEOUT_S).topics.get(topic)
        except KafkaException as error:
            raise ModelControlError(f"cannot reach Kafka at {settings.kafka_bootstrap_servers} "
                                    f"({error.args[0].str()}); is the stack up?") from None
        if meta is None or meta.error is not None:
            raise ModelControlError(f"control topic {topic!r} is missing on "
                                    f"{settings.kafka_bootstrap_servers}; run `personastream "
                                    "stack up` (it creates the pipeline's topics)")
        ends = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                       timeout=READ_TIMEOUT_S)
            if high > low:
                ends[p] = (low, high)
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in ends.items()])
        ends = {p: high for p, (_, high) in ends.items()}
        latest = None
        while ends:
            msg = consumer.poll(READ_TIMEOUT_S)
            if msg is None:
                raise ModelControlError(f"timed out reading {topic!r} (partitions left: "
                                        f"{sorted(ends)})")
            if msg.error():
                raise ModelControlError(f"reading {topic!r}: {msg.error()}")
            if msg.key() == model.encode() and msg.value():
                latest = Placement.from_json(msg.value())
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
        return latest or job_default(settings, model)
    finally:
        consumer.close()


def publish(settings, placement: Placement) -> None:
    """Write ``placement`` (keyed by its model) and wait for the broker's acknowledgement."""
    from confluent_kafka import Producer

    for version in placement.running_versions():
        specs.load(placement.model, version)  # never publish a version jobs cannot load
    errors = []
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all"})
    producer.produce(settings.topic_models_control, key=placement.model.encode(),
                     value=placement.to_json().encode(),
                     on_delivery=lambda err, _msg: err and errors.append(err))
    if producer.flush(READ_TIMEOUT_S) or errors:
        raise ModelControlError(f"could not publish to {settings.topic_models_control!r}: "
                                f"{errors or 'not acknowledged in time'}")
