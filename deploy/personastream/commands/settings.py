"""``personastream settings``: what the resolver made of defaults, profile, environment and flags."""
from __future__ import annotations

import json

import click

from personastream_contracts.settings import describe, env_name, shown


@click.group("settings")
def settings_group() -> None:
    """Inspect settings."""


@settings_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def show(settings, as_json: bool) -> None:
    """Print every setting (secrets masked) with its environment variable.

    Example: PERSONASTREAM_KAFKA_PARTITIONS=8 personastream settings show
    """
    values = shown(settings)
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    helps = describe()
    for key, value in values.items():
        click.echo(f"{key} = {value}\n    {helps[key]} [{env_name(key)}]")
