"""The declared jobs' file and the search for a job's newest retained checkpoint on disk."""
from personastream_contracts import declared_jobs


def checkpoint(root, job_id: str, n: int, complete: bool = True):
    folder = root / job_id / f"chk-{n}"
    folder.mkdir(parents=True)
    if complete:
        (folder / "_metadata").write_bytes(b"\0")
    return folder


def test_newest_complete_checkpoint_of_the_newest_run_that_has_one(tmp_path):
    checkpoint(tmp_path, "old", 90)
    checkpoint(tmp_path, "new", 9)
    checkpoint(tmp_path, "new", 10)
    checkpoint(tmp_path, "new", 11, complete=False)  # being written when the cluster died
    (tmp_path / "new" / "shared").mkdir()
    assert declared_jobs.newest_checkpoint(tmp_path, ["newest", "new", "old"]) == \
        tmp_path / "new" / "chk-10"
    assert declared_jobs.newest_checkpoint(tmp_path, ["missing"]) is None


def test_runs_are_kept_newest_first_and_bounded(tmp_path):
    path = tmp_path / "declared.json"
    for i in range(declared_jobs.KEPT_RUNS + 3):
        declared_jobs.record(path, "score_trends", "score_trends", f"{i:032x}")
    runs = declared_jobs.read(path)["score_trends"].job_ids
    assert runs[0] == f"{declared_jobs.KEPT_RUNS + 2:032x}"
    assert len(runs) == declared_jobs.KEPT_RUNS


def test_withdrawing_keeps_the_other_jobs(tmp_path):
    path = tmp_path / "declared.json"
    declared_jobs.record(path, "land_events", "land_events", "a" * 32)
    declared_jobs.record(path, "live_activity", "live_activity", "b" * 32)
    declared_jobs.withdraw(path, ["land_events", "not_declared"])
    assert list(declared_jobs.read(path)) == ["live_activity"]


def test_a_run_declared_without_arguments_keeps_the_declared_ones(tmp_path):
    path = tmp_path / "declared.json"
    declared_jobs.record(path, "land_events", "land_events", "a" * 32, ["--topic", "t"])
    declared_jobs.record(path, "land_events", "land_events", "b" * 32)  # found already running
    assert declared_jobs.read(path)["land_events"].arguments == ["--topic", "t"]
