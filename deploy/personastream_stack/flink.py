"""Flink session cluster (JobManager + TaskManager) from the PyFlink package's own scripts.

The cluster's configuration lives in the state directory (``FLINK_CONF_DIR``), rendered from
settings; nothing inside site-packages is edited except making the scripts executable.
Jobs are submitted, listed and cancelled through its REST API like on any Flink cluster.
"""
from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path

import requests
import yaml

from personastream_contracts import declared_jobs
from personastream_stack import maven
from personastream_stack.component import Component, host_port
from personastream_stack.errors import StackError
from personastream_stack.process import Daemon, log_tail

log = logging.getLogger(__name__)

JOBMANAGER_CLASS = "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint"
TASKMANAGER_CLASS = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"
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


def rest_get(settings, path: str, timeout_s: float = 5) -> dict:
    resp = requests.get(settings.flink_rest_url.rstrip("/") + path, timeout=timeout_s)
    resp.raise_for_status()
    return resp.json()


class Flink(Component):
    name = "flink"

    @property
    def conf_dir(self) -> Path:
        return self.run_dir / "conf"

    @property
    def daemons(self) -> list[Daemon]:
        conf = f"--configDir {self.conf_dir}"
        return [Daemon("jobmanager", self.run_dir, marker=conf),
                Daemon("taskmanager", self.run_dir, marker=conf)]

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
        return {
            "env": {"java": {"opts": opts}, "log": {"dir": str(state / "log")},
                    "pid": {"dir": str(state / "pid")}},
            "jobmanager": {"bind-host": host, "rpc": {"address": host, "port": 6123},
                           "memory": {"process": {"size": "1024m"}},
                           "execution": {"failover-strategy": "region"}},
            "taskmanager": {"bind-host": host, "host": host,
                            "numberOfTaskSlots": self.settings.flink_task_slots,
                            # task off-heap: the Cassandra sinks' driver (netty) allocates
                            # direct buffers, counted here (default 0: it ran out, "Cannot
                            # reserve 4194304 bytes of direct buffer memory", at 5 jobs)
                            "memory": {"process": {"size": "3072m"},
                                       "managed": {"fraction": 0.3},
                                       "task": {"off-heap": {"size": "256m"}}}},
            "parallelism": {"default": self.settings.flink_parallelism},
            "rest": {"address": host, "bind-address": host, "port": self.port},
            "io": {"tmp": {"dirs": str(state / "tmp")}},
            "state": {"backend": {"type": "hashmap"},
                      "checkpoints": {"dir": f"file://{checkpoints}"},
                      "savepoints": {"dir": f"file://{state / 'savepoints'}"}},
            "execution": {"checkpointing": {
                "interval": "10s", "externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}},
            "blob": {"server": {"port": "6124"}},
            # metrics over REST at most this old (default 10 s): per-second lag in benchmarks
            "metrics": {"fetcher": {"update-interval": 1000}},
            "web": {"submit": {"enable": True}, "cancel": {"enable": True}},
        }

    def _link_lib(self) -> Path:
        """``lib/`` = the package's lib jars plus ``opt/flink-python`` (needed by Python UDFs),
        as Flink's docs say to do on a cluster, without touching site-packages."""
        lib = self.run_dir / "lib"
        shutil.rmtree(lib, ignore_errors=True)
        lib.mkdir(parents=True)
        home = flink_home()
        for jar in [*(home / "lib").glob("*.jar"), *(home / "opt").glob("flink-python*.jar")]:
            (lib / jar.name).symlink_to(jar)
        return lib

    def _scripts_env(self) -> dict[str, str]:
        return dict(os.environ, FLINK_CONF_DIR=str(self.conf_dir),
                    FLINK_LIB_DIR=str(self.run_dir / "lib"),
                    JAVA_HOME=str(self.settings.java_home),
                    PATH=f"{self.settings.java_home / 'bin'}:{os.environ.get('PATH', '')}")

    def _script(self, name: str, action: str) -> None:
        home = flink_home()
        for script in (home / "bin").iterdir():
            mode = script.stat().st_mode
            if not mode & stat.S_IXUSR:
                script.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        # a session of its own: the daemon the script leaves behind, and the Python workers it
        # starts, form one process group apart from the caller's (ended together, never with it)
        done = subprocess.run([str(home / "bin" / name), action], env=self._scripts_env(),
                              capture_output=True, text=True, start_new_session=True)
        if done.returncode != 0:
            raise StackError(f"Flink {name} {action} failed ({done.returncode}):\n"
                             f"{done.stdout}{done.stderr}")

    def launch(self) -> None:
        for sub in ("conf", "log", "pid", "tmp"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        self._link_lib()
        (self.conf_dir / "config.yaml").write_text(yaml.safe_dump(self.config(), sort_keys=False))
        for name in _LOG_CONFIGS:
            shutil.copy(flink_home() / "conf" / name, self.conf_dir / name)
        for role, main_class in (("jobmanager", JOBMANAGER_CLASS),
                                 ("taskmanager", TASKMANAGER_CLASS)):
            self._script(f"{role}.sh", "start")
            self._adopt(role, main_class)

    def start_taskmanager(self) -> None:
        """Start a TaskManager beside the running JobManager (after one crashed): the jobs the
        JobManager keeps restart on it from their last checkpoints."""
        self._script("taskmanager.sh", "start")
        self._adopt("taskmanager", TASKMANAGER_CLASS)

    def _adopt(self, role: str, main_class: str) -> None:
        """Record the pid Flink's daemon script wrote, so status and stop track it."""
        pattern = "standalonesession" if role == "jobmanager" else "taskexecutor"
        pid_files = sorted((self.run_dir / "pid").glob(f"flink-*-{pattern}.pid"))
        pids = [ln for f in pid_files for ln in f.read_text().split()]
        if not pids:
            raise StackError(f"Flink {role} wrote no pid file in {self.run_dir / 'pid'}; "
                             f"see logs in {self.run_dir / 'log'}")
        daemon = next(d for d in self.daemons if d.name == role)
        if not daemon.adopt(int(pids[-1])):
            logs = [f for f in sorted((self.run_dir / "log").glob(f"flink-*-{pattern}-*"))
                    if f.suffix in (".out", ".log")]
            tails = "\n".join(f"end of {f}:\n{log_tail(f)}" for f in logs)
            raise StackError(f"Flink {role} ({main_class}) exited at start.\n{tails}")

    def stop(self) -> bool:
        stopped = super().stop()
        for pid_file in (self.run_dir / "pid").glob("flink-*.pid"):
            pid_file.unlink()
        return stopped

    def probe(self) -> str:
        overview = rest_get(self.settings, "/overview", timeout_s=2)
        if overview.get("taskmanagers", 0) < 1:
            raise StackError("Flink JobManager is up but no TaskManager has registered yet")
        return (f"{overview['taskmanagers']} taskmanager(s), {overview['slots-total']} slots, "
                f"{overview['jobs-running']} running job(s)")

    def problems(self) -> list[str]:
        """Declared jobs without a RUNNING run on the cluster, or failing and restarting
        repeatedly (``declared_jobs.check``)."""
        return declared_jobs.check(self.settings,
                                   lambda path: rest_get(self.settings, path, timeout_s=2))

    def log_files(self) -> list[Path]:
        return sorted((self.run_dir / "log").glob("*.log"))
