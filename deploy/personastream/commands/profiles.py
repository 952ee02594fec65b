"""``personastream profiles``: the customer profiles in Cassandra."""
from __future__ import annotations

import json

import click

from personastream_contracts.cassandra import ensure_schema, migrate, read_profile


@click.group("profiles")
def profiles_group() -> None:
    """Read profiles and move their tables to the current layout."""


@profiles_group.command("show")
@click.argument("user_key")
@click.pass_obj
def show(settings, user_key: str) -> None:
    """Print a customer's profile as JSON. Example: personastream profiles show user-42"""
    profile = read_profile(settings, user_key)
    if profile is None:
        raise click.ClickException(f"no profile for {user_key!r} in {settings.cassandra_keyspace}")
    click.echo(json.dumps(profile, indent=2, default=str, sort_keys=True))


@profiles_group.command("migrate")
@click.pass_obj
def migrate_(settings) -> None:
    """Create the tables added since, apply the table migrations not applied yet
    (idempotent; `stack up` runs it too).

    Example: personastream profiles migrate
    """
    ensure_schema(settings)
    applied = migrate(settings)
    click.echo("applied: " + (", ".join(applied) if applied else "none, all tables current"))
