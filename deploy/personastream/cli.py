"""The ``personastream`` command: one Click group, one module per command group.

Progress goes to stderr, results to stdout; library errors become a message and exit code 1.
"""
from __future__ import annotations

import logging
import sys

import click

from personastream.commands.bench import bench_group
from personastream.commands.cdc import cdc_group
from personastream.commands.deadletters import deadletters_group
from personastream.commands.demo import demo
from personastream.commands.experiments import experiments_group
from personastream.commands.flows import flows_group
from personastream.commands.jobs import jobs_group
from personastream.commands.models import models_group
from personastream.commands.profiles import profiles_group
from personastream.commands.promotions import promotions_group
from personastream.commands.serve import serve
from personastream.commands.settings import settings_group
from personastream.commands.stack import stack_group
from personastream.commands.trace import trace
from personastream_contracts.errors import PersonastreamError
from personastream_contracts.settings import resolve


def _parse_overrides(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE (e.g. --set kafka_partitions=8)")
        out[key.strip()] = value
    return out


@click.group()
@click.option("--profile", type=click.Path(dir_okay=False), default=None,
              help="TOML file of settings (or set PERSONASTREAM_PROFILE).")
@click.option("--set", "overrides", multiple=True, callback=_parse_overrides, metavar="KEY=VALUE",
              help="Override one setting; repeatable. `personastream settings show` lists them.")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, profile, overrides, verbose) -> None:
    """Real-time personalization: NiFi ingest, Kafka, PyFlink + River, Cassandra."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = resolve(profile=profile, overrides=overrides)


cli.add_command(stack_group)
cli.add_command(settings_group)
cli.add_command(jobs_group)
cli.add_command(flows_group)
cli.add_command(demo)
cli.add_command(bench_group)
cli.add_command(profiles_group)
cli.add_command(models_group)
cli.add_command(promotions_group)
cli.add_command(experiments_group)
cli.add_command(deadletters_group)
cli.add_command(cdc_group)
cli.add_command(serve)
cli.add_command(trace)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except PersonastreamError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
