"""Scale by settings: with ``flink_taskmanagers`` 2 the local cluster has two TaskManagers (each
its own JVM and Python interpreter), a job at ``flink_parallelism`` 2 runs subtasks of every task
on the new one (the JobManager places slots on the least used TaskManager,
``load-balance.mode SLOTS``: one on each when both are empty, both on the new one when the first
already runs jobs) and lands every event; `stack up` at the setting of 1 stops the second."""
import dataclasses
import time

from personastream_bench import traffic
from personastream_stack import flink_jobs
from personastream_stack.flink import Flink, rest_get


def taskmanagers_of_tasks(s, job_id: str) -> dict[str, set[str]]:
    """Per task of the job, the TaskManagers its subtasks run on."""
    return {v["name"]: {sub["taskmanager-id"] for sub in
                        rest_get(s, f"/jobs/{job_id}/vertices/{v['id']}")["subtasks"]}
            for v in rest_get(s, f"/jobs/{job_id}")["vertices"]}


def registered(settings) -> int:
    return rest_get(settings, "/overview")["taskmanagers"]


def taskmanager_ids(settings) -> set[str]:
    return {tm["id"] for tm in rest_get(settings, "/taskmanagers")["taskmanagers"]}


def test_a_job_at_parallelism_two_runs_on_two_taskmanagers(settings, isolated, enriched):
    two = dataclasses.replace(settings, flink_taskmanagers=2)
    first = taskmanager_ids(settings)
    try:
        Flink(two).start()
        Flink(two).wait_healthy()
        assert registered(settings) == 2
        (new,) = taskmanager_ids(settings) - first
        s = dataclasses.replace(isolated.settings, flink_parallelism=2)
        job = flink_jobs.submit(s, "land_events", instance=isolated.uid)
        spread = taskmanagers_of_tasks(s, job.job_id)
        assert spread and all(new in tms for tms in spread.values()), (new, spread)

        events = traffic.sample_events(n_events=300, n_users=60, seed=5)
        enriched.produce([(event, int(time.time() * 1000)) for event in events])
        rows = traffic.wait_landed(s, events, timeout_s=120)
        assert sorted(r.event_id for r in rows) == sorted(e["event_id"] for e in events)
        flink_jobs.cancel(s, job.job_id)
    finally:
        Flink(settings).start()  # the setting says one: the second TaskManager is stopped
    deadline = time.monotonic() + 60
    while registered(settings) != 1:
        assert time.monotonic() < deadline, f"{registered(settings)} TaskManagers still registered"
        time.sleep(0.5)
    assert [d.name for d in Flink(settings).daemons if d.running_pid()] == [
        "jobmanager", "taskmanager", "reconciler"]
