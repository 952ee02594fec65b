"""The real servers run, report themselves, and `stack up` again is harmless."""
import json
import subprocess
import sys

from personastream_flows import bundle
from personastream_stack import lifecycle
from personastream_stack.kafka import admin_client
from personastream_stack.priority import thread_niceness
from personastream_stack.process import cmdline
from personastream_stack.timer_slack import timer_slack_ns

MAIN_CLASSES = {
    "kafka": ["kafka.Kafka"],
    "cassandra": ["org.apache.cassandra.service.CassandraDaemon"],
    "nifi": ["org.apache.nifi.NiFi"],
    "flink": ["org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
              "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"],
    "postgres": ["bin/postgres"],
    "connect": ["org.apache.kafka.connect.cli.ConnectDistributed"],
    "prometheus": ["--storage.tsdb.path", "prometheus-alertmanager",
                   "personastream_stack.alert_log", "personastream_stack.pipeline_exporter"],
}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "personastream", *args],
                          capture_output=True, text=True, check=True)


def status() -> dict:
    """`stack status --json`, whose exit code says whether everything is healthy (0) or not."""
    done = subprocess.run([sys.executable, "-m", "personastream", "stack", "status", "--json"],
                          capture_output=True, text=True)
    report = json.loads(done.stdout)
    everything_fine = all(h["healthy"] and not h["degraded"] for h in report.values())
    assert done.returncode == (0 if everything_fine else 1), (done.returncode, report)
    return report


def test_status_json_reports_every_server_healthy(healthy_stack):
    report = status()
    assert sorted(report) == sorted(MAIN_CLASSES)
    for name, health in report.items():
        assert health["healthy"], (name, health)
        assert health["pids"] and health["port"] > 0 and health["version"][0].isdigit()
        cmdlines = [cmdline(pid) for pid in health["pids"]]
        for main_class in MAIN_CLASSES[name]:
            assert any(main_class in c for c in cmdlines), (name, main_class)


def test_up_again_keeps_the_same_processes(healthy_stack):
    before = status()
    cli("stack", "up")
    after = status()
    assert {k: v["pids"] for k, v in after.items()} == {k: v["pids"] for k, v in before.items()}


def niceness(pid: int) -> set[int]:
    return set(thread_niceness(pid))


def test_taskmanagers_give_way_to_the_request_path(healthy_stack, settings):
    report = status()
    pids = {name: [p for p in h["pids"] if "TaskManagerRunner" in cmdline(p)] or h["pids"]
            for name, h in report.items()}
    taskmanager = pids["flink"][0]
    assert niceness(taskmanager) == {settings.flink_taskmanager_nice}
    for name in ("nifi", "kafka", "cassandra"):
        assert niceness(pids[name][0]) == {0}, name
    try:  # a changed setting reaches the running TaskManager, no restart
        subprocess.run([sys.executable, "-m", "personastream", "--set",
                        "flink_taskmanager_nice=15", "stack", "up", "flink"],
                       capture_output=True, text=True, check=True)
        assert niceness(taskmanager) == {15}
    finally:
        cli("stack", "up", "flink")
    assert niceness(taskmanager) == {settings.flink_taskmanager_nice}


def test_cassandra_runs_with_its_timer_slack(healthy_stack, settings):
    cassandra = status()["cassandra"]["pids"][0]
    assert "CassandraDaemon" in cmdline(cassandra)  # the launcher ran it in its place
    assert timer_slack_ns(cassandra) == settings.cassandra_timer_slack_us * 1000


def test_down_stops_only_what_it_names_and_keeps_data(healthy_stack, settings):
    topics_before = set(admin_client(settings).list_topics(timeout=10).topics)
    other_pids = {h.component: h.pids for h in lifecycle.status(settings) if h.component != "kafka"}

    cli("stack", "down", "kafka")
    report = status()
    assert report["kafka"]["running"] is False and report["kafka"]["pids"] == []
    assert {k: v["pids"] for k, v in report.items() if k != "kafka"} == other_pids

    cli("stack", "up", "kafka")
    report = status()
    assert report["kafka"]["healthy"]
    assert topics_before <= set(admin_client(settings).list_topics(timeout=10).topics)


def test_nifi_loads_the_python_bundle_copied_from_the_sources(healthy_stack, settings):
    """The processors NiFi runs, with the contracts and ingest code they import and their
    pinned dependencies, are byte for byte what the repository holds."""
    target = settings.nifi_python_extensions_dir
    assert bundle.differences(target, with_requirements=True) == []
    assert (target / bundle.BUNDLED / "jsonschema").is_dir()
