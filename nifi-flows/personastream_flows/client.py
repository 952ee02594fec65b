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
    """Grant the connected admin the policies NiFi leaves out on a fresh flow: on the root
    process group view/modify flow and data, and system (nipyapi's bootstrap), and the two
    provenance policies that bootstrap leaves out, query provenance (``/provenance``) and view
    the provenance of every component (``/provenance-data/process-groups/<root>``, which child
    groups inherit). Idempotent; applied by the running NiFi at once, no restart."""
    nipyapi.security.bootstrap_security_policies(service="nifi")
    identity = nipyapi.nifi.FlowApi().get_current_user().identity
    admin = nipyapi.security.get_service_user(identity, service="nifi")
    root_id = nipyapi.canvas.get_root_pg_id()
    for resource, r_id in (("provenance", None), ("provenance-data/process-groups", root_id)):
        policy = nipyapi.security.get_access_policy_for_resource(resource, "read", r_id=r_id,
                                                                 auto_create=True)
        nipyapi.security.add_user_to_access_policy(admin, policy, strict=False)
