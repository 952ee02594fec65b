"""The Prometheus JMX exporter's java agent, which Kafka and Cassandra load to serve their JMX
metrics (and the JVM's) on ``http://<host>:<port>/metrics`` for Prometheus to scrape.

A java agent rather than the standalone exporter: it reads the MBeans in-process (no remote
JMX port), and starts and stops with the server it measures.
"""
from __future__ import annotations

from pathlib import Path

from personastream_stack import maven
from personastream_stack.component import render_template


def fetch(settings) -> Path:
    """The agent jar (fetched with Maven once, then cached)."""
    jars = maven.fetch(settings, "jmx-exporter", ["dependency:copy-dependencies"]) / "jars"
    return next(jars.glob("jmx_prometheus_javaagent-*.jar"))


def agent_option(settings, server: str, host: str, port: int, run_dir: Path) -> str:
    """The ``-javaagent`` option serving ``server``'s metrics (what its
    ``templates/jmx-exporter-<server>.yaml`` selects) on ``host:port``."""
    config = render_template(f"jmx-exporter-{server}.yaml", run_dir / "jmx-exporter.yaml")
    return f"-javaagent:{fetch(settings)}={host}:{port}:{config}"
