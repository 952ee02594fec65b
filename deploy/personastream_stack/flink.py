"""Flink session cluster (JobManager + TaskManagers) from the PyFlink package's own scripts.

The cluster's configuration lives in the state directory (``FLINK_CONF_DIR``), rendered from
settings; nothing inside site-packages is edited except making the scripts executable.
Jobs are submitted, listed and cancelled through its REST API like on any Flink cluster.
"""
from __future__ import annotations

import logging
import os
import shutil
import stat
import sys
import zipfile
from pathlib import Path

import requests
import yaml

from personastream_contracts import declared_jobs
from personastream_contracts.settings import TASKMANAGER_COMPILERS, as_environ
from personastream_stack import maven
from personastream_stack.component import Component, host_port
from personastream_stack.errors import StackError
from personastream_stack.priority import renice
from personastream_stack.supervision import Program, programs_dir

log = logging.getLogger(__name__)

PROMETHEUS_REPORTER = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
#: Metrics the Prometheus reporter leaves out (``<scope>:<names>[:<types>]``, Flink's reporter
#: filter): per-second meters (Prometheus takes ``rate()`` of the counters), histograms (each
#: task's mailbox latency), bytes and watermarks per task and operator, and the Kafka clients'
#: own metrics per partition. Kept: records in and out, ``pendingRecords`` (the jobs' lag),
#: busy and back-pressured time, the JVMs, checkpoints, restarts. With every metric, a
#: TaskManager running the eight jobs served 5.3 MB per scrape (1.1 s to render, every 5 s).
PROMETHEUS_EXCLUDES = ["*:*:meter", "*:*:histogram", "*.job.task*:numBytes*,*Watermark*",
                       "*.KafkaSourceReader.*:*", "*.KafkaConsumer*:*", "*.KafkaProducer*:*"]
#: Labels the Prometheus reporter leaves out: ``task_name`` is the whole chain of a task's
#: operators (up to 1.5 kB, on every series of the task); ``task_id`` still tells tasks apart.
PROMETHEUS_EXCLUDED_LABELS = "task_name;task_attempt_id"
#: Seconds between the reconciler's looks at the declared jobs.
RECONCILE_INTERVAL_S = 10
_LOG_CONFIGS = ("log4j.properties", "log4j-console.properties", "log4j-cli.properties",
                "logback.xml", "logback-console.xml")


def flink_home() -> Path:
    """The Flink distribution inside the installed PyFlink package."""
    import pyflink

    return Path(pyflink.__file__).parent


def connector_jars(settings) -> list[Path]:
    """Connector jars the jobs put in ``pipeline.jars`` (fetched with Maven, cached)."""
    jars = maven.install_dir(settings, "flink") / "jars"
    return sorted(jars.glob("*.jar"))


def fetch_connectors(settings) -> list[Path]:
    maven.fetch(settings, "flink", ["dependency:copy-dependencies"])
    return connector_jars(settings)


def class_packages(jars: list[Path]) -> list[str]:
    """The packages (first three names, as prefixes) of the classes in ``jars``: Flink's
    ``classloader.parent-first-patterns.additional`` for jars in the cluster's ``lib/``, so that
    a job's own copy of them is never loaded beside (a Kafka client class loaded by name through
    the job's class loader must be the one the connector in ``lib/`` casts it to).

    >>> import tempfile, zipfile
    >>> jar = Path(tempfile.mkdtemp()) / "k.jar"
    >>> with zipfile.ZipFile(jar, "w") as z:
    ...     for name in ("org/apache/kafka/clients/A.class", "org/apache/kafka/B.class",
    ...                  "module-info.class", "META-INF/versions/9/x/Y.class", "a/b.txt"):
    ...         z.writestr(name, b"")
    >>> class_packages([jar])
    ['org.apache.kafka.']
    """
    packages = set()
    for jar in jars:
        with zipfile.ZipFile(jar) as z:
            for name in z.namelist():
                parts = name.split("/")[:-1]
                if name.endswith(".class") and parts and parts[0] != "META-INF":
                    packages.add(".".join(parts[:3]) + ".")
    return sorted(packages)


def taskmanager_names(n: int) -> list[str]:
    """Program names of ``n`` TaskManagers (the first keeps the name of a one-TaskManager
    cluster).

    >>> taskmanager_names(3)
    ['taskmanager', 'taskmanager-2', 'taskmanager-3']
    """
    return ["taskmanager", *(f"taskmanager-{i}" for i in range(2, n + 1))]


def _debloat(target_ms: int) -> dict:
    """Flink's buffer debloating options for ``target_ms`` (0: off).

    >>> _debloat(500), _debloat(0)
    ({'enabled': True, 'target': '500 ms'}, {'enabled': False})
    """
    return {"enabled": True, "target": f"{target_ms} ms"} if target_ms else {"enabled": False}


class FlinkUnreachable(StackError, requests.ConnectionError):
    """Flink's REST endpoint did not answer (still a ``requests.ConnectionError`` for callers
    that wait for it)."""


def rest_get(settings, path: str, timeout_s: float = 5) -> dict:
    """GET ``path`` from Flink's REST API as JSON; :class:`FlinkUnreachable` says how to start
    Flink when nothing listens."""
    url = settings.flink_rest_url.rstrip("/") + path
    try:
        resp = requests.get(url, timeout=timeout_s)
    except requests.ConnectionError as err:
        raise FlinkUnreachable(
            f"Flink did not answer at {settings.flink_rest_url} ({type(err).__name__}): start "
            "it with `personastream stack up flink`, or point flink_rest_url at your "
            "cluster") from err
    resp.raise_for_status()
    return resp.json()


class Flink(Component):
    name = "flink"

    @property
    def conf_dir(self) -> Path:
        return self.run_dir / "conf"

    @property
    def daemons(self) -> list[Program]:
        """JobManager, the TaskManagers (``flink_taskmanagers``) and the reconciler that
        resubmits declared jobs missing from the cluster (``personastream jobs reconcile
        --watch``)."""
        return [Program(self.settings, name, self.run_dir)
                for name in ("jobmanager", *taskmanager_names(self.settings.flink_taskmanagers),
                             "reconciler")]

    @property
    def port(self) -> int:
        return host_port(self.settings.flink_rest_url.split("//")[-1].rstrip("/"))[1]

    @property
    def version(self) -> str:
        from pyflink.version import __version__

        return __version__

    def fetch(self) -> None:
        fetch_connectors(self.settings)

    def config(self) -> dict:
        """The cluster's configuration, sized for a 2-core, 24 GiB machine."""
        host = host_port(self.settings.flink_rest_url.split("//")[-1].rstrip("/"))[0]
        state, checkpoints = self.run_dir, declared_jobs.checkpoints_dir(self.settings)
        opts = yaml.safe_load((flink_home() / "conf/config.yaml").read_text())["env"]["java"]["opts"]
        compiler = TASKMANAGER_COMPILERS[self.settings.flink_taskmanager_compiler]
        if compiler:
            opts = {**opts, "taskmanager": compiler}
        shared = class_packages(self._shared_jars())
        return {
            # connectors in lib/ (flink_connector_classes): one copy of their classes
            **({"classloader": {"parent-first-patterns": {"additional": shared}}}
               if shared else {}),
            "env": {"java": {"opts": opts}, "log": {"dir": str(state / "log")},
                    "pid": {"dir": str(state / "pid")}},
            "jobmanager": {"bind-host": host, "rpc": {"address": host, "port": 6123},
                           "memory": {"process": {"size": "1024m"}},
                           "execution": {"failover-strategy": "region"}},
            "taskmanager": {"bind-host": host, "host": host,
                            "numberOfTaskSlots": self.settings.flink_task_slots,
                            # a job's subtasks spread over the TaskManagers (default: the
                            # first one's slots fill first, and its Python GIL is shared)
                            "load-balance": {"mode": "SLOTS"},
                            # bounded in-flight data: freshness under load (settings)
                            "network": {"memory": {"buffer-debloat": _debloat(
                                self.settings.flink_buffer_debloat_target_ms)}},
                            # task off-heap: the Cassandra sinks' driver (netty) allocates
                            # direct buffers, counted here (default 0: it ran out, "Cannot
                            # reserve 4194304 bytes of direct buffer memory", at 5 jobs)
                            # metaspace (default 256m): with the connector jars loaded per
                            # job (flink_connector_classes per-job), nine declared jobs and
                            # the tests' instances ran out ("OutOfMemoryError: Metaspace"),
                            # and the TaskManager exited every 1-2 minutes
                            "memory": {"process": {"size": "4096m"},
                                       "jvm-metaspace": {"size": "1024m"},
                                       "managed": {"fraction": 0.3},
                                       "task": {"off-heap": {"size": "256m"}}}},
            "parallelism": {"default": self.settings.flink_parallelism},
            "rest": {"address": host, "bind-address": host, "port": self.port},
            "io": {"tmp": {"dirs": str(state / "tmp")}},
            "state": {"backend": {"type": "hashmap"},
                      "checkpoints": {"dir": f"file://{checkpoints}"},
                      "savepoints": {"dir": f"file://{state / 'savepoints'}"}},
            "execution": {"checkpointing": {
                "interval": f"{self.settings.flink_checkpoint_interval_s} s",
                "externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}},
            "blob": {"server": {"port": "6124"}},
            # metrics over REST at most this old (default 10 s): per-second lag in benchmarks
            "metrics": {"fetcher": {"update-interval": 1000},
                        # Flink's Prometheus reporter (shipped in PyFlink's plugins/); each
                        # process's port is given on its command line (metrics_ports)
                        "reporter": {"prom": {
                            "factory": {"class": PROMETHEUS_REPORTER},
                            "filter": {"excludes": PROMETHEUS_EXCLUDES},
                            "scope": {"variables": {"excludes": PROMETHEUS_EXCLUDED_LABELS}}}}},
            "web": {"submit": {"enable": True}, "cancel": {"enable": True}},
        }

    def _shared_jars(self) -> list[Path]:
        """Connector jars the cluster loads from ``lib/`` for every job
        (``flink_connector_classes`` shared): with a class loader per job, each of the eight
        jobs had its own copy of the Kafka client and the Cassandra driver, each JIT-compiled
        on its own (README, Measurements)."""
        shared = self.settings.flink_connector_classes == "shared"
        return connector_jars(self.settings) if shared else []

    def _link_lib(self) -> Path:
        """``lib/`` = the package's lib jars plus ``opt/flink-python`` (needed by Python UDFs),
        as Flink's docs say to do on a cluster, without touching site-packages, and the shared
        connector jars (:meth:`_shared_jars`). Links are only added or removed, so a running
        JobManager keeps its jars."""
        lib = self.run_dir / "lib"
        lib.mkdir(parents=True, exist_ok=True)
        home = flink_home()
        jars = {j.name: j for j in [*(home / "lib").glob("*.jar"),
                                    *(home / "opt").glob("flink-python*.jar"),
                                    *self._shared_jars()]}
        for link in lib.iterdir():
            if link.name not in jars or link.resolve() != jars[link.name].resolve():
                link.unlink()
        for name, jar in jars.items():
            if not (lib / name).is_symlink():
                (lib / name).symlink_to(jar)
        return lib

    def _scripts_env(self) -> dict[str, str]:
        return {"FLINK_CONF_DIR": str(self.conf_dir), "FLINK_LIB_DIR": str(self.run_dir / "lib"),
                "JAVA_HOME": str(self.settings.java_home),
                "PATH": f"{self.settings.java_home / 'bin'}:{os.environ.get('PATH', '')}"}

    def metrics_ports(self) -> dict[str, int]:
        """Where each process's Prometheus reporter serves its metrics, by program name.

        >>> from personastream_contracts.settings import resolve
        >>> s = resolve(environ={}, overrides={"flink_taskmanagers": 2})
        >>> Flink(s).metrics_ports()
        {'jobmanager': 9250, 'taskmanager': 9251, 'taskmanager-2': 9252}
        """
        base = self.settings.flink_metrics_port
        return {d.name: base + i for i, d in enumerate(self.daemons[:-1])}

    def _script(self, name: str, metrics_port: int) -> list[str]:
        """Flink's own start script for ``name``, in the foreground (supervisord watches the
        JVM it execs), its Prometheus reporter on ``metrics_port``."""
        for script in (flink_home() / "bin").iterdir():  # the wheel ships them not executable
            mode = script.stat().st_mode
            if not mode & stat.S_IXUSR:
                script.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return [str(flink_home() / "bin" / name), "start-foreground",
                "-D", f"metrics.reporter.prom.port={metrics_port}"]

    def launch(self) -> None:
        for sub in ("conf", "log", "pid", "tmp"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        self._link_lib()
        (self.conf_dir / "config.yaml").write_text(yaml.safe_dump(self.config(), sort_keys=False))
        for name in _LOG_CONFIGS:
            shutil.copy(flink_home() / "conf" / name, self.conf_dir / name)
        jobmanager, *taskmanagers, reconciler = self.daemons
        ports = self.metrics_ports()
        jobmanager.start(self._script("jobmanager.sh", ports[jobmanager.name]),
                         env=self._scripts_env())
        for taskmanager in taskmanagers:
            taskmanager.start(["nice", "-n", str(self.settings.flink_taskmanager_nice),
                               *self._script("taskmanager.sh", ports[taskmanager.name])],
                              env=self._scripts_env())
        reconciler.start([sys.executable, "-m", "personastream", "-v", "jobs", "reconcile",
                          "--watch", str(RECONCILE_INTERVAL_S)], env=as_environ(self.settings))

    def probe(self) -> str:
        overview = rest_get(self.settings, "/overview", timeout_s=2)
        wanted = self.settings.flink_taskmanagers
        if overview.get("taskmanagers", 0) < wanted:
            raise StackError(f"Flink JobManager is up but {overview.get('taskmanagers', 0)} of "
                             f"{wanted} TaskManagers registered (see their logs)")
        return (f"{overview['taskmanagers']} taskmanager(s), {overview['slots-total']} slots, "
                f"{overview['jobs-running']} running job(s)")

    def start(self) -> bool:
        """Also stops TaskManagers beyond ``flink_taskmanagers`` (their tasks fail over to
        the others): the cluster has as many as the setting says."""
        launched = super().start()
        self._stop_extra_taskmanagers()
        self.prioritize(self.settings.flink_taskmanager_nice)
        return launched

    def prioritize(self, nice: int) -> None:
        """Set the running TaskManagers (and their Python workers) to niceness ``nice`` (a
        changed ``flink_taskmanager_nice`` applies without a restart; benchmarks compare)."""
        renice(self._taskmanager_pids(), nice)

    def prioritize_python_workers(self) -> int:
        """Set the running TaskManagers' Python workers (their descendant processes: the Python
        of the jobs not in thread mode) to ``flink_python_worker_nice``: the reconciler does at
        each pass, since a job starts its workers whenever it (re)starts. Returns how many
        processes were set."""
        return renice(self._taskmanager_pids(), self.settings.flink_python_worker_nice,
                      descendants_only=True)

    def _taskmanager_pids(self) -> list[int]:
        return [pid for d in self.daemons if d.name.startswith("taskmanager")
                if (pid := d.running_pid())]

    def stop(self) -> bool:
        return self._stop_extra_taskmanagers() | super().stop()

    def _stop_extra_taskmanagers(self) -> bool:
        """Stop TaskManagers left from a larger ``flink_taskmanagers``; True if one ran."""
        names = {d.name for d in self.daemons}
        extra = [Program(self.settings, conf.stem, self.run_dir)
                 for conf in sorted(programs_dir(self.settings).glob("taskmanager-*.conf"))
                 if conf.stem not in names]
        stopped = [d for d in extra if d.terminate(wait=False)]
        for daemon in stopped:
            daemon.wait_stopped()
        return bool(stopped)

    def problems(self) -> list[str]:
        """Declared jobs without a RUNNING run on the cluster, or failing and restarting
        repeatedly (``declared_jobs.check``)."""
        return declared_jobs.check(self.settings,
                                   lambda path: rest_get(self.settings, path, timeout_s=2))

    def log_files(self) -> list[Path]:
        return [self.daemons[-1].log_file, *sorted((self.run_dir / "log").glob("*.log"))]
