"""How a job is handed to ``flink run``: the client JVM's options (``flink_client_java_opts``)
travel as ``JVM_ARGS``, which Flink's own launcher puts on the client's java command line.
``flink run`` and Flink's REST API are stubbed: pure logic."""
from __future__ import annotations

import subprocess

from personastream_contracts.settings import resolve
from personastream_stack import flink_jobs
from personastream_stack.flink import flink_home
from personastream_stack.flink_jobs import JobInfo


def test_the_client_jvm_options_reach_flink_run_as_jvm_args(monkeypatch, tmp_path):
    settings = resolve(overrides={"state_dir": str(tmp_path),
                                  "flink_client_java_opts": "-XX:TieredStopAtLevel=1 -Xss2m"})
    runs = []

    def flink_run(argv, **kwargs):
        runs.append((argv, kwargs["env"]))
        return subprocess.CompletedProcess(argv, 0, "Job has been submitted with JobID "
                                           + "ab" * 16, "")

    monkeypatch.setattr(flink_jobs, "active_job", lambda s, name: None)
    monkeypatch.setattr(flink_jobs.subprocess, "run", flink_run)
    monkeypatch.setattr(flink_jobs, "wait_running",
                        lambda s, job_id: JobInfo(job_id, "land_events", "RUNNING", 0))
    info = flink_jobs.submit(settings, "land_events", arguments=["--x"], declare=False)

    (argv, env), = runs
    assert argv[:2] == [str(flink_home() / "bin/flink"), "run"]
    assert env["JVM_ARGS"] == "-XX:TieredStopAtLevel=1 -Xss2m"
    assert info.job_id == "ab" * 16
    launcher = (flink_home() / "bin/flink").read_text()
    assert 'exec "${JAVA_RUN}" $JVM_ARGS' in launcher  # what makes JVM_ARGS the client's
