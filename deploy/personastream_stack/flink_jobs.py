"""Submit, list and cancel the PyFlink jobs on a Flink cluster (local session or remote).

Submission goes through Flink's own CLI (``flink run -pym``), which builds the job graph with
the Python client and uploads it with the connector jars; everything else uses the REST API.
"""
from __future__ import annotations

import importlib
import itertools
import json
import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import requests

from personastream_contracts import declared_jobs
from personastream_contracts.errors import PersonastreamError
from personastream_contracts.settings import Settings, as_environ
from personastream_flink.catalog import JOBS
from personastream_stack.errors import StackError
from personastream_stack.flink import Flink, fetch_connectors, flink_home, rest_get

log = logging.getLogger(__name__)

_SUBMITTED = re.compile(r"JobID ([0-9a-f]{32})")
ACTIVE_STATES = declared_jobs.ACTIVE_STATES


class JobError(PersonastreamError):
    """A job could not be submitted, found or cancelled."""


@dataclass
class JobInfo:
    job_id: str
    name: str
    state: str
    start_time_ms: int


def list_jobs(settings: Settings) -> list[JobInfo]:
    """Every job the cluster knows, newest first."""
    jobs = rest_get(settings, "/jobs/overview")["jobs"]
    return sorted((JobInfo(j["jid"], j["name"], j["state"], j["start-time"]) for j in jobs),
                  key=lambda j: -j.start_time_ms)


def active_job(settings: Settings, name: str) -> JobInfo | None:
    return next((j for j in list_jobs(settings) if j.name == name and j.state in ACTIVE_STATES),
                None)


def _arguments_of(code: list[Path], name: str, settings: Settings, job_name: str) -> list[str]:
    """Job ``name``'s arguments as the design in ``code`` builds them from ``settings`` (its
    own ``job_arguments``, which may differ from this tree's), in a process of its own. The
    connector jars are this tree's, fetched here: the process imports only the design's own
    packages, which need not match this tree's deploy code."""
    script = ("import importlib, json, sys; from personastream_contracts.settings import resolve; "
              f"m = importlib.import_module({JOBS[name]!r}); print(json.dumps(m.job_arguments("
              f"resolve(), json.loads(sys.argv[1]), job_name={job_name!r})))")
    jars = json.dumps([str(jar) for jar in fetch_connectors(settings)])
    env = {**os.environ, **as_environ(settings), "PYTHONPATH": os.pathsep.join(
        [*map(str, code), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([settings.flink_python, "-c", script, jars], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise JobError(f"the arguments of {name} in {code[0].parent} could not be built: "
                       f"{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def submit(settings: Settings, name: str, instance: str | None = None,
           restore_from: str | None = None, code: list[Path] | None = None,
           arguments: list[str] | None = None, declare: bool = True) -> JobInfo:
    """Submit job ``name`` unless it already runs; wait until it is RUNNING. The job is
    declared (``declared_jobs``) with its arguments, unless ``declare`` is False.

    ``instance`` runs a second copy under the Flink job name ``name_instance`` (tests do, with
    their own topics and keyspace); the job name is also its Kafka consumer group.
    ``restore_from`` is a savepoint or retained checkpoint path to start from. ``code``: folders
    whose packages the job runs instead of the installed ones (shipped to the workers with
    ``-pyfs``, first on the client's path): a previous design, for a benchmark.
    ``arguments``: the job's own arguments (default: built from ``settings`` by the job's
    code, ``code``'s if given), as declared.
    """
    if name not in JOBS:
        raise JobError(f"no job named {name!r}; choose among {', '.join(JOBS)}")
    job_name = f"{name}_{instance}" if instance else name
    running = active_job(settings, job_name)
    if running is not None:
        log.info("%s already active as %s", job_name, running.job_id)
        if declare:
            declared_jobs.record(declared_jobs.path_for(settings), job_name, name,
                                 running.job_id)
        return running
    if arguments is None and code:
        arguments = _arguments_of(code, name, settings, job_name)
    elif arguments is None:
        module = importlib.import_module(JOBS[name])
        arguments = module.job_arguments(settings, fetch_connectors(settings), job_name=job_name)
    address = settings.flink_rest_url.split("//")[-1].rstrip("/")
    restore = ["--fromSavepoint", restore_from] if restore_from else []
    shipped = ["-pyfs", ",".join(map(str, code))] if code else []
    argv = [str(flink_home() / "bin/flink"), "run", "--detached", "-m", address, *restore,
            "--parallelism", str(settings.flink_parallelism),
            f"-Dpython.state.cache-size={settings.flink_python_state_cache_size}",
            *shipped, "-pym", JOBS[name], "-pyexec", settings.flink_python,
            "-pyclientexec", settings.flink_python,
            *arguments]
    client_logs = settings.state_dir / "flink-client" / "log"
    client_logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, JAVA_HOME=str(settings.java_home), FLINK_LOG_DIR=str(client_logs),
               JVM_ARGS=settings.flink_client_java_opts)
    if code:
        env["PYTHONPATH"] = os.pathsep.join([*map(str, code), env.get("PYTHONPATH", "")])
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    match = _SUBMITTED.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise JobError(f"`flink run` of {name} failed ({done.returncode}); client logs in "
                       f"{client_logs}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    if declare:
        declared_jobs.record(declared_jobs.path_for(settings), job_name, name, match.group(1),
                             arguments)
    return wait_running(settings, match.group(1))


def wait_running(settings: Settings, job_id: str) -> JobInfo:
    """Wait until every task of the job runs (not just the job being scheduled)."""
    deadline = time.monotonic() + settings.job_submit_timeout_s
    while True:
        detail = rest_get(settings, f"/jobs/{job_id}")
        tasks = [v["status"] for v in detail["vertices"]]
        if detail["state"] == "RUNNING" and all(t == "RUNNING" for t in tasks):
            return JobInfo(job_id, detail["name"], detail["state"], detail["start-time"])
        if detail["state"] in {"FAILED", "CANCELED", "FINISHED"}:
            exceptions = rest_get(settings, f"/jobs/{job_id}/exceptions")
            root = (exceptions.get("root-exception") or "")[:3000]
            raise JobError(f"job {job_id} ended {detail['state']} while starting:\n{root}")
        if time.monotonic() > deadline:
            raise JobError(f"timed out after {settings.job_submit_timeout_s:.0f}s waiting for "
                           f"job {job_id} to run (tasks: {tasks}); see the Flink web UI at "
                           f"{settings.flink_rest_url}")
        time.sleep(1)


def cancel(settings: Settings, job_id_or_name: str) -> list[str]:
    """Cancel a job by id, or every active job of that name, and withdraw its declaration
    (``declared_jobs``); return the ids cancelled."""
    jobs = list_jobs(settings)
    targets = [j.job_id for j in jobs
               if j.state in ACTIVE_STATES and job_id_or_name in (j.job_id, j.name)]
    names = {j.name for j in jobs if job_id_or_name in (j.job_id, j.name)} | {job_id_or_name}
    path = declared_jobs.path_for(settings)
    declared = [n for n in names if n in declared_jobs.read(path)]
    if not targets and not declared:
        raise JobError(f"no active job is called or numbered {job_id_or_name!r}; "
                       "`personastream jobs list` shows them")
    declared_jobs.withdraw(path, declared)
    _cancel_ids(settings, targets)
    return targets


def _cancel_ids(settings: Settings, job_ids: list[str]) -> None:
    for job_id in job_ids:
        resp = requests.patch(f"{settings.flink_rest_url.rstrip('/')}/jobs/{job_id}",
                              params={"mode": "cancel"}, timeout=10)
        resp.raise_for_status()


def last_checkpoint(settings: Settings, name: str) -> str:
    """Path of the newest completed checkpoint of the newest job called ``name``: from the
    JobManager's history, else (the JobManager restarted since) the newest retained checkpoint
    on disk of the job's declared runs (``declared_jobs``; the local cluster's)."""
    for job in list_jobs(settings):
        if job.name != name:
            continue
        latest = rest_get(settings, f"/jobs/{job.job_id}/checkpoints").get("latest") or {}
        completed = latest.get("completed") or {}
        if completed.get("external_path"):
            return completed["external_path"]
    declared = declared_jobs.read(declared_jobs.path_for(settings)).get(name)
    retained = declared and declared_jobs.newest_checkpoint(
        declared_jobs.checkpoints_dir(settings), declared.job_ids)
    if retained:
        return str(retained)
    raise JobError(f"no completed checkpoint of a job called {name!r}, neither in the "
                   "JobManager's history nor retained in "
                   f"{declared_jobs.checkpoints_dir(settings)} for its declared runs "
                   f"{declared.job_ids if declared else '(none declared)'}; checkpoints are "
                   "taken every 10 s while a job runs")


def reconcile(settings: Settings) -> list[tuple[JobInfo, str | None]]:
    """Submit every declared job (``declared_jobs``) that has no active run on the cluster,
    with its declared arguments, from its newest checkpoint (none: from its consumer group's
    committed offsets), as the Flink Kubernetes Operator's last-state upgrade mode does. Return
    each job submitted with the checkpoint it started from."""
    active = {j.name for j in list_jobs(settings) if j.state in ACTIVE_STATES}
    started = []
    path = declared_jobs.path_for(settings)
    for name, declared in declared_jobs.read(path).items():
        if name in active:
            continue
        try:
            checkpoint = last_checkpoint(settings, name)
        except JobError:
            checkpoint = None
        log.info("%s declared but not running: submitting it from %s", name,
                 checkpoint or "its committed offsets")
        info = submit(settings, declared.job, instance=declared.instance, restore_from=checkpoint,
                      arguments=declared.arguments or None, declare=False)
        if name not in declared_jobs.read(path):  # `jobs cancel` while it was submitted
            _cancel_ids(settings, [info.job_id])
            continue
        declared_jobs.record(path, name, declared.job, info.job_id, declared.arguments)
        started.append((info, checkpoint))
    return started


#: The reconciler waits at most this long between rounds after rounds that failed.
MAX_RECONCILE_BACKOFF_S = 300


def watch(settings: Settings, interval_s: float, report: Callable[[str], None],
          rounds: int | None = None) -> None:
    """:func:`reconcile` every ``interval_s`` seconds while the cluster has a TaskManager, and
    sample the declared jobs' consumer lags (the local stack's ``reconciler`` program runs this
    for ever; ``rounds`` bounds it). A round that
    fails is reported and tried again after twice the previous wait, at most
    :data:`MAX_RECONCILE_BACKOFF_S`; ``report`` gets a line for each job submitted and each
    failure."""
    wait = interval_s
    for _ in itertools.repeat(None) if rounds is None else range(rounds):
        try:
            ready = rest_get(settings, "/overview", timeout_s=2).get("taskmanagers", 0) > 0
        except requests.RequestException:
            ready = False  # the JobManager is starting (or restarting): look again soon
        try:
            for info, checkpoint in reconcile(settings) if ready else []:
                report(f"{info.name} was declared but not running: resubmitted as "
                       f"{info.job_id} from {checkpoint or 'its committed offsets'}")
            if ready:  # for `stack status`: a job whose lag keeps growing falls behind
                declared_jobs.sample_lags(settings, lambda path: rest_get(settings, path))
                _prioritize_python_workers(settings, report)
            wait = interval_s
        except (PersonastreamError, requests.RequestException) as err:
            wait = min(wait * 2, MAX_RECONCILE_BACKOFF_S)
            report(f"reconciling failed, trying again in {wait:.0f}s: {err}")
        time.sleep(wait)


def _prioritize_python_workers(settings: Settings, report: Callable[[str], None]) -> None:
    """The local TaskManagers' Python workers at ``flink_python_worker_nice``
    (:meth:`Flink.prioritize_python_workers`); a refusal is reported, not retried sooner."""
    try:
        Flink(settings).prioritize_python_workers()
    except StackError as err:
        report(f"could not set the Python workers' niceness: {err}")


def wait_checkpoint(settings: Settings, job_id: str, after_ms: int,
                    timeout_s: float = 60) -> str:
    """Wait until job ``job_id`` completed a checkpoint triggered at or after ``after_ms``
    (epoch ms): everything it had processed by then is in it. Return its path."""
    deadline = time.monotonic() + timeout_s
    while True:
        latest = rest_get(settings, f"/jobs/{job_id}/checkpoints").get("latest") or {}
        completed = latest.get("completed") or {}
        if completed.get("trigger_timestamp", 0) >= after_ms and completed.get("external_path"):
            return completed["external_path"]
        if time.monotonic() > deadline:
            raise JobError(f"job {job_id} completed no checkpoint triggered after {after_ms} "
                           f"within {timeout_s:.0f}s (latest: {completed or 'none'}); see the "
                           f"Flink UI at {settings.flink_rest_url}")
        time.sleep(0.5)


def savepoint(settings: Settings, job_id_or_name: str, stop: bool = False,
              timeout_s: float = 120) -> str:
    """Take a savepoint of an active job (and stop it, if ``stop``); return its path."""
    targets = [j.job_id for j in list_jobs(settings)
               if j.state in ACTIVE_STATES and job_id_or_name in (j.job_id, j.name)]
    if len(targets) != 1:
        raise JobError(f"{len(targets)} active jobs are called or numbered {job_id_or_name!r}; "
                       "name one job id (`personastream jobs list`)")
    base = settings.flink_rest_url.rstrip("/")
    path = "stop" if stop else "savepoints"
    resp = requests.post(f"{base}/jobs/{targets[0]}/{path}", timeout=10,
                         json={"drain": False} if stop else {"cancel-job": False})
    resp.raise_for_status()
    trigger = resp.json()["request-id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = rest_get(settings, f"/jobs/{targets[0]}/savepoints/{trigger}")
        if status["status"]["id"] == "COMPLETED":
            operation = status["operation"]
            if "failure-cause" in operation:
                raise JobError(f"savepoint of {targets[0]} failed: "
                               f"{operation['failure-cause'].get('stack-trace', '')[:2000]}")
            return operation["location"]
        time.sleep(1)
    raise JobError(f"savepoint of {targets[0]} not done within {timeout_s:.0f}s")
