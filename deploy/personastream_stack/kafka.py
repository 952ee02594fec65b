"""Kafka 4 in KRaft mode from Maven jars: a combined broker + controller node for each address of
``kafka_bootstrap_servers`` (one by default; three on loopback to replicate)."""
from __future__ import annotations

import base64
import json
import logging
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewTopic, ResourceType)

from personastream_contracts.errors import PersonastreamError, SettingsError
from personastream_contracts.topics import topic_config
from personastream_stack import jmx_exporter, maven
from personastream_stack.component import Component, host_port, render_template
from personastream_stack.errors import StackError
from personastream_stack.process import port_open
from personastream_stack.supervision import Program

log = logging.getLogger(__name__)

MAIN_CLASS = "kafka.Kafka"
CONSUME_SLICE_S = 0.2


class TopicReadError(PersonastreamError):
    """A topic could not be read to its end."""


def read_to_end(settings, topic: str, batch: int = 1000, timeout_s: float = 10.0,
                since_ms: int | None = None):
    """Yield the records of ``topic`` from its start (or from the first record timestamped at
    or after ``since_ms``, epoch ms) to its end as of the call, in batches (lists of
    confluent-kafka messages); an independent reader (no consumer group offsets) of committed
    records. A partition ends at its last record or at the end of the log, whichever comes
    first: in a topic written in transactions (change data capture) the last offsets are
    commit markers, which no consumer sees."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"personastream-read-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "log_level": 0})
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
        if since_ms is not None:
            starts = consumer.offsets_for_times(
                [TopicPartition(topic, p, since_ms) for p in bounds], timeout=timeout_s)
            bounds = {s.partition: (high if s.offset < 0 else max(s.offset, low), high)
                      for s in starts for low, high in [bounds[s.partition]]}
        ends = {p: high for p, (low, high) in bounds.items() if high > low}
        consumer.assign([TopicPartition(topic, p, bounds[p][0]) for p in ends])
        deadline = time.monotonic() + timeout_s
        while ends:
            # consume() waits for a whole batch or its timeout: short slices, so that the last
            # few records of a topic do not wait timeout_s
            messages = consumer.consume(batch, timeout=CONSUME_SLICE_S)
            if not messages:
                if time.monotonic() > deadline:
                    raise TopicReadError(f"timed out reading {topic!r} (partitions left: "
                                         f"{sorted(ends)})")
                continue
            deadline = time.monotonic() + timeout_s
            records = []
            for msg in messages:
                if msg.error() and msg.error().code() == KafkaError._PARTITION_EOF:
                    ends.pop(msg.partition(), None)
                    continue
                if msg.error():
                    raise TopicReadError(f"reading {topic!r}: {msg.error()}")
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    ends.pop(msg.partition(), None)
                records.append(msg)
            if records:
                yield records
    finally:
        consumer.close()


def latest_by_key(settings, topic: str, timeout_s: float = 10.0) -> dict[str, bytes]:
    """The latest value of each key of a compacted ``topic`` (one :func:`read_to_end`); a key
    whose latest record is a tombstone is left out."""
    latest: dict[str, bytes | None] = {}
    for messages in read_to_end(settings, topic, timeout_s=timeout_s):
        for msg in messages:
            if msg.key():
                latest[msg.key().decode()] = msg.value()
    return {key: value for key, value in latest.items() if value}


def group_read_everything(settings, group: str, topic: str) -> bool:
    """Whether consumer ``group`` has committed every record of ``topic`` so far (a Flink Kafka
    source commits its positions when a checkpoint completes; its ``pendingRecords`` metric can
    stay at a stale value once the records stop coming)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": group, "enable.auto.commit": False, "log_level": 0})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return all(consumer.get_watermark_offsets(c, timeout=10)[1] in (0, c.offset)
                   for c in committed)
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


@dataclass(frozen=True)
class Node:
    """One local KRaft node (broker and controller), by its place in ``kafka_bootstrap_servers``."""

    node_id: int
    host: str
    port: int
    controller_port: int


def local_nodes(settings) -> list[Node]:
    """A combined broker + controller for each address of ``kafka_bootstrap_servers``; node
    ``i``'s controller listens on ``kafka_controller_port + 2(i-1)``.

    >>> from personastream_contracts.settings import resolve
    >>> s = resolve(environ={}, overrides={
    ...     "kafka_bootstrap_servers": "k1:9092,k2:9094,k3:9096"})
    >>> [(n.node_id, n.port, n.controller_port) for n in local_nodes(s)]
    [(1, 9092, 9093), (2, 9094, 9095), (3, 9096, 9097)]
    """
    addresses = [host_port(a) for a in settings.kafka_bootstrap_servers.split(",")]
    nodes = [Node(i, host, port, settings.kafka_controller_port + 2 * (i - 1))
             for i, (host, port) in enumerate(addresses, start=1)]
    ports = [p for n in nodes for p in (n.port, n.controller_port)]
    if len(set(ports)) != len(ports):
        raise SettingsError(f"the local Kafka nodes' ports collide ({ports}); node i's controller "
                            "port is kafka_controller_port + 2(i-1): choose broker ports apart")
    return nodes


class Kafka(Component):
    """One KRaft node per address of ``kafka_bootstrap_servers``: one broker by default, three
    on loopback for replication (``kafka_replication_factor`` 3, ``kafka_min_insync_replicas``
    2), each a program of its own (``kafka``, or ``kafka-1`` ... ``kafka-N``)."""

    name = "kafka"

    @property
    def nodes(self) -> list[Node]:
        return local_nodes(self.settings)

    def node_dir(self, node: Node) -> Path:
        return self.run_dir if len(self.nodes) == 1 else self.run_dir / f"node-{node.node_id}"

    @property
    def daemons(self) -> list[Program]:
        nodes = self.nodes
        return [Program(self.settings, "kafka" if len(nodes) == 1 else f"kafka-{n.node_id}",
                        self.node_dir(n)) for n in nodes]

    @property
    def port(self) -> int:
        return self.nodes[0].port

    @property
    def version(self) -> str:
        return maven.pom_property("kafka", "kafka.version")

    def fetch(self) -> None:
        maven.fetch(self.settings, "kafka", ["dependency:copy-dependencies"])
        jmx_exporter.fetch(self.settings)

    def _java(self, *args: str) -> list[str]:
        libs = maven.install_dir(self.settings, "kafka") / "libs"
        log4j = render_template("kafka-log4j2.properties", self.run_dir / "log4j2.properties")
        return [str(self.settings.java_home / "bin/java"), f"-Dlog4j2.configurationFile={log4j}",
                "-cp", f"{libs}/*", *args]

    def _ids(self) -> dict:
        """The cluster id and each controller's directory id, made once and kept: a node
        formatted later (its data lost) joins the same cluster."""
        path = self.run_dir / "cluster.json"
        if not path.exists():
            def new_id() -> str:
                return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"cluster_id": new_id(),
                                        "directories": {str(n.node_id): new_id()
                                                        for n in self.nodes}}))
        return json.loads(path.read_text())

    def _format(self, node: Node, config: Path) -> None:
        """Format a node's storage: a single node as a standalone controller quorum, several
        with every controller named up front (KRaft's dynamic quorum, KIP-853)."""
        ids = self._ids()
        nodes = self.nodes
        quorum = (["--standalone"] if len(nodes) == 1 else [
            "--initial-controllers", ",".join(
                f"{n.node_id}@{n.host}:{n.controller_port}:{ids['directories'][str(n.node_id)]}"
                for n in nodes)])
        fmt = subprocess.run(self._java("-Xmx256m", "kafka.tools.StorageTool", "format",
                                        *quorum, "-t", ids["cluster_id"], "-c", str(config)),
                             capture_output=True, text=True)
        if fmt.returncode != 0:
            raise StackError(f"formatting Kafka storage of node {node.node_id} failed:\n"
                             f"{fmt.stdout}{fmt.stderr}")

    def launch(self) -> None:
        nodes = self.nodes
        heap = self.settings.kafka_heap
        for node, program in zip(nodes, self.daemons):
            if program.running_pid() is not None:
                continue
            data_dir = self.node_dir(node) / "data"
            config = render_template(
                "kafka.properties", self.node_dir(node) / "server.properties",
                node_id=node.node_id, host=node.host, port=node.port,
                controller_port=node.controller_port, data_dir=data_dir,
                quorum=",".join(f"{n.host}:{n.controller_port}" for n in nodes),
                partitions=self.settings.kafka_partitions,
                internal_replication=min(3, len(nodes)), internal_min_isr=min(2, len(nodes)))
            if not (data_dir / "meta.properties").exists():
                self._format(node, config)
            agent = jmx_exporter.agent_option(self.settings, "kafka", node.host,
                                              self.metrics_port(node), self.node_dir(node))
            program.start(self._java(f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", agent,
                                     MAIN_CLASS, str(config)))

    def metrics_port(self, node: Node) -> int:
        """Where node's JMX exporter serves its metrics."""
        return self.settings.kafka_metrics_port + node.node_id - 1

    def probe(self) -> str:
        nodes = self.nodes
        if not any(port_open(n.host, n.port) for n in nodes):  # spares librdkafka's log lines
            raise ConnectionRefusedError(f"nothing listens on {self.settings.kafka_bootstrap_servers}")
        metadata = admin_client(self.settings).list_topics(timeout=2)
        if len(metadata.brokers) < len(nodes):
            raise StackError(f"{len(metadata.brokers)} of {len(nodes)} Kafka brokers registered")
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
