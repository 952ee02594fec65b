"""``personastream flows``: the NiFi flows of ``nifi-flows/`` on the configured NiFi."""
from __future__ import annotations

import click
import nipyapi

from personastream_flows import deploy as flow_deploy
from personastream_flows.client import connect


@click.group("flows")
def flows_group() -> None:
    """Deploy and inspect NiFi flows (flow definition JSON + parameter contexts)."""


@flows_group.command("deploy")
@click.argument("names", nargs=-1, type=click.Choice(flow_deploy.FLOWS))
@click.pass_obj
def deploy(settings, names: tuple[str, ...]) -> None:
    """Create or replace each flow's process group (all when none named), then start it.

    Example: personastream flows deploy ingest
    """
    for name in names or flow_deploy.FLOWS:
        done = flow_deploy.deploy(settings, name)
        click.echo(f"{done.flow}\t{done.action}\tgroup {done.group_id}\t"
                   f"parameters {done.parameter_context}")


@flows_group.command("status")
@click.pass_obj
def status(settings) -> None:
    """Processors of each deployed flow with their run state and queued FlowFiles.

    Example: personastream flows status
    """
    connect(settings)
    root_id = nipyapi.canvas.get_root_pg_id()
    for name in flow_deploy.FLOWS:
        group = flow_deploy.find_group(name, root_id)
        if group is None:
            click.echo(f"{name}\tnot deployed")
            continue
        click.echo(f"{name}\tgroup {group.id}\trunning {group.running_count}, stopped "
                   f"{group.stopped_count}, invalid {group.invalid_count}, queued "
                   f"{group.status.aggregate_snapshot.queued}")
