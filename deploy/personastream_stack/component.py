"""The contract every local server fulfils: fetch, start, wait until healthy, report, stop."""
from __future__ import annotations

import abc
import logging
import shutil
import string
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path

from personastream_contracts.settings import Settings
from personastream_stack.process import rss_bytes, wait_for
from personastream_stack.supervision import Program

log = logging.getLogger(__name__)


@dataclass
class Health:
    """What ``stack status`` reports of one component."""

    component: str
    running: bool
    healthy: bool
    pids: list[int]
    port: int
    version: str
    detail: str
    rss_mb: float = 0.0
    #: What is wrong although the server answers (a declared job not running, ...).
    degraded: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def render_template(name: str, target: Path, **values: object) -> Path:
    """Fill ``${placeholders}`` of a packaged template and write it to ``target``."""
    text = (files("personastream_stack") / "templates" / name).read_text()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(string.Template(text).substitute({k: str(v) for k, v in values.items()}))
    return target


def url_authority(url: str) -> str:
    """``host:port`` of a URL.

    >>> url_authority("https://nifi.example:8443/nifi-api")
    'nifi.example:8443'
    """
    return url.split("//")[-1].split("/")[0]


def host_port(endpoint: str) -> tuple[str, int]:
    """First ``host:port`` of a comma-separated list.

    >>> host_port("k1:9092,k2:9094")
    ('k1', 9092)
    """
    host, _, port = endpoint.split(",")[0].strip().rpartition(":")
    return host, int(port)


class Component(abc.ABC):
    """A server of the local stack. Subclasses say how to fetch, launch and probe it."""

    name: str
    #: Launched by ``stack up`` once the other components answer (a monitor of them).
    watches_others: bool = False

    def __init__(self, settings: Settings):
        self.settings = settings
        self.run_dir = settings.state_dir / self.name

    @property
    @abc.abstractmethod
    def daemons(self) -> list[Program]:
        """The processes this component runs under supervisord, in start order."""

    @property
    @abc.abstractmethod
    def port(self) -> int:
        """The port clients use."""

    @property
    @abc.abstractmethod
    def version(self) -> str:
        """The server's version, from its pom or package."""

    @abc.abstractmethod
    def fetch(self) -> None:
        """Make the server's files available (cached after the first run)."""

    @abc.abstractmethod
    def launch(self) -> None:
        """Start the processes that do not run (``Program.start`` leaves a running one be)."""

    @abc.abstractmethod
    def probe(self) -> str:
        """Answer a real client request; return a short description or raise."""

    def start(self) -> bool:
        """Fetch (cached) and launch what is not running; True if anything was launched.
        Running processes are kept (a Flink JobManager whose TaskManager died keeps its jobs)."""
        self.fetch()
        running = [d.running_pid() for d in self.daemons]
        if all(running):
            log.info("%s already running (pids %s)", self.name, running)
            return False
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.launch()
        return True

    def wait_healthy(self) -> float:
        """Wait until the server answers a real request; return the seconds waited."""
        return wait_for(lambda: bool(self.probe()), what=f"{self.name} to answer on port {self.port}",
                        timeout_s=self.settings.startup_timeout_s, daemon=self.daemons[0])

    def stop(self) -> bool:
        """Stop what this stack started, its processes side by side (a Kafka node stopped
        after its peers would wait for a controller quorum that left). True if anything was
        running."""
        stopping = [d for d in reversed(self.daemons) if d.terminate(wait=False)]
        for daemon in stopping:
            daemon.wait_stopped()
        return bool(stopping)

    def purge(self) -> None:
        """Delete the component's data and logs (after ``stop``)."""
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def problems(self) -> list[str]:
        """What is wrong beyond the server answering (called only when it is healthy)."""
        return []

    def health(self) -> Health:
        statuses = [(d, *d.status()) for d in self.daemons]  # one question to supervisord each
        pids = [pid for _, pid, _ in statuses]
        live = [p for p in pids if p]
        healthy, degraded = False, []
        # BACKOFF: supervisord starts it again; FATAL: it gave up (the log says why)
        troubled = [f"{d.name} {state}, log {d.log_file}" for d, _, state in statuses
                    if state in {"BACKOFF", "FATAL", "EXITED"}]
        detail = f"not running ({'; '.join(troubled)})" if troubled else "not running"
        if live:
            try:
                detail, healthy = self.probe(), len(live) == len(pids)
                degraded = self.problems() if healthy else []
            except Exception as err:  # noqa: BLE001 - a failed probe is reported, not raised
                detail = f"running but not answering: {err}"
        return Health(self.name, bool(live), healthy, live, self.port, self.version, detail,
                      round(sum(rss_bytes(p) for p in live) / 2**20, 1), degraded)

    def log_files(self) -> list[Path]:
        return [d.log_file for d in self.daemons]
