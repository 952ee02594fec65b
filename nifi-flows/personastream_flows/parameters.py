"""The parameters the flows reference (``#{name}``), filled from settings per environment.

Only these carry environment values into NiFi; the flow JSON holds none. Sensitive ones
(credentials) are NiFi sensitive parameters: set when created or when asked to update them,
never read back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import nipyapi


@dataclass(frozen=True)
class Parameter:
    name: str
    value_of: Callable[[object], str]
    sensitive: bool = False


PARAMETERS = (
    Parameter("ingest_port", lambda s: str(s.nifi_ingest_port)),
    Parameter("ingest_validate_port", lambda s: str(s.nifi_ingest_validate_port)),
    Parameter("ingest_bind_host", lambda s: s.nifi_ingest_bind_host),
    Parameter("ingest_max_body_bytes", lambda s: str(s.ingest_max_body_bytes)),
    Parameter("ingest_batch_max_bytes", lambda s: f"{s.ingest_batch_max_bytes} B"),
    Parameter("geoip_database", lambda s: s.geoip_database),
    Parameter("kafka_bootstrap_servers", lambda s: s.kafka_bootstrap_servers),
    Parameter("kafka_security_protocol", lambda s: s.kafka_security_protocol),
    Parameter("kafka_sasl_mechanism", lambda s: s.kafka_sasl_mechanism),
    Parameter("kafka_sasl_username", lambda s: s.kafka_sasl_username),
    Parameter("kafka_sasl_password", lambda s: s.kafka_sasl_password, sensitive=True),
    Parameter("topic_events_enriched", lambda s: s.topic_events_enriched),
    Parameter("topic_events_deadletter", lambda s: s.topic_events_deadletter),
)


def _value(param: Parameter, settings) -> str | None:
    """The value NiFi holds: an empty setting is an unset parameter."""
    return param.value_of(settings) or None


def parameter_values(settings) -> dict[str, str | None]:
    """Non-sensitive values by name (what a deployed context must hold)."""
    return {p.name: _value(p, settings) for p in PARAMETERS if not p.sensitive}


def context_name(base: str, env: str | None) -> str:
    """``personastream`` for the default environment, ``personastream_<env>`` otherwise.

    >>> context_name("personastream", None), context_name("personastream", "staging")
    ('personastream', 'personastream_staging')
    """
    return f"{base}_{env}" if env else base


def ensure_parameter_context(name: str, settings, update_secrets: bool = False):
    """Create the context, or update the values that differ (secrets only if asked or unset)."""
    context = nipyapi.parameters.get_parameter_context(name, identifier_type="name", greedy=False)
    if context is None:
        params = [nipyapi.parameters.prepare_parameter(p.name, _value(p, settings),
                                                       sensitive=p.sensitive) for p in PARAMETERS]
        return nipyapi.parameters.create_parameter_context(name, parameters=params)
    current = {p.parameter.name: p.parameter for p in context.component.parameters}
    for param in PARAMETERS:
        value = _value(param, settings)
        existing = current.get(param.name)
        if param.sensitive:
            changed = existing is None or update_secrets
        else:
            changed = existing is None or existing.value != value
        if changed:
            context = nipyapi.parameters.upsert_parameter_to_context(
                context, nipyapi.parameters.prepare_parameter(param.name, value,
                                                              sensitive=param.sensitive))
    return context
