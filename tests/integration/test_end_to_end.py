"""Events real all the way: HTTP POST to NiFi -> Kafka -> PyFlink (Python UDF) -> Cassandra."""
import nipyapi

from personastream_bench import traffic
from personastream_flows.definitions import load_definition
from personastream_flows.parameters import parameter_values
from personastream_stack import flink_jobs


def test_events_posted_to_nifi_land_in_cassandra(isolated):
    s = isolated.settings
    assert isolated.deploy_ingest().action == "created"
    job = flink_jobs.submit(s, "land_events", instance=isolated.uid)
    assert job.state == "RUNNING"
    assert any(j.job_id == job.job_id for j in flink_jobs.list_jobs(s))

    events = traffic.sample_events(n_events=12, n_users=4, seed=11)
    traffic.post_events(s.nifi_ingest_url, events)
    rows = {r.event_id: r for r in traffic.wait_landed(s, events, timeout_s=90)}

    for event in events:
        row = rows[event["event_id"]]
        assert row.user_key == traffic.user_key_of(event)
        assert row.event_type == event["event_type"]
        for field in ("item_id", "category", "brand", "price", "query", "page_url"):
            assert getattr(row, field) == event.get(field), field
        assert (row.country, row.device_type) == ("GB", "desktop")  # enriched by NiFi
        assert row.landed_at >= row.received_at

    assert flink_jobs.cancel(s, job.job_id) == [job.job_id]


def test_redeploy_keeps_the_group_and_is_idempotent(isolated):
    first = isolated.deploy_ingest()
    second = isolated.deploy_ingest()
    assert (first.action, second.action) == ("created", "unchanged")
    assert second.group_id == first.group_id
    group = nipyapi.canvas.get_process_group(first.group_id, "id")
    n_processors = len(load_definition("ingest")["flowContents"]["processors"])
    assert group.running_count == n_processors and group.invalid_count == 0
    context = nipyapi.parameters.get_parameter_context(isolated.context_name, "name", greedy=False)
    values = {p.parameter.name: p.parameter.value for p in context.component.parameters
              if not p.parameter.sensitive}
    assert values == parameter_values(isolated.settings)
