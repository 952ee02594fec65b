"""Kafka Connect from Maven jars: one worker in distributed mode (its configs, offsets and status
in topics of the stack's Kafka, REST on loopback), with the Debezium PostgreSQL connector on its
classpath. The connectors it runs are deployed by :mod:`personastream_stack.cdc`.

Distributed rather than standalone mode, although one worker runs here: offsets kept in Kafka
(not a local file), connectors configured over REST, and the same deployment on a cluster of
workers (``connect_url`` pointing at it, ``connect`` dropped from ``local_components``).
"""
from __future__ import annotations

import logging
from pathlib import Path

import requests

from personastream_stack import maven
from personastream_stack.component import Component, host_port, render_template, url_authority
from personastream_stack.errors import StackError
from personastream_stack.supervision import Program

log = logging.getLogger(__name__)

MAIN_CLASS = "org.apache.kafka.connect.cli.ConnectDistributed"
REQUEST_TIMEOUT_S = 10


def rest(settings, method: str, path: str, timeout_s: float = REQUEST_TIMEOUT_S,
         **kwargs) -> requests.Response:
    """A request to the Connect REST API at ``connect_url``; raises :class:`StackError` naming
    the worker when it does not answer."""
    url = f"{settings.connect_url.rstrip('/')}/{path.lstrip('/')}"
    try:
        return requests.request(method, url, timeout=timeout_s, **kwargs)
    except requests.RequestException as err:
        raise StackError(f"Kafka Connect at {settings.connect_url} did not answer {method} "
                         f"{path} ({err.__class__.__name__}); is it up? `personastream stack "
                         "up connect`") from None


def connector_states(settings) -> dict[str, dict]:
    """Each connector's status: ``{"connector": {"state": ...}, "tasks": [{"state": ...}]}``."""
    resp = rest(settings, "GET", "/connectors", params={"expand": "status"})
    resp.raise_for_status()
    return {name: body["status"] for name, body in resp.json().items()}


class Connect(Component):
    name = "connect"

    @property
    def daemons(self) -> list[Program]:
        return [Program(self.settings, "connect", self.run_dir)]

    @property
    def port(self) -> int:
        return host_port(url_authority(self.settings.connect_url))[1]

    @property
    def version(self) -> str:
        return maven.pom_property("connect", "kafka.version")

    @property
    def debezium_version(self) -> str:
        return maven.pom_property("connect", "debezium.version")

    def fetch(self) -> None:
        maven.fetch(self.settings, "connect", ["dependency:copy-dependencies"])

    def write_config(self) -> Path:
        """The worker's properties, from the settings."""
        rest_host, rest_port = host_port(url_authority(self.settings.connect_url))
        return render_template(
            "connect-distributed.properties", self.run_dir / "connect-distributed.properties",
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.settings.connect_group_id,
            replication_factor=self.settings.kafka_replication_factor,
            partitions=self.settings.kafka_partitions, rest_host=rest_host, rest_port=rest_port)

    def launch(self) -> None:
        libs = maven.install_dir(self.settings, "connect") / "libs"
        config = self.write_config()
        log4j = render_template("connect-log4j2.properties", self.run_dir / "log4j2.properties")
        heap = self.settings.connect_heap
        self.daemons[0].start([
            str(self.settings.java_home / "bin/java"), f"-Xms{heap}", f"-Xmx{heap}",
            "-XX:+UseG1GC", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*",
            MAIN_CLASS, str(config)])

    def probe(self) -> str:
        """The worker answers once it has joined its group and read the config topic."""
        states = connector_states(self.settings)
        return f"worker {self.version}, Debezium {self.debezium_version}, " \
               f"{len(states)} connector(s)"

    def problems(self) -> list[str]:
        """Connectors or tasks not RUNNING (a FAILED task's trace is in its status)."""
        out = []
        for name, status in connector_states(self.settings).items():
            if status["connector"]["state"] != "RUNNING":
                out.append(f"connector {name} {status['connector']['state']}")
            out.extend(f"connector {name} task {t['id']} {t['state']}: "
                       f"{(t.get('trace') or '').splitlines()[:1]}"
                       for t in status["tasks"] if t["state"] != "RUNNING")
            if not status["tasks"]:
                out.append(f"connector {name} has no task")
        return out
