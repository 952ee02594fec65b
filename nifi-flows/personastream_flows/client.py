"""nipyapi pointed at a NiFi 2 over HTTPS, authenticated by client certificate (mutual TLS)."""
from __future__ import annotations

import nipyapi

from personastream_flows.errors import FlowError


def connect(settings) -> None:
    """Configure nipyapi for ``settings.nifi_api_url``; call before any other nipyapi call."""
    for path, key in ((settings.nifi_ca_cert, "nifi_ca_cert"),
                      (settings.nifi_client_cert, "nifi_client_cert"),
                      (settings.nifi_client_key, "nifi_client_key")):
        if not path.exists():
            raise FlowError(f"{key} {path} does not exist; run `personastream stack up` for the "
                            f"local NiFi, or set PERSONASTREAM_{key.upper()} for a remote one")
    cfg = nipyapi.config.nifi_config
    cfg.host = settings.nifi_api_url
    cfg.verify_ssl = True
    cfg.ssl_ca_cert = str(settings.nifi_ca_cert)
    cfg.cert_file = str(settings.nifi_client_cert)
    cfg.key_file = str(settings.nifi_client_key)
    cfg.api_client = None  # rebuilt lazily with the settings above


def ensure_admin_policies() -> None:
    """Grant the connected admin the root process group policies NiFi leaves out on a fresh flow
    (view/modify flow and data, provenance, system). Idempotent."""
    nipyapi.security.bootstrap_security_policies(service="nifi")
