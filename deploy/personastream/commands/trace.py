"""``personastream trace EVENT_ID``: one event's path, from NiFi to Cassandra, and where it
stopped."""
from __future__ import annotations

import dataclasses
import json

import click

from personastream.commands.deadletters import Instant
from personastream_contracts.event_trace import describe, stopped
from personastream_flows.definitions import FLOWS
from personastream_stack.trace import trace_event


def progress(message: str) -> None:
    click.echo(f"[trace] {message}", err=True)


@click.command("trace")
@click.argument("event_id")
@click.option("--since", type=Instant(), default=None,
              help="Read Kafka from this time on (an ISO time or a duration ago: 30m, 2d) "
                   "instead of the topics' start.")
@click.option("--group", default=FLOWS[0], show_default=True,
              help="The NiFi process group running the ingest flow.")
@click.option("--no-provenance", is_flag=True, help="Do not search NiFi's provenance.")
@click.option("--json", "as_json", is_flag=True, help="Print the trace as JSON.")
@click.pass_obj
def trace(settings, event_id: str, since, group: str, no_provenance: bool,
          as_json: bool) -> None:
    """Show the path of event EVENT_ID, oldest first, with when each step happened: the NiFi
    provenance of the request that carried it (receipt, answer, batch, validation, publish),
    its records in topic_events_enriched and topic_events_deadletter (partition:offset), and
    the Cassandra rows it produced (with their WRITETIME); then where it stopped: dead-lettered
    (with the reason), late (the job that left it out), missing (in Kafka, not landed), or not
    found (exit 1).

    Example: personastream trace 0f8fad5b-d9cb-469f-a165-70867728950e --since 2h
    """
    found = trace_event(settings, event_id, group=group, since=since,
                        provenance=not no_provenance, progress=progress)
    stop = stopped(found)
    if as_json:
        click.echo(json.dumps({**dataclasses.asdict(found), "stopped": dataclasses.asdict(stop)},
                              indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(describe(found))
    if stop.kind == "not_found":
        raise SystemExit(1)
