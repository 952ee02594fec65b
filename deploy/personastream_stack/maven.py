"""Obtain JVM servers from Maven Central with the poms under ``personastream_stack/maven/``.

Each server has a pom; ``fetch`` runs Maven once into a directory of the cache and stamps it
with the pom's hash, so a second run neither calls Maven nor downloads anything.
Maven's own downloads are reported as progress lines on stderr.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from importlib.resources import files
from pathlib import Path
from typing import Sequence

from personastream_contracts.settings import Settings
from personastream_stack.errors import FetchError

log = logging.getLogger(__name__)

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
STAMP = ".personastream-fetched"
_DOWNLOADED = re.compile(r"Downloaded from \S+: (\S+) \(([\d.]+) (B|kB|MB|GB)")
_UNIT = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def pom_path(server: str, module: str = "") -> Path:
    return Path(str(files("personastream_stack") / "maven" / server / module / "pom.xml"))


def pom_property(server: str, name: str, module: str = "") -> str:
    """A ``<properties>`` value of a server's pom: the one place its version is written.

    >>> pom_property("kafka", "kafka.version").startswith("4.")
    True
    """
    root = ET.parse(pom_path(server, module)).getroot()
    node = root.find(f"m:properties/m:{name}", POM_NS)
    if node is None or not node.text:
        raise FetchError(f"{pom_path(server, module)} has no <{name}> property")
    return node.text.strip()


def pom_digest(server: str) -> str:
    """Hash of every pom of a server (a reactor has several)."""
    digest = hashlib.sha256()
    for pom in sorted(pom_path(server).parent.rglob("pom.xml")):
        digest.update(pom.read_bytes())
    return digest.hexdigest()


def install_dir(settings: Settings, server: str) -> Path:
    """Where a server's fetched files live in the cache, keyed by its poms' content."""
    return settings.cache_dir / "servers" / f"{server}-{pom_digest(server)[:12]}"


def is_fetched(settings: Settings, server: str) -> bool:
    return (install_dir(settings, server) / STAMP).exists()


def fetch(settings: Settings, server: str, goals: Sequence[str],
          java_home: Path | None = None) -> Path:
    """Run ``mvn goals`` on the server's pom unless already done; return the install dir.

    ``-Dinstall.dir`` tells the pom where to put its output, ``-Dpersonastream.build.dir``
    where to build (never the source tree). Maven's local repository is ``<cache_dir>/m2`` so
    the whole cache is one directory to keep between runs.
    """
    target = install_dir(settings, server)
    if (target / STAMP).exists():
        log.info("%s: using cached %s", server, target)
        return target
    if shutil.which(settings.maven_command) is None:
        raise FetchError(f"Maven ({settings.maven_command!r}) is not on PATH; install Maven "
                         "(apt install maven) or set PERSONASTREAM_MAVEN_COMMAND")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    props = {"install.dir": str(partial), "maven.repo.local": str(settings.cache_dir / "m2"),
             "personastream.build.dir": str(settings.cache_dir / "build" / server)}
    argv = [settings.maven_command, "-B", "-f", str(pom_path(server)),
            *(f"-D{k}={v}" for k, v in props.items()), *goals]
    env = dict(os.environ, JAVA_HOME=str(java_home or settings.java_home))
    _run_with_progress(server, argv, env, partial)
    (partial / STAMP).write_text(pom_digest(server))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def _run_with_progress(server: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
    maven_log = workdir.with_name(workdir.name + ".maven.log")
    n_files, n_bytes, started, last_report = 0, 0.0, time.monotonic(), 0.0
    print(f"[{server}] fetching from Maven Central (log: {maven_log})", file=sys.stderr)
    with maven_log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                text=True, cwd=workdir)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            match = _DOWNLOADED.search(line)
            if match:
                n_files += 1
                n_bytes += float(match.group(2)) * _UNIT[match.group(3)]
                now = time.monotonic()
                if now - last_report > 2:
                    last_report = now
                    print(f"[{server}] {n_files} files, {n_bytes / 1e6:.1f} MB downloaded, "
                          f"{now - started:.0f}s", file=sys.stderr)
        code = proc.wait()
    print(f"[{server}] done: {n_files} files, {n_bytes / 1e6:.1f} MB downloaded in "
          f"{time.monotonic() - started:.0f}s", file=sys.stderr)
    if code != 0:
        errors = [ln for ln in maven_log.read_text().splitlines() if "[ERROR]" in ln][:8]
        raise FetchError(f"Maven failed fetching {server} (exit {code}); see {maven_log}:\n"
                         + "\n".join(errors))
