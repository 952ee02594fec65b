"""``personastream promotions``: validate promotion rules, publish them, activate and pause them
on the compacted promotions control topic, which the running jobs follow as broadcast state.

The transitions are :mod:`personastream_models.promotion_state`'s; the topic is read and written
by :mod:`personastream_stack.promotion_control`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from personastream_contracts.errors import PersonastreamError
from personastream_models import promotion_rules as rules
from personastream_models.promotion_state import PromotionState, PromotionStateError, published
from personastream_stack.promotion_control import states, write

#: What a command refuses with a message (a broken rule, a transition that cannot be made).
REFUSALS = (rules.RuleError, PromotionStateError)


def _rule(target: str) -> rules.PromotionRule:
    """A rule file's path, or ``NAME[/VERSION]`` of a rule in ``promotions/``."""
    if target.endswith(".json") or Path(target).is_file():
        return rules.read_file(target)
    name, _, version = target.partition("/")
    return rules.load(name, version or None)


def _change(settings, name: str, change, dry_run: bool) -> PromotionState:
    known = states(settings)
    if name not in known:
        raise click.ClickException(f"promotion {name!r} is not published on "
                                   f"{settings.topic_promotions_control!r}; run `personastream "
                                   f"promotions publish {name}` first")
    try:
        after = change(known[name])
    except REFUSALS as error:
        raise click.ClickException(str(error)) from None
    if not dry_run:
        write(settings, after)
    return after


def _line(state: PromotionState, dry_run: bool) -> str:
    running = f"{state.status} {state.version}"
    return (f"{state.name}: {running}{' (dry run: nothing written)' if dry_run else ''} "
            f"(published: {', '.join(state.published_versions())})")


@click.group("promotions")
def promotions_group() -> None:
    """Promotion rules in models/personastream_models/promotions/: validate, publish, switch on
    and off in the running jobs without a restart."""


@promotions_group.command("validate")
@click.argument("targets", nargs=-1, metavar="[FILE|NAME[/VERSION]]...")
def validate(targets: tuple[str, ...]) -> None:
    """Check rules against the format (JSON Schema) and its other checks; every version of
    every rule when none is given. A broken rule fails naming each bad field.

    Example: personastream promotions validate /tmp/spring_sale.json mobile_welcome
    """
    targets = targets or tuple(f"{n}/{v}" for n, vs in rules.available().items() for v in vs)
    failed = 0
    for target in targets:
        try:
            rule = _rule(target)
        except rules.InvalidRule as error:
            failed += 1
            click.echo(f"FAIL {target} ({error.label})")
            for problem in error.problems:
                click.echo(f"     {problem}")
            continue
        except rules.RuleError as error:
            failed += 1
            click.echo(f"FAIL {target}\n     {error}")
            continue
        click.echo(f"ok   {rule.key}" + (f" ({target})" if target != rule.key else ""))
    click.echo(f"{len(targets) - failed} of {len(targets)} rules valid")
    if failed:
        sys.exit(1)


@promotions_group.command("publish")
@click.argument("target", metavar="FILE|NAME[/VERSION]")
@click.option("--dry-run", is_flag=True, help="Validate and show the new state; write nothing.")
@click.pass_obj
def publish(settings, target: str, dry_run: bool) -> None:
    """Validate a rule, then record it on the promotions control topic as a published version:
    a new promotion starts paused; an active one keeps its version until `activate`. A
    published version never changes (bump it).

    Example: personastream promotions publish mobile_welcome
    """
    try:
        rule = _rule(target)
        after = published(states(settings).get(rule.name), rule)
    except REFUSALS as error:
        raise click.ClickException(str(error)) from None
    if not dry_run:
        write(settings, after)
    click.echo(_line(after, dry_run))
    if after.version != rule.version:
        click.echo(f"# {rule.key} is published; {after.version} stays active until "
                   f"`personastream promotions activate {rule.name} --version {rule.version}`",
                   err=True)


@promotions_group.command("list")
@click.pass_obj
def list_(settings) -> None:
    """Every promotion: rule file versions, published versions, status and running version.

    Example: personastream promotions list
    """
    try:
        known = states(settings)
    except PersonastreamError as error:
        known = {}
        click.echo(f"# published state unknown ({error})", err=True)
    files = rules.available()
    for name in sorted(set(files) | set(known)):
        state = known.get(name)
        click.echo("\t".join([
            name, f"files:{','.join(files.get(name, [])) or '-'}",
            f"published:{','.join(state.published_versions()) if state else '-'}",
            f"{state.status} {state.version}" if state else "unpublished"]))


@promotions_group.command("show")
@click.argument("name")
@click.option("--version", default=None, help="A version other than the running one.")
@click.pass_obj
def show(settings, name: str, version: str | None) -> None:
    """A promotion's state on the control topic and a version's rule, as JSON (the published
    content, else the rule file).

    Example: personastream promotions show mobile_welcome
    """
    state = states(settings).get(name)
    doc = {"promotion": name}
    if state is not None:
        doc.update(status=state.status, version=state.version,
                   published=state.published_versions(), action=state.action,
                   changed_at=state.changed_at)
    try:
        if state is not None and (version or state.version) in state.rules:
            doc["rule"] = state.rule(version).to_dict()
        else:
            doc["rule"] = rules.load(name, version).to_dict()
            doc["rule_source"] = "file (not published)"
    except REFUSALS as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(doc, indent=2))


@promotions_group.command("activate")
@click.argument("name")
@click.option("--version", default=None, help="A published version (default: the latest).")
@click.option("--dry-run", is_flag=True, help="Check and show the new state; write nothing.")
@click.pass_obj
def activate(settings, name: str, version: str | None, dry_run: bool) -> None:
    """Make a published version of a promotion active in the running jobs, without a restart.
    Refused for anything not published (so not validated) or already ended.

    Example: personastream promotions activate mobile_welcome --version 1-0-0
    """
    after = _change(settings, name, lambda s: s.activated(version), dry_run)
    click.echo(_line(after, dry_run))


@promotions_group.command("pause")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Check and show the new state; write nothing.")
@click.pass_obj
def pause(settings, name: str, dry_run: bool) -> None:
    """Stop offering a promotion in the running jobs; its versions stay published.

    Example: personastream promotions pause mobile_welcome
    """
    after = _change(settings, name, lambda s: s.paused(), dry_run)
    click.echo(_line(after, dry_run))
