"""``personastream flows``: the NiFi flows of ``nifi-flows/`` on the configured NiFi."""
from __future__ import annotations

import sys

import click

from personastream_flows import export, schedule
from personastream_flows.definitions import FLOWS
from personastream_flows.deploy import deploy as deploy_flow

FLOW_NAMES = click.argument("names", nargs=-1, type=click.Choice(FLOWS))


@click.group("flows")
def flows_group() -> None:
    """Flows as code: deploy, export, diff, start, stop (flow definition JSON + parameters)."""


@flows_group.command("deploy")
@FLOW_NAMES
@click.option("--env", default=None, help="Environment: parameters go to context personastream_ENV "
                                           "(values from the active settings profile).")
@click.option("--update-secrets", is_flag=True, help="Also overwrite existing sensitive parameters.")
@click.pass_obj
def deploy(settings, names: tuple[str, ...], env: str | None, update_secrets: bool) -> None:
    """Create or replace each flow's process group (all when none named), then start it.

    Replacing keeps the group and its queued data; an unchanged flow is left alone.
    Example: personastream --profile staging.toml flows deploy --env staging
    """
    for name in names or FLOWS:
        done = deploy_flow(settings, name, env=env, update_secrets=update_secrets)
        click.echo(f"{done.flow}\t{done.action}\tgroup {done.group_id}\t"
                   f"parameters {done.parameter_context}")


@flows_group.command("export")
@FLOW_NAMES
@click.pass_obj
def export_(settings, names: tuple[str, ...]) -> None:
    """Write what runs in NiFi back into nifi-flows/ (normalized), print the diff it made.

    Example: personastream flows export ingest && git diff nifi-flows/
    """
    for name in names or FLOWS:
        click.echo(export.export_flow(settings, name) or f"{name}: no change", nl=False)


@flows_group.command("diff")
@FLOW_NAMES
@click.pass_obj
def diff(settings, names: tuple[str, ...]) -> None:
    """Show drift between the repo and NiFi; exit 1 if any flow differs.

    Example: personastream flows diff
    """
    drift = False
    for name in names or FLOWS:
        text = export.diff_flow(settings, name)
        drift = drift or bool(text)
        click.echo(text or f"{name}: in sync\n", nl=False)
    sys.exit(1 if drift else 0)


@flows_group.command("start")
@FLOW_NAMES
@click.pass_obj
def start(settings, names: tuple[str, ...]) -> None:
    """Start flows (enable their services, run their processors). Example: personastream flows start"""
    for name in names or FLOWS:
        schedule.start(settings, name)
        click.echo(f"{name}\tstarted")


@flows_group.command("stop")
@FLOW_NAMES
@click.pass_obj
def stop(settings, names: tuple[str, ...]) -> None:
    """Stop flows; queued FlowFiles stay and resume on start. Example: personastream flows stop"""
    for name in names or FLOWS:
        schedule.stop(settings, name)
        click.echo(f"{name}\tstopped")


@flows_group.command("status")
@click.pass_obj
def status(settings) -> None:
    """Processors running/stopped/invalid and queued FlowFiles of each flow.

    Example: personastream flows status
    """
    for st in schedule.status(settings):
        if not st.deployed:
            click.echo(f"{st.flow}\tnot deployed")
            continue
        click.echo(f"{st.flow}\tgroup {st.group_id}\trunning {st.running}, stopped {st.stopped}, "
                   f"invalid {st.invalid}, queued {st.queued_count} ({st.queued_bytes} bytes)")
