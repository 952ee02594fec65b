"""``personastream demo``: the whole path on the local stack, from an HTTP POST to Cassandra."""
from __future__ import annotations

import sys
import time

import click
import requests

from personastream_bench import traffic
from personastream_contracts import operational
from personastream_flows.definitions import FLOWS
from personastream_flows.deploy import deploy as deploy_flow
from personastream_stack import api_daemon, cdc, flink_jobs, lifecycle


def start_pipeline(settings) -> str:
    """Boot the stack, seed the operational database and deploy its change capture, deploy the
    flows, submit the jobs and start the API, each unless it runs; return the API's URL."""
    lifecycle.up(settings)
    seeded = operational.seed(settings)
    connector = cdc.deploy(settings)
    print(f"[cdc] operational database seeded {seeded}; connector {connector.name} "
          f"{connector.action}", file=sys.stderr)
    for name in FLOWS:
        done = deploy_flow(settings, name)
        print(f"[flows] {name} {done.action} (group {done.group_id})", file=sys.stderr)
    for name in flink_jobs.JOBS:
        info = flink_jobs.submit(settings, name)
        print(f"[jobs] {name} {info.state} ({info.job_id})", file=sys.stderr)
    return api_daemon.start(settings)


@click.command("demo")
@click.option("--events", "n_events", default=60, show_default=True, help="Sample events to send.")
@click.option("--users", "n_users", default=6, show_default=True, help="Distinct users among them.")
@click.option("--seed", default=42, show_default=True, help="Seed of the sample traffic.")
@click.option("--timeout", "timeout_s", default=120.0, show_default=True,
              help="Seconds to wait for every event to land in Cassandra.")
@click.pass_obj
def demo(settings, n_events: int, n_users: int, seed: int, timeout_s: float) -> None:
    """Boot the stack, deploy flows and jobs, POST sample events to NiFi, print what landed,
    start the API and storefront and print their URL.

    Example: personastream demo --events 100
    """
    started = time.monotonic()
    start_pipeline(settings)
    events = traffic.sample_events(n_events, n_users, seed)
    sent_s = traffic.post_events(settings.nifi_ingest_url, events)
    rows = traffic.wait_landed(settings, events, timeout_s)
    click.echo(f"{len(rows)} of {len(events)} events POSTed to {settings.nifi_ingest_url} "
               f"landed in Cassandra {settings.cassandra_keyspace}.events_by_user:")
    click.echo(f"{'user_key':<16} {'received_at (UTC)':<24} {'event_type':<16} {'item':<9} "
               f"{'category':<9} {'country':<7} {'device':<8} {'nifi->cassandra':>15}")
    for row in sorted(rows, key=lambda r: (r.user_key, r.received_at)):
        lag_ms = (row.landed_at - row.received_at).total_seconds() * 1000
        click.echo(f"{row.user_key:<16} {row.received_at.isoformat(timespec='milliseconds'):<24} "
                   f"{row.event_type:<16} {row.item_id or '-':<9} {row.category or '-':<9} "
                   f"{row.country or '-':<7} {row.device_type or '-':<8} {lag_ms:>12.0f} ms")
    api_url = api_daemon.url(settings)
    users = list(dict.fromkeys(e["user_id"] for e in events if e.get("user_id")))
    deadline = time.monotonic() + timeout_s
    while True:  # the live_activity job folds each event within about a second
        answers = {u: requests.get(f"{api_url}/v1/recommendations", params={"user": u, "k": 5},
                                   timeout=10).json() for u in users}
        live = [u for u in users if answers[u]["provenance"]["profile"] == "live"]
        if live or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    user = live[0] if live else users[0]  # a customer without marketing consent has none
    provenance = answers[user]["provenance"]
    why = f", {provenance['reason']}" if "reason" in provenance else ""
    click.echo(f"recommended for {user} (profile {provenance['profile']}{why}): "
               + ", ".join(f"{i['item_id']} ({i['category']})" for i in answers[user]["items"]))
    unconsented = [u for u in users if "reason" in answers[u]["provenance"]]
    if unconsented:
        click.echo("not personalized, no marketing consent in the operational database: "
                   f"{', '.join(unconsented)}")
    click.echo(f"storefront and API running: {api_url}/  (API docs {api_url}/docs)")
    click.echo(f"sent in {sent_s:.1f}s; demo took {time.monotonic() - started:.0f}s. "
               f"NiFi UI: {settings.nifi_api_url.removesuffix('/nifi-api')}/nifi/ "
               f"(client certificate: {settings.nifi_client_cert.parent / 'client.p12'}), "
               f"Flink UI: {settings.flink_rest_url}, Prometheus: {settings.prometheus_url} "
               "(`personastream stack status` summarizes it). Stop with `make down`.")
