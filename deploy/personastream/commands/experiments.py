"""``personastream experiments``: the experiment files (list, show, validate), their report
from the ``experiment_results`` rows of the ``attribute_experiments`` job, and an A/B test run
by simulated shoppers (``simulate``, :mod:`personastream_bench.ab_simulation`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from personastream_contracts.cassandra import keyspace, session
from personastream_models import experiment_report
from personastream_models import experiments as exps


def _experiment(target: str) -> exps.Experiment:
    """A file's path, or ``NAME[/VERSION]`` of an experiment in ``experiments/``."""
    try:
        if target.endswith(".json") or Path(target).is_file():
            return exps.read_file(target)
        name, _, version = target.partition("/")
        return exps.load(name, version or None)
    except exps.ExperimentError as error:
        raise click.ClickException(str(error)) from None


def results(settings, name: str) -> dict[str, dict]:
    """The ``experiment_results`` rows of experiment ``name``: ``{variant: {column: value}}``."""
    from cassandra import InvalidRequest

    table = f"{keyspace(settings)}.experiment_results"
    with session(settings) as cql:
        try:
            query = cql.prepare(f"SELECT * FROM {table} WHERE experiment = ?")
        except InvalidRequest as error:
            raise click.ClickException(f"cannot read {table} ({error}); create it with "
                                       "`personastream profiles migrate`") from None
        return {row.variant: row._asdict() for row in cql.execute(query, [name])}


@click.group("experiments")
def experiments_group() -> None:
    """Experiments in models/personastream_models/experiments/: list, show, validate, the
    report of their variants (attribute_experiments must be running), and a simulated A/B
    test (simulate)."""


@experiments_group.command("list")
def list_() -> None:
    """Each experiment's latest version, placement, variants and dates. Example:
    personastream experiments list"""
    for exp in exps.load_all(simulations=True):
        content = exp.to_dict()
        variants = ", ".join(f"{v.name} {v.weight}" for v in exp.variants)
        click.echo(f"{exp.key:<32} {exp.placement:<17} {content['start']} .. {content['end']}  "
                   f"control {exp.control}; {variants}")


@experiments_group.command("show")
@click.argument("target", metavar="FILE|NAME[/VERSION]")
def show(target: str) -> None:
    """Print an experiment file. Example: personastream experiments show aa_ranking"""
    click.echo(json.dumps(_experiment(target).to_dict(), indent=2))


@experiments_group.command("validate")
@click.argument("targets", nargs=-1, metavar="[FILE|NAME[/VERSION]]...")
def validate(targets: tuple[str, ...]) -> None:
    """Check experiment files (all published ones when none is named); exit 1 naming each
    broken field. Example: personastream experiments validate my_test.json"""
    failed = 0
    for target in targets or tuple(exps.available()):
        try:
            click.echo(f"ok {_experiment(target).key}")
        except click.ClickException as error:
            failed += 1
            click.echo(error.message, err=True)
    if failed:
        sys.exit(1)


@experiments_group.command("report")
@click.argument("name")
@click.option("--lift", type=float, default=0.15, show_default=True,
              help="relative lift to size the test for (0.15: +15 %)")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.05, show_default=True, help="significance level (two-sided)")
@click.option("--power", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.8, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.pass_obj
def report(settings, name: str, lift: float, alpha: float, power: float, as_json: bool) -> None:
    """Per variant CTR, conversion and add-to-cart rate with confidence intervals, the
    difference to control with its interval and p-value, and the sample size per variant
    needed for --lift. Example: personastream experiments report aa_ranking --lift 0.15"""
    experiment = _experiment(name)
    totals = results(settings, experiment.name)
    if not totals:
        raise click.ClickException(
            f"no results for experiment {experiment.name!r} in "
            f"{keyspace(settings)}.experiment_results: is attribute_experiments running "
            "(`personastream jobs submit attribute_experiments`) and have exposures to the "
            "experiment arrived (impressions under it; for a promotions experiment, offers "
            "made or held out by evaluate_promotions)?")
    out = experiment_report.build(experiment, totals, lift, alpha, power)
    click.echo(json.dumps(out, indent=2) if as_json else experiment_report.render(out))


def _attribution_knows(settings, name: str, job_name: str) -> None:
    """Fail unless the running attribution job ``job_name`` was submitted with experiment
    ``name`` (its plan holds the name's literal in the assignment's CASE)."""
    from personastream_stack import flink_jobs
    from personastream_stack.flink import rest_get

    job = flink_jobs.active_job(settings, job_name)
    if job is None:
        raise click.ClickException(f"{job_name} is not running; submit it: "
                                   "personastream jobs submit attribute_experiments")
    plan = json.dumps(rest_get(settings, f"/jobs/{job.job_id}/plan", timeout_s=10),
                      ensure_ascii=False)
    if f"'{name}'" not in plan:
        raise click.ClickException(
            f"{job_name} ({job.job_id}) was submitted before experiment {name!r} "
            "was published and would not count it; resubmit it from a savepoint: "
            "personastream jobs savepoint attribute_experiments --stop, then personastream "
            "jobs submit attribute_experiments --from SAVEPOINT")


@experiments_group.command("simulate")
@click.argument("name")
@click.option("--shoppers", "n_shoppers", type=click.IntRange(1), default=1500,
              show_default=True, help="simulated shoppers (new anonymous customers)")
@click.option("--pages", "n_pages", type=click.IntRange(1), default=5, show_default=True,
              help="recommendation pages each shopper sees")
@click.option("--seed", type=int, default=16, show_default=True,
              help="seeds each shopper's tastes and choices")
@click.option("--concurrency", type=click.IntRange(1), default=48, show_default=True,
              help="shoppers browsing at once")
@click.option("--lift", type=float, default=0.15, show_default=True,
              help="relative lift to size the test for")
@click.option("--attribution-job", default="attribute_experiments", show_default=True,
              help="Flink job name of the attribution job that must count the experiment")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.pass_obj
def simulate(settings, name: str, n_shoppers: int, n_pages: int, seed: int,
             concurrency: int, lift: float, attribution_job: str, as_json: bool) -> None:
    """Run simulated shoppers with a known response model (personastream_bench.
    shopper_response) through the real pipeline in a simulation experiment (sim_*, running
    now): each asks an API serving that experiment for recommendations, reports impressions,
    clicks, views, carts and purchases through NiFi; then check attribute_experiments counted
    every one, and report this run's variants and the lift of live ranking over the others
    beside the case study's +15 % CTR / +10 % conversion. Example:
    personastream experiments simulate sim_ranking_live_vs_batch --shoppers 1500 --pages 5"""
    import datetime as dt
    import time

    from personastream_bench import ab_simulation as sim

    experiment = _experiment(name)
    if not exps.is_simulation(experiment):
        raise click.ClickException(
            f"{experiment.key} is not a simulation experiment (named {exps.SIMULATION_PREFIX}*)"
            ": simulated shoppers would be counted with real customers; publish a "
            f"{exps.SIMULATION_PREFIX}{experiment.name} with the same variants")
    now = dt.datetime.now(dt.timezone.utc)
    if experiment.placement != "recommendations" or not experiment.is_running(
            int(now.timestamp() * 1000)):
        raise click.ClickException(f"{experiment.key} must be a recommendations experiment "
                                   f"running now ({now:%Y-%m-%dT%H:%M}Z); see "
                                   "`personastream experiments list`")
    _attribution_knows(settings, experiment.name, attribution_job)
    plan = sim.Plan(n_shoppers, n_pages, seed, run_id=f"{seed}-{now:%Y%m%d%H%M%S}",
                    concurrency=concurrency)
    before = results(settings, experiment.name)
    started = time.monotonic()
    try:
        with sim.api_serving(settings, experiment) as api_url:
            tally = sim.run_shoppers(plan, experiment, api_url, settings.nifi_ingest_url,
                                     progress=lambda line: click.echo(line, err=True))
        ran_s = time.monotonic() - started
        click.echo(f"[simulate] {n_shoppers} shoppers in {ran_s:.0f}s; waiting for "
                   f"{attribution_job} to count them", err=True)
        grown = sim.wait_counted(lambda: results(settings, experiment.name), before,
                                 tally.as_dict())
    except sim.SimulationError as error:
        raise click.ClickException(str(error)) from None
    counted_s = time.monotonic() - started - ran_s
    report = experiment_report.build(experiment, grown, lift)
    rankings = {v.ranking: v.name for v in experiment.variants}
    treatment = rankings.get("live")
    baselines = tuple(rankings[r] for r in ("popularity", "daily_batch") if r in rankings)
    lifts = sim.lifts(report, treatment, baselines) if treatment and baselines else []
    model, n_categories = plan.model, len(tally.categories)
    sent = tally.as_dict()
    profiled = ", ".join(f"{v} {sent[v]['profiled_pages']}/{sent[v]['impressions']}"
                         for v in (x.name for x in experiment.variants) if v in sent)
    simulated = (f"simulated shoppers, not customers: {n_shoppers} new anonymous shoppers "
                 f"(seed {seed}, {concurrency} at once), {n_pages} recommendation pages each, "
                 f"thinking {plan.think_s[0]:g}-{plan.think_s[1]:g} s per page; known response "
                 f"model: {model.describe()}. On a random shelf of {sim.SHELF_SIZE} (each "
                 f"item liked with {model.n_liked}/{n_categories}) the model gives a CTR of "
                 f"{100 * model.expected_ctr(model.n_liked / n_categories, sim.SHELF_SIZE):.1f}"
                 f" %, on a "
                 f"shelf of liked items only {100 * model.expected_ctr(1.0, sim.SHELF_SIZE):.1f}"
                 f" %. Pages ranked with a profile (live or windowed, per the API's "
                 f"provenance): {profiled}. Ran {ran_s:.0f}s; {attribution_job} had counted "
                 f"every impression, click, cart and purchase {counted_s:.1f}s after the last "
                 "shopper left (conservation checked).")
    if as_json:
        click.echo(json.dumps({"report": report, "lifts": lifts, "simulated": simulated,
                               "sent": sent}, indent=2))
        return
    click.echo(experiment_report.render(report))
    if lifts:
        click.echo("")
        click.echo(sim.render_lifts(lifts, 1 - report["alpha"]))
    click.echo("")
    click.echo(simulated)
