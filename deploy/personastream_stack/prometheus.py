"""Prometheus (Debian's package) scraping every stage of the stack, with the pipeline's own
exporter (:mod:`personastream_stack.pipeline_exporter`) and Alertmanager
(:mod:`personastream_stack.alerting`) beside it.

What it scrapes (:func:`scrape_configs`), each target from the settings that locate the
server, so the same configuration serves servers on other hosts:

- Kafka and Cassandra: the Prometheus JMX exporter agent each loads
  (:mod:`personastream_stack.jmx_exporter`);
- Flink: its Prometheus reporter, one port per JobManager and TaskManager;
- NiFi: its own endpoint ``/nifi-api/flow/metrics/prometheus``, over mutual TLS with the
  admin's client certificate;
- the API's ``/metrics`` (prometheus-client), and the pipeline exporter's (freshness, events
  accepted and dead-lettered, anomalies, model versions).

Query it with PromQL at ``prometheus_url`` (UI and HTTP API), e.g.
``curl -s 'http://127.0.0.1:9099/api/v1/query?query=up'``.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import requests
import yaml

from personastream_contracts.settings import as_environ
from personastream_stack import alerting
from personastream_stack.component import Component, host_port, url_authority
from personastream_stack.errors import FetchError, StackError
from personastream_stack.supervision import Program

BINARY = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"  # Debian's name for it
NIFI_METRICS_PATH = "/nifi-api/flow/metrics/prometheus"


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FetchError(f"{name} is not installed: run `make tools` (it installs Debian's "
                         "prometheus and prometheus-alertmanager packages), or drop prometheus "
                         "from PERSONASTREAM_LOCAL_COMPONENTS")
    return path


def scrape_configs(settings) -> list[dict]:
    """Prometheus' ``scrape_configs``: one job per kind of server, its targets from settings.

    >>> from personastream_contracts.settings import resolve
    >>> jobs = scrape_configs(resolve(environ={}))
    >>> {j["job_name"]: j["static_configs"][0]["targets"] for j in jobs}["flink"]
    ['127.0.0.1:9250', '127.0.0.1:9251']
    >>> [j["job_name"] for j in jobs]
    ['prometheus', 'kafka', 'cassandra', 'flink', 'nifi', 'api', 'pipeline']
    """
    kafka = [host_port(a) for a in settings.kafka_bootstrap_servers.split(",")]
    flink_host = host_port(url_authority(settings.flink_rest_url))[0]

    def job(name: str, targets: list[str], **extra) -> dict:
        return {"job_name": name, "static_configs": [{"targets": targets}], **extra}

    return [
        job("prometheus", [url_authority(settings.prometheus_url)]),
        job("kafka", [f"{host}:{settings.kafka_metrics_port + i}"
                      for i, (host, _) in enumerate(kafka)]),
        job("cassandra", [f"{h}:{settings.cassandra_metrics_port}"
                          for h in settings.cassandra_contact_points]),
        job("flink", [f"{flink_host}:{settings.flink_metrics_port + i}"
                      for i in range(settings.flink_taskmanagers + 1)]),
        job("nifi", [url_authority(settings.nifi_api_url)], scheme="https",
            metrics_path=NIFI_METRICS_PATH,
            tls_config={"ca_file": str(settings.nifi_ca_cert),
                        "cert_file": str(settings.nifi_client_cert),
                        "key_file": str(settings.nifi_client_key)}),
        job("api", [f"{settings.api_host}:{settings.api_port}"]),
        job("pipeline", [f"127.0.0.1:{settings.pipeline_exporter_port}"]),
    ]


def config(settings, rules: Path) -> dict:
    """The whole ``prometheus.yml``: the scrape jobs, the alerting ``rules`` file and the
    Alertmanager to notify."""
    interval = f"{settings.prometheus_scrape_interval_s}s"
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(rules)],
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [url_authority(settings.alertmanager_url)]}]}]},
            "scrape_configs": scrape_configs(settings)}


def query(settings, promql: str, timeout_s: float = 5) -> list[dict]:
    """An instant query's result vector (``[{"metric": {...}, "value": [t, "v"]}, ...]``)."""
    resp = requests.get(f"{settings.prometheus_url.rstrip('/')}/api/v1/query",
                        params={"query": promql}, timeout=timeout_s)
    body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") \
        else {}
    if resp.status_code != 200 or body.get("status") != "success":
        raise StackError(f"Prometheus at {settings.prometheus_url} refused {promql!r}: "
                         f"{body.get('error') or resp.text[:200]}")
    return body["data"]["result"]


class Prometheus(Component):
    name = "prometheus"
    watches_others = True

    @property
    def daemons(self) -> list[Program]:
        """Prometheus, the Alertmanager it notifies, the webhook that logs notifications,
        and the exporter of the pipeline's own measures."""
        return [Program(self.settings, name, self.run_dir)
                for name in ("prometheus", "alertmanager", "alert-log", "pipeline-exporter")]

    @property
    def port(self) -> int:
        return host_port(url_authority(self.settings.prometheus_url))[1]

    @property
    def version(self) -> str:
        binary = shutil.which(BINARY)
        if binary is None:
            return "not installed"
        out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        match = re.search(r"version (\S+)", out)
        return match.group(1) if match else "unknown"

    def fetch(self) -> None:
        for binary in (BINARY, ALERTMANAGER):
            _binary(binary)

    @property
    def config_file(self) -> Path:
        return self.run_dir / "prometheus.yml"

    def start(self) -> bool:
        """Also brings a running Prometheus to the settings' targets (its config reloaded)."""
        launched = super().start()
        if not launched and all(f.exists() for f in self._config_files()):
            previous = [f.read_text() for f in self._config_files()]
            self._write_config()
            if [f.read_text() for f in self._config_files()] != previous:
                requests.post(f"{self.settings.prometheus_url.rstrip('/')}/-/reload",
                              timeout=10).raise_for_status()
        return launched

    def _config_files(self) -> list[Path]:
        """Prometheus' configuration and its alerting rules."""
        return [self.config_file, self.run_dir / "alerts.yml"]

    def _write_config(self) -> None:
        config_file, rules = self._config_files()
        rules.write_text(yaml.safe_dump(alerting.rules_file(), sort_keys=False))
        config_file.write_text(yaml.safe_dump(config(self.settings, rules), sort_keys=False))

    def launch(self) -> None:
        self._write_config()
        alertmanager_yml = self.run_dir / "alertmanager.yml"
        alertmanager_yml.write_text(yaml.safe_dump(alerting.alertmanager_config(
            f"http://127.0.0.1:{self.settings.alert_receiver_port}/alerts")))
        prometheus, alertmanager, alert_log, exporter = self.daemons
        env = as_environ(self.settings)
        alert_log.start([sys.executable, "-m", "personastream_stack.alert_log"], env=env)
        alertmanager.start([_binary(ALERTMANAGER), f"--config.file={alertmanager_yml}",
                            f"--storage.path={self.run_dir / 'alertmanager'}",
                            f"--web.listen-address={url_authority(self.settings.alertmanager_url)}",
                            "--cluster.listen-address="])  # one instance: no gossip
        prometheus.start([_binary(BINARY), f"--config.file={self.config_file}",
                          f"--storage.tsdb.path={self.run_dir / 'data'}",
                          f"--storage.tsdb.retention.time={self.settings.prometheus_retention}",
                          f"--web.listen-address={url_authority(self.settings.prometheus_url)}",
                          "--web.enable-lifecycle"])
        exporter.start([sys.executable, "-m", "personastream_stack.pipeline_exporter"], env=env)

    def targets(self) -> list[dict]:
        """The active scrape targets with their health and last error."""
        resp = requests.get(f"{self.settings.prometheus_url.rstrip('/')}/api/v1/targets",
                            params={"state": "active"}, timeout=2)
        resp.raise_for_status()
        return resp.json()["data"]["activeTargets"]

    def probe(self) -> str:
        targets = self.targets()
        up = sum(t["health"] == "up" for t in targets)
        return f"{up} of {len(targets)} scrape targets up"

    def problems(self) -> list[str]:
        """Targets down, except the API's (it runs only when served)."""
        return [f"{t['labels']['job']} target {t['scrapeUrl']} down: {t['lastError']}"
                for t in self.targets()
                if t["health"] == "down" and t["labels"]["job"] != "api"]

    def log_files(self) -> list[Path]:
        return [d.log_file for d in self.daemons]
