"""NiFi 2.3.0 assembled from Maven Central (see ``maven/nifi/pom.xml``), run on JDK 21+.

``nifi-bootstrap`` is not served, so the runtime (``org.apache.nifi.NiFi`` from ``nifi-runtime``)
is launched the way the bootstrap would launch it: classpath ``lib/*.jar`` plus ``conf/``, the
properties path, and the management server address whose ``/health`` it answers. SIGTERM runs
NiFi's own shutdown hook. HTTPS with mutual TLS; see :mod:`personastream_stack.nifi_tls`.
"""
from __future__ import annotations

import logging
import shutil
from importlib.resources import files
from pathlib import Path

import requests

from personastream_flows import bundle
from personastream_stack import geoip, maven
from personastream_stack.component import Component, host_port, render_template, url_authority
from personastream_stack.nifi_tls import ADMIN_IDENTITY, ensure_tls
from personastream_stack.supervision import Program

log = logging.getLogger(__name__)

MAIN_CLASS = "org.apache.nifi.NiFi"
# What nifi-bootstrap 2.x adds to the runtime's command line (its bootstrap.conf defaults).
JVM_OPTIONS = ["-Dsun.net.http.allowRestrictedHeaders=true",
               "-Djava.protocol.handler.pkgs=sun.net.www.protocol", "-Djava.awt.headless=true",
               "-Dcurator-log-only-first-connection-issue-as-error-level=true",
               "-Djavax.security.auth.useSubjectCredsOnly=true", "-XX:+HeapDumpOnOutOfMemoryError",
               "-Dapp=NiFi"]


def nifi_get(settings, path: str, timeout_s: float = 5) -> requests.Response:
    """GET from NiFi's REST API with the admin client certificate. ``verify`` is passed per
    request because requests lets REQUESTS_CA_BUNDLE override a session's CA."""
    resp = requests.get(f"{settings.nifi_api_url}{path}", timeout=timeout_s,
                        verify=str(settings.nifi_ca_cert),
                        cert=(str(settings.nifi_client_cert), str(settings.nifi_client_key)))
    resp.raise_for_status()
    return resp


class NiFi(Component):
    name = "nifi"

    @property
    def conf_dir(self) -> Path:
        return self.run_dir / "conf"

    @property
    def daemons(self) -> list[Program]:
        return [Program(self.settings, "nifi", self.run_dir)]

    @property
    def port(self) -> int:
        return host_port(url_authority(self.settings.nifi_api_url))[1]

    @property
    def version(self) -> str:
        return maven.pom_property("nifi", "nifi.version", module="assembly")

    def fetch(self) -> None:
        maven.fetch(self.settings, "nifi", ["package"], java_home=self.settings.nifi_java_home)
        geoip.fetch(self.settings)

    def launch(self) -> None:
        install = maven.install_dir(self.settings, "nifi")
        bundle.build(self.settings.nifi_python_extensions_dir, self.settings.nifi_python,
                     self.settings.cache_dir / "nifi-python-deps")
        host = host_port(url_authority(self.settings.nifi_api_url))[0]
        tls = ensure_tls(self.run_dir / "tls", self.settings.nifi_java_home / "bin/keytool")
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for path in (tls.keystore, tls.truststore):
            shutil.copy(path, self.conf_dir / path.name)
        secrets = tls.secrets()
        render_template("nifi/nifi.properties", self.conf_dir / "nifi.properties",
                        install_dir=install, python_command=self.settings.nifi_python,
                        python_extensions_dir=self.settings.nifi_python_extensions_dir, https_host=host,
                        https_port=self.port, keystore_password=secrets["keystore_password"],
                        truststore_password=secrets["truststore_password"],
                        sensitive_props_key=secrets["sensitive_props_key"])
        (self.conf_dir / "nifi.properties").chmod(0o600)
        render_template("nifi/authorizers.xml", self.conf_dir / "authorizers.xml",
                        admin_identity=ADMIN_IDENTITY)
        for name in ("logback.xml", "state-management.xml"):
            text = (files("personastream_stack") / "templates" / "nifi" / name).read_text()
            (self.conf_dir / name).write_text(text)
        logs = self.run_dir / "logs"
        logs.mkdir(exist_ok=True)
        heap = self.settings.nifi_heap
        classpath = ":".join([*map(str, sorted((install / "lib").glob("*.jar"))), str(self.conf_dir)])
        argv = [str(self.settings.nifi_java_home / "bin/java"), "--class-path", classpath,
                f"-Dorg.apache.nifi.bootstrap.config.log.dir={logs}",
                f"-Dnifi.properties.file.path={self.conf_dir / 'nifi.properties'}",
                "-Dorg.apache.nifi.management.server.address="
                f"127.0.0.1:{self.settings.nifi_management_port}",
                f"-Xms{heap}", f"-Xmx{heap}", f"-XX:HeapDumpPath={self.run_dir / 'work'}",
                *JVM_OPTIONS, MAIN_CLASS]
        self.daemons[0].start(argv, cwd=self.run_dir)

    def probe(self) -> str:
        health = requests.get(f"http://127.0.0.1:{self.settings.nifi_management_port}/health",
                              timeout=2)
        health.raise_for_status()
        about = nifi_get(self.settings, "/flow/about").json()["about"]
        return f"NiFi {about['version']} over mutual TLS"

    def wait_healthy(self) -> float:
        seconds = super().wait_healthy()
        from personastream_flows.client import connect, ensure_admin_policies

        connect(self.settings)
        ensure_admin_policies()
        return seconds

    def log_files(self) -> list[Path]:
        return [*super().log_files(), *sorted((self.run_dir / "logs").glob("*.log"))]
