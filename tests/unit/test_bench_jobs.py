"""The jobs benchmark's pure parts: the workload and what it expects of each job, isolation of
names, the bare trends loop, and the report (no servers)."""
import dataclasses
import json
import re

import pytest

from personastream.commands.bench import _jobs_report
from personastream_bench import jobs
from personastream_contracts.cassandra import keyspace, schema_statements
from personastream_contracts.settings import renamed, resolve
from personastream_flink.catalog import JOBS
from personastream_models import specs
from personastream_models.features import feature_set

ENV = {"HOME": "/home/t"}
N_PARTITIONS = 4
WINDOW_S, WATERMARK_S, N_WINDOWS = 60, 5, 6


@pytest.fixture(scope="module")
def workload():
    return jobs.build_workload(1_000, n_items=20, n_windows=N_WINDOWS, n_partitions=N_PARTITIONS,
                               window_s=WINDOW_S, watermark_s=WATERMARK_S, seed=3,
                               progress=lambda message: None)


def _values(records):
    return [json.loads(value) for _, value in records]


def test_workload_has_n_events_in_receipt_order_then_one_closing_event_per_partition(workload):
    events = _values(workload.records)
    closing = _values(workload.closing)
    assert workload.n_events == len(events) + len(closing) == 1_000
    assert len(closing) == N_PARTITIONS
    times = [e["received_at_ms"] for e in events]
    assert times == sorted(times)
    end_ms = workload.start_ms + N_WINDOWS * WINDOW_S * 1000
    assert workload.start_ms <= times[0] and times[-1] < end_ms
    assert all(e["received_at_ms"] >= end_ms + WATERMARK_S * 1000 for e in closing)
    assert {e["event_type"] for e in closing} == {"page_view"}
    assert len({e["event_id"] for e in events + closing}) == 1_000


def test_workload_views_are_the_product_views_per_item_and_window(workload):
    counted: dict = {}
    for e in _values(workload.records):
        if e["event_type"] == "product_view":
            window = (e["received_at_ms"] - workload.start_ms) // workload.window_ms
            counted[(e["item_id"], window)] = counted.get((e["item_id"], window), 0) + 1
    assert counted == workload.views
    assert {w for _, w in workload.views} == set(range(N_WINDOWS))
    assert len(workload.item_ids) <= 20
    assert workload.user_keys == sorted({k.decode() for k, _ in
                                         workload.records + workload.closing})


def test_window_start_and_index_are_inverse(workload):
    start = workload.window_start(3)
    assert start.tzinfo is None and start.second == 0
    assert workload.window_index(start) == 3


def test_series_is_in_window_order_with_every_cell_once(workload):
    series = workload.trend_series()
    assert [w for _, w, _ in series] == sorted(w for _, w, _ in series)
    assert {(item, w): n for item, w, n in series} == workload.views


def test_too_few_events_for_the_closing_ones_is_refused():
    with pytest.raises(jobs.BenchmarkError, match="must exceed"):
        jobs.build_workload(4, 5, 2, 4, 60, 5, 1, progress=lambda m: None)


def test_renamed_settings_rename_every_topic_and_the_keyspace():
    s = renamed(resolve(environ=ENV), "bench_0a1b2c3d")
    topics = {f.name: getattr(s, f.name) for f in dataclasses.fields(s)
              if f.name.startswith("topic_")}
    assert topics and all(t.startswith("bench_0a1b2c3d.") for t in topics.values())
    assert keyspace(s) == "bench_0a1b2c3d"


@pytest.mark.parametrize("name", sorted(jobs.JOBS_UNDER_TEST))
def test_each_job_under_test_is_a_catalogue_job_writing_real_columns(name):
    job = jobs.JOBS_UNDER_TEST[name]
    assert name in JOBS
    ddl = next(st for st in schema_statements(resolve(environ=ENV))
               if re.search(rf"\.{job.table}\s*\(", st))
    assert re.search(rf"PRIMARY KEY \(\(?{job.partition_key}\b", ddl)
    assert re.search(rf"\b{job.written_column}\s+\w+,", ddl)


def test_bare_loop_scores_each_item_with_its_own_detector(workload):
    spec = specs.load("trends_detector")
    series = workload.trend_series()
    rows = list(jobs.score_series(spec, series))
    for item in workload.item_ids[:3]:
        # the spec's own detector, and its stand-in's while it stands in
        stand_in = specs.load(spec.name, spec.stand_in.version) if spec.stand_in else spec
        detector, stand_in_detector = specs.build(spec), specs.build(stand_in)
        expected = []
        for i, _, n in series:
            if i == item:  # score before learning, as score_then_learn does
                x = feature_set(spec.features)(count=float(n))
                score = detector.score_one(x)
                detector.learn_one(x)
                if spec.stand_in and len(expected) < spec.stand_in.windows:
                    score = stand_in_detector.score_one(x)
                    stand_in_detector.learn_one(x)
                expected.append(score)
        assert [r[3]["score"] for r in rows if r[0] == item] == expected
        assert [r[3]["n_learned"] for r in rows if r[0] == item] == list(range(1, len(expected) + 1))


def test_a_job_that_rewrites_its_rows_reports_no_first_row_time():
    # live_profiles keeps one row per customer, rewritten per event: MIN(WRITETIME) would be the
    # first customer's last write, minutes after the first row
    assert not jobs.JOBS_UNDER_TEST["live_activity"].first_write_known
    assert jobs.JOBS_UNDER_TEST["land_events"].first_write_known
    run = jobs.JobRun("live_activity", jobs.THIS_TREE, "f" * 32, "live_profiles", 10_000,
                      10_000, 4.0, None, 1, {}, [])
    report = jobs.Report(10_000, 3_500, 20, 6, 60, 900, 7, [run], [], 42.0, 1, 2, 1.5, [])
    text = _jobs_report(report, "personastream bench jobs --jobs live_activity")
    assert re.search(r"live_activity\s+this tree\s+1\s+10,000\s+10,000 live_profiles\s+4\.0\s+"
                     r"2,500\s+2,500\s+-\s+1\.0x", text)


def test_report_shows_rates_ratios_and_the_command():
    def run(design: str, seconds: float, parallelism: int = 1) -> jobs.JobRun:
        return jobs.JobRun("score_trends", design, "f" * 32, "item_trends", 10_000, 2_000,
                           seconds, 2.0, parallelism,
                           {"Source: events": 1.0, "score_item_views -> (cassandra)": 8.0}, [])

    old, new = run("baseline 66b29ab", 10.0), run(jobs.THIS_TREE, 2.5)
    wide = run(jobs.THIS_TREE, 2.0, parallelism=2)
    udf = [jobs.UdfCost(d, "trends_detector 3-4-0", 2_000, 20, 0.02, [0.02, 0.03], 1.0,
                        "score_item_views -> (cassandra)", busy, wall, 2_000, 2_000)
           for d, busy, wall in (("baseline 66b29ab", 8.0, 10.0), (jobs.THIS_TREE, 0.1, 2.5))]
    report = jobs.Report(10_000, 3_500, 20, 6, 60, 900, 7, [old, new, wide], udf, 42.0, 2, 2,
                         1.5, [])
    text = _jobs_report(report, "personastream bench jobs --events 10000")
    assert re.search(r"score_trends\s+baseline 66b29ab\s+1\s+10,000\s+2,000 item_trends\s+"
                     r"10\.0\s+1,000\s+200 .* 1\.0x", text)
    assert re.search(r"score_trends\s+this tree\s+1\s+10,000\s+2,000 item_trends\s+2\.5\s+"
                     r"4,000\s+800 .* 4\.0x", text)  # 4,000 events/s against 1,000
    assert re.search(r"score_trends\s+this tree\s+2\s+10,000\s+2,000 item_trends\s+2\.0\s+"
                     r"5,000\s+1,000 .* 5\.0x", text)
    # busy seconds are summed over a task's subtasks, shown per subtask: 8 s / 2 s / 2
    assert re.findall(r"busy\s+(\d+)%\s+score_item_views", text) == ["80", "320", "200"]
    assert "2 Flink TaskManager(s)" in text
    assert "500.0x" in text  # the baseline's Flink wall 10 s / bare 0.02 s
    assert "5.0x" in text  # this tree's busy time 0.1 s / bare 0.02 s
    assert text.count("2,000/2,000") == 4
    assert text.splitlines()[-1] == "reproduce: personastream bench jobs --events 10000"


def test_a_job_in_thread_mode_in_both_designs_is_recognised(tmp_path):
    """Two thread-mode designs of a job cannot share a TaskManager's interpreter: found from
    the modules' sources (this tree's live_activity and score_trends call thread_mode)."""
    module = tmp_path / "flink-udfs" / "personastream_flink"
    module.mkdir(parents=True)
    (module / "live_activity.py").write_text("job_args.thread_mode(env)\n")
    (module / "score_trends.py").write_text("env.set_python_executable(python)\n")
    assert jobs.in_taskmanager_in_both("live_activity", tmp_path)
    assert not jobs.in_taskmanager_in_both("score_trends", tmp_path)  # a Python process there
    assert not jobs.in_taskmanager_in_both("land_events", tmp_path)  # no such module there
