"""``personastream deadletters``: find dead letters, and replay them (corrected) through the
collector, once each."""
from __future__ import annotations

import functools
import json
import re
from datetime import datetime, timezone

import click

from personastream_contracts.corrections import Correction, CorrectionError
from personastream_contracts.deadletter_replay import (Letter, Report, Selection, ledger_key,
                                                       listing, parse_instant)
from personastream_contracts.deadletters import REASON_CODES
from personastream_contracts.errors import PersonastreamError
from personastream_stack.deadletter_recovery import read_ledger, read_letters, replay


class Instant(click.ParamType):
    """An ISO time or a duration before now (``1h``)."""

    name = "TIME"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        try:
            return parse_instant(value, datetime.now(timezone.utc))
        except ValueError as err:
            self.fail(str(err), param, ctx)


def selection_options(limit_default: int | None, limit_help: str):
    """The options that select dead letters, handed to the command as one :class:`Selection`."""
    def decorate(command):
        @click.option("--reason", "reasons", multiple=True, type=click.Choice(REASON_CODES),
                      metavar="CODE", help="Only letters of this reason code (e.g. "
                                           "schema_violation); repeatable.")
        @click.option("--event-type", "event_types", multiple=True, metavar="TYPE",
                      help="Only letters of this event type (e.g. product_view); repeatable.")
        @click.option("--since", type=Instant(), default=None,
                      help="Only letters received at or after: an ISO time or a duration ago "
                           "(90s, 30m, 1h, 2d).")
        @click.option("--until", type=Instant(), default=None,
                      help="Only letters received before (same forms as --since).")
        @click.option("--limit", type=click.IntRange(min=1), default=limit_default,
                      show_default=limit_default is not None, help=limit_help)
        @functools.wraps(command)
        def wrapper(*args, reasons, event_types, since, until, **kwargs):
            selection = Selection(reasons, event_types, since, until)
            return command(*args, selection=selection, **kwargs)
        return wrapper
    return decorate


def progress(message: str) -> None:
    click.echo(f"[deadletters] {message}", err=True)


def _read(settings, wanted) -> tuple[list[Letter], int]:
    progress(f"reading {settings.topic_events_deadletter}")
    return read_letters(settings, wanted, progress)


@click.group("deadletters")
def deadletters_group() -> None:
    """List, show and replay the dead letters of topic_events_deadletter."""


@deadletters_group.command("list")
@selection_options(100, "Rows shown at most (every selected letter is counted).")
@click.pass_obj
def list_(settings, selection: Selection, limit: int) -> None:
    """Count the selected dead letters by reason, then show one row each, oldest first: its
    position (PARTITION:OFFSET), receipt time, reason, field, event type and id, and its replay
    outcome if it was replayed.

    Example: personastream deadletters list --reason schema_violation --since 1h
    """
    letters, n_read = _read(settings, selection.matches)
    click.echo(listing(settings.topic_events_deadletter, letters, n_read, read_ledger(settings),
                       limit))


@deadletters_group.command("show")
@click.argument("letter")
@click.pass_obj
def show(settings, letter: str) -> None:
    """Print dead letter LETTER whole (JSON): its position, its replay record (null if never
    replayed) and the letter as stored. LETTER is PARTITION:OFFSET or an event_id (every letter
    of that event, e.g. one per failed replay).

    Example: personastream deadletters show 2:14
    """
    if re.fullmatch(r"\d+:\d+", letter):
        found, n_read = _read(settings, lambda x: x.position == letter)
    else:
        found, n_read = _read(settings, lambda x: x.value.get("event_id") == letter)
    if not found:
        raise click.ClickException(
            f"no dead letter {letter} among the {n_read:,} of {settings.topic_events_deadletter}; "
            "`personastream deadletters list` shows their positions (PARTITION:OFFSET) and ids")
    ledger = read_ledger(settings)
    for x in found:
        click.echo(json.dumps({"topic": x.topic, "partition": x.partition, "offset": x.offset,
                               "replay": ledger.get(ledger_key(x)), "letter": x.value},
                              indent=2, ensure_ascii=False))


@deadletters_group.command("replay")
@selection_options(None, "Send at most this many letters (those skipped do not count).")
@click.option("--rename", "renames", multiple=True, metavar="OLD=NEW",
              help="Correction: move field OLD to NEW (e.g. product_id=item_id); repeatable.")
@click.option("--drop", "drops", multiple=True, metavar="FIELD",
              help="Correction: remove FIELD; repeatable.")
@click.option("--set", "sets", multiple=True, metavar="FIELD=JSON",
              help="Correction: set FIELD to a JSON value (e.g. 'currency=\"EUR\"', price=12.5, "
                   "brand=null); repeatable.")
@click.option("--schema-version", default=None, metavar="VERSION",
              help="Correction: set schema_version (e.g. 1-0-0).")
@click.option("--dry-run", is_flag=True,
              help="Send and record nothing; predict each verdict with the collector's "
                   "validation, run here.")
@click.pass_obj
def replay_(settings, selection: Selection, limit: int | None, renames, drops, sets,
            schema_version: str | None, dry_run: bool) -> None:
    """Send the events of the selected dead letters through the validating collector again,
    corrected, each under its own event_id, and report each letter as replayed, fixed
    (corrected, then accepted), still failing (with the collector's reason: it is a new dead
    letter), already replayed or not replayable (no event object in it, or a late event, which
    was accepted already). Every verdict is recorded in the ledger (topic
    topic_deadletters_replayed): a letter recorded as replayed or fixed is never sent again, so
    replaying twice changes nothing downstream.

    Corrections apply to each event in this order: renames, drops, sets. FIELD is a JSON
    Pointer (/item_id, /attributes/tier), its leading / optional; event_id cannot be changed.

    Example: personastream deadletters replay --reason schema_violation --rename
    product_id=item_id --dry-run
    """
    try:
        correction = Correction.parse(renames, drops, sets, schema_version)
    except CorrectionError as err:
        raise click.UsageError(str(err)) from None
    letters, n_read = _read(settings, selection.matches)
    progress(f"{len(letters):,} of {n_read:,} dead letters selected")
    if dry_run:
        click.echo("dry run: nothing sent or recorded; verdicts predicted by the collector's "
                   "validation, run here")
    report = Report()
    try:
        replay(settings, letters, correction, report, dry_run=dry_run, limit=limit,
               progress=progress)
    except PersonastreamError:
        if report.rows:
            click.echo(report.text())
        raise
    click.echo(report.text())
