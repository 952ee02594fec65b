"""Integration fixtures: the real servers `personastream stack up` started, and per-test
topics, keyspace, process group, parameter context and Flink job, removed afterwards."""
from __future__ import annotations

import dataclasses
import socket
import uuid

import nipyapi
import pytest

from personastream import flink_jobs
from personastream.settings import resolve
from personastream.stack import lifecycle
from personastream.stack.cassandra import ensure_schema, keyspace, session
from personastream.stack.kafka import admin_client, ensure_topics, pipeline_topics
from personastream_flows.client import connect
from personastream_flows.deploy import deploy, find_group
from personastream_flows.parameters import context_name


@pytest.fixture(scope="session")
def settings():
    return resolve()


@pytest.fixture(scope="session")
def healthy_stack(settings):
    """Fail (never skip) when a server is missing: `make test` starts them all."""
    report = lifecycle.status(settings)
    broken = {h.component: h.detail for h in report if not h.healthy}
    assert not broken, f"servers not healthy, run `personastream stack up` first: {broken}"
    return report


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclasses.dataclass
class Isolated:
    """Settings pointing at this test's own topics, keyspace and ingest port, and the names of
    its own process group and environment (parameter context)."""

    uid: str
    settings: object
    group_name: str
    env: str

    @property
    def context_name(self) -> str:
        return context_name("personastream", self.env)

    def deploy_ingest(self):
        return deploy(self.settings, "ingest", env=self.env, group_name=self.group_name)


@pytest.fixture
def isolated(settings, healthy_stack):
    uid = uuid.uuid4().hex[:8]
    port = _free_port()
    s = dataclasses.replace(
        settings, cassandra_keyspace=f"test_{uid}",
        topic_events_enriched=f"test_{uid}.events.enriched",
        topic_events_deadletter=f"test_{uid}.events.deadletter",
        topic_trends_anomalies=f"test_{uid}.trends.anomalies",
        nifi_ingest_port=port, nifi_ingest_url=f"http://127.0.0.1:{port}/events")
    ensure_topics(s, pipeline_topics(s))
    ensure_schema(s)
    iso = Isolated(uid, s, f"ingest_test_{uid}", f"test_{uid}")
    yield iso
    _cleanup(iso)


def _cleanup(iso: Isolated) -> None:
    s = iso.settings
    for job in flink_jobs.list_jobs(s):
        if job.name.endswith(iso.uid) and job.state in flink_jobs.ACTIVE_STATES:
            flink_jobs.cancel(s, job.job_id)
    connect(s)
    group = find_group(iso.group_name)
    if group is not None:
        nipyapi.canvas.delete_process_group(group, force=True)
    context = nipyapi.parameters.get_parameter_context(iso.context_name, "name", greedy=False)
    if context is not None:
        nipyapi.parameters.delete_parameter_context(context)
    admin = admin_client(s)
    for future in admin.delete_topics(pipeline_topics(s), operation_timeout=30).values():
        future.result()
    with session(s) as cql:
        cql.execute(f"DROP KEYSPACE IF EXISTS {keyspace(s)}", timeout=60)
