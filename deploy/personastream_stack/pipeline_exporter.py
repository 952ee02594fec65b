"""The pipeline's own measures for Prometheus (:mod:`personastream_stack.pipeline_measures`):
``python -m personastream_stack.pipeline_exporter`` serves them at
``http://127.0.0.1:<pipeline_exporter_port>/metrics`` until SIGTERM or SIGINT.

One consumer reads every pipeline topic it measures: each partition from its end as of when
the exporter first sees it (no consumer group, nothing committed), except the compacted model
control topic, read from its start (the latest placement per model). Every
:data:`PROBE_S` a metadata request says whether Kafka answers (``personastream_exporter_kafka_up``)
and assigns the partitions of topics created since. While Kafka is down the exporter keeps
serving (kafka_up 0) and confluent-kafka reconnects by itself; a record it cannot read is
counted and logged, never fatal.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from prometheus_client import (REGISTRY, CollectorRegistry, disable_created_metrics,
                               start_http_server)

from personastream_contracts import declared_jobs
from personastream_contracts.settings import env_name, resolve
from personastream_stack.errors import StackError
from personastream_stack.pipeline_measures import DeclaredJobs, Metrics, observe

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: Seconds between metadata requests (Kafka's health, new partitions).
PROBE_S = 5.0
PROBE_TIMEOUT_S = 2.0
BATCH = 500
POLL_S = 0.5


class Follower:
    """One consumer of ``metrics``' topics (see the module's docstring), made by
    ``consumer_factory`` from its config."""

    def __init__(self, settings, metrics: Metrics, consumer_factory=Consumer):
        self.settings, self.metrics = settings, metrics
        self.assigned: set[tuple[str, int]] = set()
        self.up: bool | None = None
        self.last_error: KafkaError | None = None
        self.consumer = consumer_factory({
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": "personastream-pipeline-exporter", "enable.auto.commit": False,
            # a position gone (topic recreated, records expired) goes to the oldest record left
            "auto.offset.reset": "earliest", "log_level": 0, "error_cb": self._error})

    def _error(self, error: KafkaError) -> None:
        self.last_error = error
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._up(False)

    def _up(self, up: bool) -> None:
        if up != self.up:
            if up:
                log.info("Kafka at %s answers", self.settings.kafka_bootstrap_servers)
            else:
                log.warning("Kafka at %s does not answer (%s); retrying every %.0fs",
                            self.settings.kafka_bootstrap_servers, self.last_error, PROBE_S)
        self.up = up
        self.metrics.kafka_up.set(1 if up else 0)

    def _start(self, topic: str, partition: int) -> int:
        """Where a partition is read from: the control topic's start, another's end now."""
        if topic == self.settings.topic_models_control:
            return OFFSET_BEGINNING
        return self.consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                   timeout=PROBE_TIMEOUT_S)[1]

    def sync(self) -> None:
        """Ask Kafka for its topics; assign the measured partitions not yet assigned."""
        try:
            topics = self.consumer.list_topics(timeout=PROBE_TIMEOUT_S).topics
            new = [TopicPartition(t, p, self._start(t, p)) for t in self.metrics.handlers
                   if t in topics and topics[t].error is None
                   for p in topics[t].partitions if (t, p) not in self.assigned]
            if new:
                self.consumer.incremental_assign(new)
        except KafkaException as error:
            self._failed(error)
            return
        if new:
            self.assigned.update((tp.topic, tp.partition) for tp in new)
            log.info("following %d partition(s) of %s", len(new),
                     ", ".join(sorted({tp.topic for tp in new})))
        self._up(True)

    def _failed(self, error: KafkaException) -> None:
        self.last_error = error.args[0]
        self._up(False)

    def poll(self) -> None:
        """Consume a batch of records (or wait up to :data:`POLL_S`) into the metrics."""
        try:
            messages = self.consumer.consume(BATCH, timeout=POLL_S)
        except KafkaException as error:
            self._failed(error)
            return
        for msg in messages:
            if msg.error():
                log.warning("reading %s[%s]: %s", msg.topic(), msg.partition(), msg.error())
                continue
            fault = observe(msg.topic(), msg.key(), msg.value(), self.metrics)
            if fault:
                log.warning("bad record %s[%d]@%d: %s", msg.topic(), msg.partition(),
                            msg.offset(), fault)

    def close(self) -> None:
        self.consumer.close()


def run(settings, stop: threading.Event, registry: CollectorRegistry = REGISTRY) -> None:
    """Serve the measures of ``settings``' pipeline from ``registry`` until ``stop`` is set."""
    metrics = Metrics(settings, registry)
    registry.register(DeclaredJobs(declared_jobs.path_for(settings)))
    port = settings.pipeline_exporter_port
    try:
        server, _ = start_http_server(port, addr=HOST, registry=registry)
    except OSError as error:
        raise StackError(f"the pipeline exporter cannot listen on {HOST}:{port} ({error}): "
                         "stop what holds the port or choose another with "
                         f"{env_name('pipeline_exporter_port')}") from None
    log.info("serving http://%s:%d/metrics", HOST, port)
    follower = Follower(settings, metrics)
    try:
        next_probe = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_probe:
                follower.sync()
                next_probe = time.monotonic() + PROBE_S
            follower.poll()
    finally:
        follower.close()
        server.shutdown()
        server.server_close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    disable_created_metrics()  # half the series; Prometheus sees counter resets by itself
    try:
        run(resolve(), stop)
    except StackError as error:
        log.error("%s", error)
        sys.exit(1)
    log.info("stopped")


if __name__ == "__main__":
    main()
