"""One event, real all the way: HTTP POST to NiFi -> Kafka -> PyFlink (Python UDF) -> Cassandra."""
import json

import nipyapi

from personastream import flink_jobs, sample_traffic
from personastream_flows import deploy as flow_deploy


def test_event_posted_to_nifi_lands_in_cassandra(isolated):
    s = isolated.settings
    deployed = flow_deploy.deploy(s, "ingest", group_name=isolated.group_name,
                                  context_name=isolated.context_name)
    assert deployed.action == "created"
    job = flink_jobs.submit(s, "land_events", instance=isolated.uid)
    assert job.state == "RUNNING"
    assert any(j.job_id == job.job_id for j in flink_jobs.list_jobs(s))

    events = sample_traffic.sample_events(n_events=3, n_users=3, seed=11)
    sample_traffic.post_events(s.nifi_ingest_url, events)
    rows = {r.event_id: r for r in sample_traffic.wait_landed(s, events, timeout_s=90)}

    for event in events:
        row = rows[event["event_id"]]
        assert row.user_key == sample_traffic.user_key_of(event)
        assert row.event_type == event["event_type"]
        assert json.loads(row.payload) == event  # the payload travels untouched
        assert row.landed_at >= row.event_time

    assert flink_jobs.cancel(s, job.job_id) == [job.job_id]


def test_redeploy_replaces_in_place(isolated):
    s = isolated.settings
    first = flow_deploy.deploy(s, "ingest", group_name=isolated.group_name,
                               context_name=isolated.context_name)
    second = flow_deploy.deploy(s, "ingest", group_name=isolated.group_name,
                                context_name=isolated.context_name)
    assert (first.action, second.action) == ("created", "replaced")
    assert second.group_id == first.group_id
    group = nipyapi.canvas.get_process_group(first.group_id, "id")
    assert group.running_count == 2 and group.invalid_count == 0
    context = nipyapi.parameters.get_parameter_context(isolated.context_name, "name", greedy=False)
    values = {p.parameter.name: p.parameter.value for p in context.component.parameters}
    assert values == flow_deploy.parameters(s)
