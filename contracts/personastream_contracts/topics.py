"""The pipeline's Kafka topics (names are settings, ``topic_*``) and the config each needs.

>>> from personastream_contracts.settings import resolve
>>> s = resolve(environ={}, overrides={"ingest_max_body_bytes": "1000"})
>>> pipeline_topics(s)
['events.enriched', 'events.deadletter', 'trends.anomalies', 'models.control', 'profiles.live', \
'deadletters.replayed', 'promotions.control', 'users.erasures', 'offers', \
'experiments.exposures', 'promotions.refusals', 'customers.segments']
>>> topic_config(s, s.topic_events_enriched)
{'max.message.bytes': '69536', 'min.insync.replicas': '1'}
>>> topic_config(s, s.topic_models_control)["cleanup.policy"]
'compact'
>>> producer_config(s, **{"linger.ms": 5})["partitioner"]
'murmur2_random'
>>> cdc_topics(s), topic_config(s, s.topic_cdc_customers)["cleanup.policy"]
(['cdc.customers', 'cdc.orders'], 'compact')
"""
from __future__ import annotations


def pipeline_topics(settings) -> list[str]:
    """The topics the pipeline reads and writes."""
    return [settings.topic_events_enriched, settings.topic_events_deadletter,
            settings.topic_trends_anomalies, settings.topic_models_control,
            settings.topic_live_profiles, settings.topic_deadletters_replayed,
            settings.topic_promotions_control, settings.topic_user_erasures,
            settings.topic_offers, settings.topic_experiment_exposures,
            settings.topic_promotion_refusals, settings.topic_customer_segments]


def cdc_topics(settings) -> list[str]:
    """The topics change data capture writes: one per captured table of the operational
    database (:mod:`personastream_contracts.operational`), created by `cdc deploy`."""
    return [settings.topic_cdc_customers, settings.topic_cdc_orders]


def topic_config(settings, topic: str) -> dict[str, str]:
    """Config of a pipeline topic. A record may carry a whole accepted request body (a dead
    letter of it in base64, 4/3 larger, plus its reason), so the limit follows the body's; the
    model and promotion control and live profile topics keep the latest record per key
    (compacted), forever (a tombstone, e.g. of an erased customer, removes it); so do the
    change data capture topics, keyed by the row's primary key (a row's latest change, a
    deleted row's tombstone). A record is
    acknowledged once ``kafka_min_insync_replicas`` replicas have it (producers use acks=all)."""
    config = {"max.message.bytes": str(4 * settings.ingest_max_body_bytes + 65536),
              "min.insync.replicas": str(settings.kafka_min_insync_replicas)}
    if topic in (settings.topic_models_control, settings.topic_live_profiles,
                 settings.topic_deadletters_replayed, settings.topic_promotions_control,
                 *cdc_topics(settings)):
        config.update({"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"})
    return config


def deliver(producer, topic: str, key: str, value: bytes | None, timeout_s: float) -> str | None:
    """Produce one record keyed by ``key`` (``value`` None: a tombstone) with a confluent-kafka
    ``producer`` and wait for Kafka's acknowledgement: None once acknowledged, else why not."""
    errors: list = []
    producer.produce(topic, key=key.encode(), value=value,
                     on_delivery=lambda error, _msg: error and errors.append(error))
    if producer.flush(timeout_s) or errors:
        return str(errors[0]) if errors else "not acknowledged in time"
    return None


def producer_config(settings, **extra) -> dict:
    """Config of a confluent-kafka producer of the pipeline's keyed records: acknowledged by
    every in-sync replica, and put in the partition a Java client (the Flink jobs' Kafka sinks)
    puts the same key in (murmur2; librdkafka's default hashes with CRC32), so that a record,
    e.g. an erased customer's tombstone, follows and shadows the jobs' records of its key."""
    return {"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all",
            "partitioner": "murmur2_random", **extra}
