"""``personastream cdc``: change data capture of the operational database (PostgreSQL) into
Kafka by the Debezium connector on Kafka Connect."""
from __future__ import annotations

import json
import sys

import click

from personastream_contracts import operational
from personastream_stack import cdc


@click.group("cdc")
def cdc_group() -> None:
    """Deploy and inspect the Debezium connector; seed the operational database."""


@cdc_group.command("deploy")
@click.option("--dry-run", is_flag=True,
              help="Print the configuration (password masked) and what would change.")
@click.pass_obj
def deploy(settings, dry_run: bool) -> None:
    """Create the CDC topics and create or update the connector (idempotent: the same
    configuration again changes nothing). A new connector snapshots the tables first.

    Example: personastream cdc deploy --dry-run
    """
    done = cdc.deploy(settings, dry_run=dry_run)
    if dry_run:
        click.echo(json.dumps(cdc.shown(done.config), indent=2))
    print(f"[cdc] topics created: {done.topics_created or 'none'}", file=sys.stderr)
    click.echo(f"{done.name}\t{done.action}")


@cdc_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(settings, as_json: bool) -> None:
    """The connector's and its task's state, its replication slot (active, confirmed LSN, WAL
    retained) and topics. Exit code 1 unless connector and task are RUNNING.

    Example: personastream cdc status
    """
    report = cdc.status(settings)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"connector {report['connector']}: {report['state']}")
        for task in report["tasks"]:
            click.echo(f"  task {task['id']}: {task['state']} {' '.join(task['trace'])}")
        slot = report["slot"]
        click.echo("slot: none" if slot is None else
                   f"slot {slot['name']}: {'active' if slot['active'] else 'inactive'}, "
                   f"confirmed {slot['confirmed_flush_lsn']}, "
                   f"{slot['retained_wal_bytes']} WAL bytes retained")
        for table, topic in report["topics"].items():
            click.echo(f"{table} -> {topic}")
    tasks = report["tasks"]
    if report["state"] != "RUNNING" or not tasks or any(t["state"] != "RUNNING" for t in tasks):
        sys.exit(1)


@cdc_group.command("remove")
@click.option("--dry-run", is_flag=True, help="Name what would be removed, remove nothing.")
@click.pass_obj
def remove(settings, dry_run: bool) -> None:
    """Remove the connector, its offsets, replication slot and publication (the topics stay);
    a later deploy snapshots again.

    Example: personastream cdc remove --dry-run
    """
    removed = cdc.remove(settings, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb}: {', '.join(removed) if removed else 'nothing (none deployed)'}")


@cdc_group.command("seed")
@click.option("--customers", "n_customers", default=20, show_default=True,
              help="Customers user-0 ... (the sample traffic's user ids).")
@click.option("--orders", "n_orders", default=50, show_default=True, help="Orders among them.")
@click.option("--seed", default=42, show_default=True, help="Seed of the sample.")
@click.pass_obj
def seed(settings, n_customers: int, n_orders: int, seed: int) -> None:
    """Insert a seeded sample of customers and orders into the operational database (rows
    already there are kept; the same seed twice inserts nothing).

    Example: personastream cdc seed --customers 100 --orders 300
    """
    inserted = operational.seed(settings, n_customers, n_orders, seed)
    for table, n_rows in inserted.items():
        click.echo(f"{table}\t{n_rows} inserted")
