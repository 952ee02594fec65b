"""Cassandra 5.0 single node from ``cassandra-all`` on JDK 17 (the pipeline's keyspace and
tables are :mod:`personastream_contracts.cassandra`'s)."""
from __future__ import annotations

import logging

from personastream_contracts.cassandra import session
from personastream_stack import jmx_exporter, maven
from personastream_stack.component import Component, render_template
from personastream_stack.process import port_open
from personastream_stack.supervision import Program
from personastream_stack.timer_slack import with_timer_slack

log = logging.getLogger(__name__)

MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"

# From Cassandra's conf/jvm17-server.options (without them the JVM dies at startup on 17).
JVM17_OPTIONS = """
-XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 -XX:G1HeapRegionSize=16m
-XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300
-XX:InitiatingHeapOccupancyPercent=70 -Djdk.attach.allowAttachSelf=true
--add-exports java.base/jdk.internal.misc=ALL-UNNAMED
--add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
--add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
--add-exports java.sql/java.sql=ALL-UNNAMED --add-exports java.base/java.lang.ref=ALL-UNNAMED
--add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
--add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
--add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
--add-opens java.base/java.lang.module=ALL-UNNAMED --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
--add-opens java.base/jdk.internal.ref=ALL-UNNAMED --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
--add-opens java.base/jdk.internal.math=ALL-UNNAMED --add-opens java.base/jdk.internal.module=ALL-UNNAMED
--add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
--add-opens java.base/sun.nio.ch=ALL-UNNAMED --add-opens java.base/java.io=ALL-UNNAMED
--add-opens java.base/java.lang.reflect=ALL-UNNAMED --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
--add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.util=ALL-UNNAMED
-Dio.netty.tryReflectionSetAccessible=true -Dio.netty.allocator.useCacheForAllThreads=true
-Dio.netty.allocator.maxOrder=11
""".split()


class Cassandra(Component):
    name = "cassandra"

    @property
    def config_file(self):
        return self.run_dir / "cassandra.yaml"

    @property
    def daemons(self) -> list[Program]:
        return [Program(self.settings, "cassandra", self.run_dir)]

    @property
    def port(self) -> int:
        return self.settings.cassandra_port

    @property
    def version(self) -> str:
        return maven.pom_property("cassandra", "cassandra.version")

    def fetch(self) -> None:
        maven.fetch(self.settings, "cassandra", ["dependency:copy-dependencies"])
        jmx_exporter.fetch(self.settings)

    def launch(self) -> None:
        libs = maven.install_dir(self.settings, "cassandra") / "libs"
        jamm = sorted(libs.glob("jamm-*.jar"))
        data_dir = self.run_dir / "data"
        host = self.settings.cassandra_contact_points[0]
        render_template("cassandra.yaml", self.config_file, host=host, port=self.port,
                        storage_port=self.settings.cassandra_storage_port, data_dir=data_dir)
        logback = render_template("cassandra-logback.xml", self.run_dir / "logback.xml")
        heap = self.settings.cassandra_heap
        java = [str(self.settings.java_home / "bin/java"), f"-Xms{heap}", f"-Xmx{heap}",
                *JVM17_OPTIONS, *(f"-javaagent:{j}" for j in jamm[:1]),
                jmx_exporter.agent_option(self.settings, "cassandra", host,
                                          self.settings.cassandra_metrics_port, self.run_dir),
                f"-Dcassandra.config=file://{self.config_file}",
                f"-Dcassandra.storagedir={data_dir}", f"-Dcassandra.logdir={self.run_dir}",
                f"-Dlogback.configurationFile={logback}", "-Dcassandra-foreground=yes",
                "-Dcassandra.skip_wait_for_gossip_to_settle=0",
                "-Dcassandra.jmx.local.port=" + str(self.settings.cassandra_storage_port + 199),
                "-cp", f"{libs}/*", MAIN_CLASS]
        self.daemons[0].start(with_timer_slack(java, self.settings.cassandra_timer_slack_us))

    def probe(self) -> str:
        if not port_open(self.settings.cassandra_contact_points[0], self.port):
            raise ConnectionRefusedError(f"nothing listens on port {self.port} yet")
        with session(self.settings, timeout_s=2) as s:
            row = s.execute("SELECT release_version FROM system.local").one()
        return f"release {row.release_version}"
