"""PostgreSQL 15 from Debian's package: the shop's operational database, the source of change
data capture (``wal_level=logical``: Debezium reads its changes through a replication slot).

Its cluster lives in ``<state_dir>/postgres/data``, made by ``initdb`` at first start, with
``postgres_user`` as its superuser, trusted on loopback only (as the local Kafka and Cassandra
take any client there). PostgreSQL refuses to run as root: as root it runs as a non-root user of
a user namespace of its own (``unshare --map-user``), which outside the namespace is still
root, so its files stay under the state directory, owned by the user who runs the stack, and no
system account or permission is touched.

>>> unprivileged(["postgres", "-D", "data"], euid=1000)
['postgres', '-D', 'data']
>>> unprivileged(["postgres", "-D", "data"], euid=0)[:4]
['unshare', '--user', '--map-user=1000', '--map-group=1000']
"""
from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Sequence

from personastream_contracts import operational
from personastream_stack.component import Component
from personastream_stack.errors import FetchError, StackError
from personastream_stack.process import port_open
from personastream_stack.supervision import Program

log = logging.getLogger(__name__)

#: The uid and gid PostgreSQL sees in its user namespace when the stack runs as root.
NAMESPACE_ID = 1000
#: Server settings: logical decoding for Debezium, room for its slot and sender, no Unix
#: socket (clients come over TCP; a socket path under a deep state directory can be too long).
SERVER_OPTIONS = {"wal_level": "logical", "max_wal_senders": "10",
                  "max_replication_slots": "10", "unix_socket_directories": "",
                  "log_min_messages": "warning", "log_connections": "off"}


def unprivileged(argv: Sequence[str], euid: int | None = None) -> list[str]:
    """``argv`` as run by a non-root user: itself, or when ``euid`` (default: ours) is root,
    under ``unshare`` as uid/gid :data:`NAMESPACE_ID` of a new user namespace."""
    if (os.geteuid() if euid is None else euid) != 0:
        return list(argv)
    return ["unshare", "--user", f"--map-user={NAMESPACE_ID}", f"--map-group={NAMESPACE_ID}",
            *argv]


class Postgres(Component):
    name = "postgres"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def daemons(self) -> list[Program]:
        return [Program(self.settings, "postgres", self.run_dir)]

    @property
    def port(self) -> int:
        return self.settings.postgres_port

    def _binary(self, name: str) -> str:
        path = self.settings.postgres_bin_dir / name
        if not path.exists():
            raise FetchError(f"{path} is missing: run `make tools` (it installs Debian's "
                             "postgresql package), set PERSONASTREAM_POSTGRES_BIN_DIR, or drop "
                             "postgres from PERSONASTREAM_LOCAL_COMPONENTS")
        return str(path)

    @property
    def version(self) -> str:
        try:
            out = subprocess.run([self._binary("postgres"), "--version"], capture_output=True,
                                 text=True).stdout
        except FetchError:
            return "not installed"
        match = re.search(r"(\d+\.\d+)", out)
        return match.group(1) if match else "unknown"

    def fetch(self) -> None:
        for name in ("initdb", "postgres"):
            self._binary(name)

    def _initdb(self) -> None:
        """Make the cluster (once): ``postgres_user`` its superuser, trusted on loopback."""
        done = subprocess.run(unprivileged([
            self._binary("initdb"), "-D", str(self.data_dir), "-U", self.settings.postgres_user,
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"]),
            capture_output=True, text=True)
        if done.returncode != 0:
            raise StackError(f"initdb of {self.data_dir} failed ({done.returncode}):\n"
                             f"{done.stdout}{done.stderr}")
        log.info("initialised PostgreSQL cluster %s", self.data_dir)

    def launch(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        options = {**SERVER_OPTIONS, "listen_addresses": self.settings.postgres_host,
                   "port": str(self.port)}
        argv = [self._binary("postgres"), "-D", str(self.data_dir),
                *(arg for key, value in options.items() for arg in ("-c", f"{key}={value}"))]
        # INT: fast shutdown (TERM would wait for Debezium's replication connection to leave)
        self.daemons[0].start(unprivileged(argv), stop_signal="INT")

    def wait_healthy(self) -> float:
        """Wait until it answers, then create ``postgres_database`` if it is missing."""
        waited = super().wait_healthy()
        with operational.connect(self.settings, database="postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (self.settings.postgres_database,)).fetchone()
            if not exists:
                from psycopg import sql
                conn.execute(sql.SQL("CREATE DATABASE {}").format(
                    sql.Identifier(self.settings.postgres_database)))
                log.info("created database %s", self.settings.postgres_database)
        return waited

    def probe(self) -> str:
        if not port_open(self.settings.postgres_host, self.port):
            raise ConnectionRefusedError(f"nothing listens on port {self.port} yet")
        with operational.connect(self.settings, database="postgres", timeout_s=2) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            wal_level = conn.execute("SHOW wal_level").fetchone()[0]
        return f"PostgreSQL {version.split()[0]}, wal_level {wal_level}"

    def problems(self) -> list[str]:
        """Logical decoding off (Debezium cannot read the changes)."""
        with operational.connect(self.settings, database="postgres", timeout_s=2) as conn:
            wal_level = conn.execute("SHOW wal_level").fetchone()[0]
        return [] if wal_level == "logical" else [
            f"wal_level is {wal_level}, not logical: change data capture cannot read changes"]
