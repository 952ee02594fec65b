"""Kafka 4 broker in KRaft mode (one combined broker + controller node) from Maven jars."""
from __future__ import annotations

import base64
import logging
import subprocess
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewTopic, ResourceType)

from personastream_contracts.errors import PersonastreamError
from personastream_contracts.topics import topic_config
from personastream_stack import maven
from personastream_stack.component import Component, host_port, render_template
from personastream_stack.errors import StackError
from personastream_stack.process import port_open
from personastream_stack.supervision import Program

log = logging.getLogger(__name__)

MAIN_CLASS = "kafka.Kafka"


class TopicReadError(PersonastreamError):
    """A topic could not be read to its end."""


def read_to_end(settings, topic: str, batch: int = 1000, timeout_s: float = 10.0):
    """Yield the records of ``topic`` from its start to its end as of the call, in batches
    (lists of confluent-kafka messages); an independent reader (no consumer group offsets)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"personastream-read-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "log_level": 0})
    try:
        try:
            meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        except KafkaException as error:
            raise TopicReadError(f"cannot reach Kafka at {settings.kafka_bootstrap_servers} "
                                 f"({error.args[0].str()}); is the stack up?") from None
        if meta is None or meta.error is not None:
            raise TopicReadError(f"topic {topic!r} is missing on "
                                 f"{settings.kafka_bootstrap_servers}; run `personastream "
                                 "stack up` (it creates the pipeline's topics)")
        bounds = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
                  for p in meta.partitions}
        ends = {p: high for p, (low, high) in bounds.items() if high > low}
        consumer.assign([TopicPartition(topic, p, bounds[p][0]) for p in ends])
        while ends:
            messages = consumer.consume(batch, timeout=timeout_s)
            if not messages:
                raise TopicReadError(f"timed out reading {topic!r} (partitions left: "
                                     f"{sorted(ends)})")
            for msg in messages:
                if msg.error():
                    raise TopicReadError(f"reading {topic!r}: {msg.error()}")
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    ends.pop(msg.partition(), None)
            yield messages
    finally:
        consumer.close()


def admin_client(settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})


def ensure_topics(settings, topics: list[str]) -> list[str]:
    """Create missing topics with :func:`topic_config`, and set that config on existing ones
    (other settings of theirs are left alone); return the names created."""
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [NewTopic(t, num_partitions=settings.kafka_partitions,
                       replication_factor=settings.kafka_replication_factor,
                       config=topic_config(settings, t))
              for t in topics if t not in existing]
    futures = admin.create_topics(wanted, operation_timeout=30) if wanted else {}
    for topic, future in futures.items():
        future.result()
        log.info("created topic %s", topic)
    updates = [ConfigResource(ResourceType.TOPIC, t, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
        for k, v in topic_config(settings, t).items()])
        for t in topics if t in existing]
    for future in (admin.incremental_alter_configs(updates).values() if updates else []):
        future.result()
    return [t.topic for t in wanted]


class Kafka(Component):
    name = "kafka"

    @property
    def config_file(self):
        return self.run_dir / "server.properties"

    @property
    def daemons(self) -> list[Program]:
        return [Program(self.settings, "kafka", self.run_dir)]

    @property
    def port(self) -> int:
        return host_port(self.settings.kafka_bootstrap_servers)[1]

    @property
    def version(self) -> str:
        return maven.pom_property("kafka", "kafka.version")

    def fetch(self) -> None:
        maven.fetch(self.settings, "kafka", ["dependency:copy-dependencies"])

    def _java(self, *args: str) -> list[str]:
        libs = maven.install_dir(self.settings, "kafka") / "libs"
        log4j = render_template("kafka-log4j2.properties", self.run_dir / "log4j2.properties")
        return [str(self.settings.java_home / "bin/java"), f"-Dlog4j2.configurationFile={log4j}",
                "-cp", f"{libs}/*", *args]

    def launch(self) -> None:
        host, port = host_port(self.settings.kafka_bootstrap_servers)
        data_dir = self.run_dir / "data"
        render_template("kafka.properties", self.config_file, host=host, port=port,
                        controller_port=self.settings.kafka_controller_port, data_dir=data_dir,
                        partitions=self.settings.kafka_partitions)
        if not (data_dir / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            fmt = subprocess.run(self._java("-Xmx256m", "kafka.tools.StorageTool", "format",
                                            "--standalone", "-t", cluster_id,
                                            "-c", str(self.config_file)),
                                 capture_output=True, text=True)
            if fmt.returncode != 0:
                raise StackError(f"formatting Kafka storage in {data_dir} failed:\n"
                                 f"{fmt.stdout}{fmt.stderr}")
        heap = self.settings.kafka_heap
        self.daemons[0].start(self._java(f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC",
                                         MAIN_CLASS, str(self.config_file)))

    def probe(self) -> str:
        host, port = host_port(self.settings.kafka_bootstrap_servers)
        if not port_open(host, port):  # spares librdkafka's connection-refused log lines
            raise ConnectionRefusedError(f"nothing listens on {host}:{port} yet")
        metadata = admin_client(self.settings).list_topics(timeout=2)
        return f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topic(s)"


def record_counts(settings, topics: list[str]) -> dict[str, int]:
    """Records held by each topic (sum over partitions of high minus low watermark)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": "personastream-counter", "enable.auto.commit": False})
    try:
        counts = {}
        for topic in topics:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            counts[topic] = 0
            for p in partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                counts[topic] += high - low
        return counts
    finally:
        consumer.close()
