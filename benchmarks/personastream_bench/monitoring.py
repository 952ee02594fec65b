"""Monitoring on or off between a benchmark's side-by-side runs, to measure what it costs.

Off stops the local ``prometheus`` component: Prometheus (so nothing scrapes the JMX agents of
Kafka and Cassandra, Flink's reporter, NiFi's endpoint or the API), Alertmanager and the pipeline
exporter (a consumer of the pipeline's topics). The agents and reporters stay loaded, idle.
"""
from __future__ import annotations

from personastream_contracts.errors import PersonastreamError
from personastream_stack import lifecycle

COMPONENT = "prometheus"


def states(spec: str) -> list[bool]:
    """``on``/``off`` in the order given.

    >>> states("on,off"), states("on")
    ([True, False], [True])
    """
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names or set(names) - {"on", "off"}:
        raise PersonastreamError(f"monitoring states are on and off, comma separated; got {spec!r}")
    return [n == "on" for n in names]


def label(design: str, on: bool) -> str:
    """A run's name with its monitoring state (``design`` alone when on)."""
    return design if on else f"{design}, unmonitored"


def pids(settings) -> list[int]:
    """The running processes of the local monitoring (Prometheus, Alertmanager, the alert log,
    the pipeline exporter): roots for :class:`~personastream_bench.load.Usage`, to measure what
    monitoring itself costs in CPU. Empty when it is off or not run here."""
    if COMPONENT not in settings.components:
        return []
    daemons = lifecycle.local_components(settings, (COMPONENT,))[0].daemons
    return [pid for pid in (d.running_pid() for d in daemons) if pid]


def turn(settings, on: bool, progress) -> None:
    """Start (and wait for) or stop the local Prometheus component."""
    if COMPONENT not in settings.components:
        raise PersonastreamError("monitoring is not run here (prometheus is not in "
                                 "local_components): nothing to turn on or off")
    if on == any(d.running_pid() for d in lifecycle.local_components(settings, (COMPONENT,))[0]
                 .daemons):
        return
    progress(f"monitoring {'on: starting' if on else 'off: stopping'} {COMPONENT}")
    if on:
        lifecycle.up(settings, only=(COMPONENT,))
    else:
        lifecycle.down(settings, only=(COMPONENT,))
