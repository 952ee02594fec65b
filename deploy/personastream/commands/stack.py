"""``personastream stack``: the local servers (NiFi, Kafka, Cassandra, PostgreSQL, Flink, Kafka
Connect, Prometheus) on loopback."""
from __future__ import annotations

import json
import sys

import click
import requests

from personastream_contracts.objectives import OPS_WINDOW
from personastream_stack import lifecycle, ops_summary
from personastream_stack.errors import StackError
from personastream_stack.process import log_tail


@click.group("stack")
def stack_group() -> None:
    """Start, stop and inspect the local stack."""


COMPONENT = click.Choice(list(lifecycle.COMPONENTS))


@stack_group.command("up")
@click.argument("components", nargs=-1, type=COMPONENT)
@click.pass_obj
def up(settings, components: tuple[str, ...]) -> None:
    """Fetch (cached), start and wait for the local servers (all when none named); create
    topics and tables.

    Running it again is harmless. Example: personastream stack up
    """
    timings = lifecycle.up(settings, only=components)
    for name, seconds in timings.items():
        click.echo(f"{name}\t{seconds:.1f}s")


@stack_group.command("down")
@click.argument("components", nargs=-1, type=COMPONENT)
@click.option("--purge", is_flag=True, help="Also delete the servers' data and logs.")
@click.pass_obj
def down(settings, components: tuple[str, ...], purge: bool) -> None:
    """Stop the servers this stack started (all when none named); data stays unless --purge.

    Example: personastream stack down --purge
    """
    stopped = lifecycle.down(settings, purge=purge, only=components)
    click.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@stack_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(settings, as_json: bool) -> None:
    """Health, pids, port, version and memory of each local server, what is degraded (a
    declared Flink job not running, a scrape target down), then the pipeline's last minutes
    from Prometheus: events accepted and dead-lettered, freshness, job lag and restarts,
    queues, API rate and latency.

    Exit code 0 when every server is healthy and nothing is degraded, else 1.
    Example: personastream stack status --json
    """
    report = lifecycle.status(settings)
    if as_json:
        click.echo(json.dumps({h.component: h.as_dict() for h in report}, indent=2))
    else:
        for h in report:
            state = ("DEGRADED" if h.degraded else "healthy") if h.healthy else (
                "UNHEALTHY" if h.running else "stopped")
            pids = ",".join(map(str, h.pids)) or "-"
            click.echo(f"{h.component:<10} {state:<10} v{h.version:<8} port {h.port:<5} "
                       f"pid {pids:<14} {h.rss_mb:>7.0f} MiB  {h.detail}")
            for problem in h.degraded:
                click.echo(f"{'':<10} degraded: {problem}")
        _metrics_summary(settings)
    if not all(h.healthy and not h.degraded for h in report):
        sys.exit(1)


def _metrics_summary(settings) -> None:
    """The last minutes of the pipeline, from Prometheus (one line if it does not answer)."""
    try:
        lines = ops_summary.summary(settings)
    except (requests.RequestException, StackError) as err:
        click.echo(f"\nmetrics: Prometheus at {settings.prometheus_url} did not answer ({err})")
        return
    click.echo(f"\nlast {OPS_WINDOW} (Prometheus, {settings.prometheus_url}):")
    for line in lines:
        click.echo(f"  {line}")


@stack_group.command("logs")
@click.argument("component", type=COMPONENT)
@click.option("-n", "--lines", default=40, show_default=True, help="Lines from the end of each log.")
@click.pass_obj
def logs(settings, component: str, lines: int) -> None:
    """Print the end of a server's log files, and their paths.

    Example: personastream stack logs kafka -n 100
    """
    comp = lifecycle.COMPONENTS[component](settings)
    files = comp.log_files()
    if not files:
        raise StackError(f"{component} has no log yet under {comp.run_dir}; run `stack up` first")
    for path in files:
        click.echo(f"==> {path} <==")
        click.echo(log_tail(path, lines))
