"""``personastream bench``: benchmarks of the running stack (not timed tests)."""
from __future__ import annotations

import dataclasses
import shlex
import sys
import time
from pathlib import Path

import click

from personastream_bench import ingest, monitoring
from personastream_bench.pipeline import PROBE_POLL_MAX_S, PROBE_POLL_S
from personastream_flows.definitions import FLOWS
from personastream_flows.deploy import deploy as deploy_flow
from personastream_stack import lifecycle


@click.group("bench")
def bench_group() -> None:
    """Measure the pipeline on this machine; each prints the command that reproduces it."""


@bench_group.command("ingest")
@click.option("--batch-sizes", default="1,100,500", show_default=True,
              help="Events per request, one phase each (on every collector), in one run.")
@click.option("--connections", default=64, show_default=True,
              help="wrk connections (vegeta's most, with --rates).")
@click.option("--duration", "duration_s", default=20.0, show_default=True,
              help="Seconds per phase.")
@click.option("--baseline", default=None,
              help="A git revision whose ingest flow is deployed beside this tree's (process "
                   "group ingest_baseline, free ports) and measured in the same run.")
@click.option("--warmup", "warmup_s", default=60.0, show_default=True,
              help="Seconds of unmeasured single events per collector first (NiFi's JIT).")
@click.option("--repeat", default=1, show_default=True,
              help="Rounds of phases, interleaved (to show the noise).")
@click.option("--monitoring", "monitoring_states", default="on", show_default=True,
              help="on, off or on,off: the collector also measured with the local Prometheus "
                   "stopped (what monitoring costs)")
@click.option("--taskmanager-nice", "nices", default="", show_default=True,
              help="Niceness values (0-19, comma separated): the collector also measured with "
                   "the local TaskManagers at each (flink_taskmanager_nice is the default "
                   "phase), to show what giving way to the request path is worth.")
@click.option("--rates", default="", show_default=True,
              help="Open loop (vegeta): single events also sent to this tree's collector at "
                   "these fixed rates (req/s, comma separated), one phase each per round, on "
                   "at most --connections connections: latency at a given load.")
@click.option("--seed", default=7, show_default=True)
@click.pass_obj
def bench_ingest(settings, batch_sizes: str, connections: int, duration_s: float,
                 baseline: str | None, warmup_s: float, repeat: int, monitoring_states: str,
                 nices: str, rates: str, seed: int) -> None:
    """Requests/s, events/s, latency p50/p99/p99.9, errors, NiFi's CPU and memory, and receipt
    to Kafka, of the collector, of the validating collector (the previous design) and of a
    baseline revision's collector side by side, while whatever Flink jobs run keep consuming.
    Boots the stack and deploys the flows if needed.

    Example: personastream bench ingest --batch-sizes 1,500 --baseline HEAD~3 --repeat 2
    """
    lifecycle.up(settings)
    for name in FLOWS:
        deploy_flow(settings, name)
    sizes = [int(x) for x in batch_sizes.split(",")]
    phases, context = ingest.run(settings, sizes, connections, duration_s, seed,
                                 progress=lambda m: click.echo(f"[bench] {m}", err=True),
                                 baseline=baseline, warmup_s=warmup_s, repeat=repeat,
                                 monitored=monitoring.states(monitoring_states),
                                 nices=[int(x) for x in nices.split(",") if x.strip()],
                                 rates=[int(x) for x in rates.split(",") if x.strip()])
    click.echo(ingest.report(phases, context, _reproduce(
        "bench", "ingest", "--batch-sizes", batch_sizes, "--connections", str(connections),
        "--duration", f"{duration_s:g}", *(["--baseline", baseline] if baseline else []),
        "--warmup", f"{warmup_s:g}", "--repeat", str(repeat), "--monitoring",
        monitoring_states, *(["--taskmanager-nice", nices] if nices else []),
        *(["--rates", rates] if rates else []), "--seed", str(seed))))


@bench_group.command("api")
@click.option("--connections", default="1,16", show_default=True,
              help="Closed loop (wrk): concurrent connections, one phase each.")
@click.option("--rates", default="500,2000", show_default=True,
              help="Open loop (vegeta): fixed request rates in req/s, one phase each; empty: "
                   "none.")
@click.option("--rate-connections", default=16, show_default=True,
              help="Open loop: at most this many connections (vegeta -max-connections).")
@click.option("--api-nice", "nices", default=None,
              help="Niceness of the API servers, each value a round of every load, e.g. 0,-10 "
                   "(below 0 needs root).  [default: the api_nice setting]")
@click.option("--duration", "duration_s", default=15, show_default=True,
              help="Seconds per phase.")
@click.option("--workers", default=2, show_default=True, help="API server processes.")
@click.option("--k", default=10, show_default=True, help="Items per recommendation.")
@click.option("--baseline", default=None,
              help="Commit whose API is measured beside this tree's (its serving package, "
                   "served the same way); 'none': this tree only.  [default: the request path "
                   "before issue 12]")
@click.pass_obj
def bench_api(settings, connections: str, rates: str, rate_connections: int, nices: str | None,
              duration_s: int, workers: int, k: int, baseline: str | None) -> None:
    """Recommendation requests/s, latency p50/p99/p99.9, errors, API CPU and memory, under a
    closed loop (wrk) and a fixed rate (vegeta), this tree beside a baseline commit, on the
    running stack's data (run `personastream demo` first); both first answer every customer
    from a frozen copy of the data, compared. Example: personastream bench api --duration 10
    """
    from personastream_bench import api_load

    baseline = api_load.PREVIOUS_DESIGN if baseline is None else baseline
    result = api_load.run(
        settings, [int(c) for c in connections.split(",") if c.strip()],
        [int(r) for r in rates.split(",") if r.strip()], duration_s, workers, k,
        baseline=None if baseline.lower() == "none" else baseline,
        progress=lambda message: click.echo(f"[bench] {message}", err=True),
        rate_connections=rate_connections,
        nices=[int(x) for x in nices.split(",") if x.strip()] if nices else None)
    click.echo(api_load.report(result, _reproduce(
        "bench", "api", "--connections", connections, "--rates", rates, "--rate-connections",
        str(rate_connections), "--api-nice", nices or str(settings.api_nice), "--duration",
        str(duration_s), "--workers", str(workers), "--k", str(k), "--baseline", baseline)))


class JobNames(click.ParamType):
    """Comma-separated names of jobs the jobs benchmark knows."""

    name = "JOB[,JOB]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        from personastream_bench.jobs import JOBS_UNDER_TEST

        names = tuple(n.strip() for n in value.split(",") if n.strip())
        unknown = [n for n in names if n not in JOBS_UNDER_TEST]
        if unknown or not names:
            self.fail(f"{', '.join(unknown) or 'no job named'}: choose among "
                      f"{', '.join(JOBS_UNDER_TEST)} (a new job of personastream_flink.catalog "
                      "needs a JobUnderTest in personastream/benchmarks/jobs.py)", param, ctx)
        return names


@bench_group.command("jobs")
@click.option("--events", "n_events", type=click.IntRange(min=100), default=100_000,
              show_default=True, help="Enriched events in Kafka before each job starts "
                                      "(a job's first ~10 s run slower: the JIT, imports, "
                                      "connections; 300000 measures a sustained rate).")
@click.option("--items", "n_items", type=click.IntRange(min=1), default=5_000, show_default=True,
              help="Items the product views spread over (the trends job's keys; above "
                   "python.state.cache-size, 1,000, the detectors do not all fit the cache).")
@click.option("--windows", "n_windows", type=click.IntRange(min=1), default=60,
              show_default=True, help="Trends windows (trends_window_s each) the receipt times "
                                      "of the events span.")
@click.option("--jobs", "job_names", type=JobNames(),
              default="land_events,score_trends,live_activity", show_default=True,
              help="Jobs to run, one after the other.")
@click.option("--detector-version", default="3-4-0", show_default=True,
              help="Version of the trends detector live in score_trends (trends_detector_version).")
@click.option("--baseline", default=None, show_default="the jobs before issue 13",
              help="A git revision whose jobs run beside this tree's on the same workload "
                   "('none': this tree only).")
@click.option("--parallelism", default=None,
              help="Parallelisms to run each job at, one run each, e.g. 1,2 (default: the "
                   "flink_parallelism setting); more TaskManagers: the flink_taskmanagers "
                   "setting.")
@click.option("--monitoring", "monitoring_states", default="on", show_default=True,
              help="on, off or on,off: each job also run with the local Prometheus stopped "
                   "(what monitoring costs)")
@click.option("--seed", default=7, show_default=True)
@click.pass_obj
def bench_jobs(settings, n_events: int, n_items: int, n_windows: int,
               job_names: tuple[str, ...], detector_version: str, baseline: str | None,
               parallelism: str | None, monitoring_states: str, seed: int) -> None:
    """Raw events/s through each Flink job, a previous design's beside this tree's, and the
    trends UDF's cost per scored window against a bare Python loop of the same detector.

    Each job runs alone, on its own topics and keyspace (removed afterwards), draining events
    produced before it starts. Example: personastream bench jobs --events 20000 --baseline none
    """
    from personastream_bench import jobs

    baseline = jobs.PREVIOUS_DESIGN if baseline is None else baseline
    baseline = None if baseline == "none" else baseline
    settings = dataclasses.replace(settings, trends_detector_version=detector_version)
    needed = tuple(c for c in ("kafka", "cassandra", "flink") if c in settings.components)
    if needed:
        lifecycle.up(settings, only=needed)
    parallelisms = [int(p) for p in (parallelism or str(settings.flink_parallelism)).split(",")]
    report = jobs.run(settings, list(job_names), n_events, n_items, n_windows, seed,
                      progress=lambda message: click.echo(f"[bench] {message}", err=True),
                      baseline=baseline, parallelisms=parallelisms,
                      monitored=monitoring.states(monitoring_states))
    click.echo(_jobs_report(report, _reproduce(
        "bench", "jobs", "--events", str(n_events), "--items", str(n_items),
        "--windows", str(n_windows), "--jobs", ",".join(job_names),
        "--detector-version", detector_version, "--baseline", baseline or "none",
        "--parallelism", ",".join(map(str, parallelisms)), "--monitoring", monitoring_states,
        "--seed", str(seed))))


def _reproduce(*args: str) -> str:
    """The command line with its global options (``--set``, ``--profile``) and ``args``."""
    argv = sys.argv[1:]
    global_options = argv[:argv.index("bench")] if "bench" in argv else []
    return "personastream " + " ".join(shlex.quote(a) for a in [*global_options, *args])


def _jobs_report(report, command: str) -> str:
    width = max(16, *(len(r.design) for r in report.runs))
    lines = [f"{'job':<13} {'design':<{width}} {'par.':>4} {'events':>8} {'rows out':>9} "
             f"{'table':<15} {'seconds':>8} {'events/s':>9} {'rows/s':>8} {'1st row':>8} "
             f"{'ratio':>6}"]
    firsts: dict[str, float] = {}
    for r in report.runs:
        ratio = r.events_per_s / firsts.setdefault(r.job, r.events_per_s)
        first = "-" if r.first_row_s is None else f"{r.first_row_s:.1f}s"
        lines.append(f"{r.job:<13} {r.design:<{width}} {r.parallelism:>4} {r.n_events:>8,} "
                     f"{r.n_rows:>9,} {r.table:<15} {r.seconds:>8.1f} {r.events_per_s:>9,.0f} "
                     f"{r.rows_per_s:>8,.0f} {first:>8} {ratio:>5.1f}x")
        for task, busy_s in r.busy_s.items():  # busy_s: summed over the task's subtasks
            share = ("    ?" if busy_s is None else
                     f"{100 * busy_s / r.seconds / r.parallelism:>4.0f}%")
            lines.append(f"    busy {share}  {task}")
    for u in report.trends_udf:
        lines += ["", *_udf_lines(u)]
    parallelism = ", ".join(sorted({str(r.parallelism) for r in report.runs}))
    minutes, seconds = divmod(round(report.seconds), 60)
    lines += ["",
              "ratio: events/s against the job's first run listed (the baseline, the lowest "
              "parallelism); busy: mean over a task's subtasks",
              f"workload: {report.n_events:,} events ({report.n_product_views:,} product views) "
              f"received over {report.n_windows} windows of {report.window_s}s, "
              f"{report.n_items:,} items, {report.n_user_keys:,} user keys, seed {report.seed}; "
              f"Flink parallelism {parallelism}",
              f"machine: {report.n_cpus} CPUs, {report.taskmanagers} Flink TaskManager(s), "
              f"load average {report.load_1m:.1f} at start; "
              f"other Flink jobs seen running meanwhile: {', '.join(report.other_jobs) or 'none'}",
              f"benchmark wall time: {minutes} min {seconds} s",
              f"reproduce: {command}"]
    return "\n".join(lines)


def _udf_lines(u) -> list[str]:
    """The trends UDF's cost per window in one design, four ways, against the bare loop."""
    bare = u.us_per_window(u.bare_s)
    ways = [("bare Python loop: feature_set + score_then_learn", u.bare_s),
            ("bare loop + a synchronous Cassandra upsert per row", u.bare_with_writes_s),
            ("Flink: busy time of the task running the UDF", u.flink_busy_s),
            ("Flink: job wall time, RUNNING to last row written", u.flink_wall_s)]
    lines = [f"trends UDF ({u.spec}), {u.design}, over {u.n_windows:,} scored windows of "
             f"{u.n_items:,} items, one detector per item:",
             f"  {'':<50} {'us/window':>10} {'windows/s':>10} {'vs bare':>8}"]
    for label, seconds in ways:
        if seconds is None:
            lines.append(f"  {label:<50} {'(no metric)':>10}")
            continue
        us = u.us_per_window(seconds)
        lines.append(f"  {label:<50} {us:>10,.1f} {u.n_windows / seconds:>10,.0f} "
                     f"{us / bare:>7,.1f}x")
    runs = ", ".join(f"{s:.3f}" for s in u.bare_runs_s)
    lines.append(f"  bare loop runs (s): {runs}; Flink task: {u.flink_task}")
    lines.append(f"  scores Flink stored equal to the bare loop's: {u.n_scores_equal:,}/"
                 f"{u.n_windows:,}; views equal to the workload's: {u.n_views_equal:,}/"
                 f"{u.n_windows:,}")
    return lines


@bench_group.command("pipeline")
@click.option("--rates", default="150,300,600,1000,1500", show_default=True,
              help="Target events/s of the simulated shoppers, one step each, in order.")
@click.option("--step", "step_s", type=click.IntRange(min=20), default=60, show_default=True,
              help="Seconds per step.")
@click.option("--batch", type=click.IntRange(min=1), default=5, show_default=True,
              help="Most events per request (a shopper's tracker batch: 1 to this many).")
@click.option("--bad-share", type=click.FloatRange(0, 0.5), default=0.01, show_default=True,
              help="Share of the requests that are bad input (dead-lettered).")
@click.option("--probe-interval", "probe_interval_s", type=click.FloatRange(min=0.05),
              default=0.5, show_default=True, help="Seconds between freshness probes.")
@click.option("--probe-poll-max", "probe_poll_max_s", type=click.FloatRange(min=PROBE_POLL_S),
              default=PROBE_POLL_MAX_S, show_default=True,
              help=f"Longest wait between polls of a probe not seen within the freshness goal "
                   f"({PROBE_POLL_S:g}: every {PROBE_POLL_S * 1000:g} ms throughout, the probes' "
                   f"load growing with their delay).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the charts and summary.json go.  [default: <state_dir>/bench/"
                   "pipeline-<time>]")
@click.option("--warmup", "warmup_s", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seconds of shoppers at the first rate before the steps, not measured (the "
                   "JIT compilers of NiFi and the TaskManager take minutes of load after a "
                   "start or a job's submission).")
@click.option("--seed", default=11, show_default=True)
@click.pass_obj
def bench_pipeline(settings, rates: str, step_s: int, batch: int, bad_share: float,
                   probe_interval_s: float, probe_poll_max_s: float, out_dir: Path | None,
                   warmup_s: int, seed: int) -> None:
    """The whole stack under sustained load: simulated shoppers POST through NiFi at stepped
    rates while every job runs and the API is queried; per second: accepted events, every
    job's consumer lag, freshness (send -> live profile row, -> API), CPU and RSS per server;
    the highest rate held with freshness p99 < 1 s and no growing lag. Boots the stack, the
    flows, the jobs and the API if needed.

    Example: personastream bench pipeline --rates 100,200 --step 30
    """
    from personastream.commands.demo import start_pipeline
    from personastream_bench import pipeline
    from personastream_bench.load import vegeta as vegeta_path

    vegeta = vegeta_path()
    start_pipeline(settings)
    out_dir = out_dir or settings.state_dir / "bench" / time.strftime("pipeline-%Y%m%d-%H%M%S")
    summary = pipeline.run(settings, vegeta, [int(r) for r in rates.split(",")], step_s, out_dir,
                           batch, bad_share, probe_interval_s, seed=seed,
                           progress=lambda message: click.echo(f"[bench] {message}", err=True),
                           probe_poll_max_s=probe_poll_max_s, warmup_s=warmup_s)
    summary.command = _reproduce("bench", "pipeline", "--rates", rates, "--step", str(step_s),
                                 "--warmup", str(warmup_s),
                                 "--batch", str(batch), "--bad-share", f"{bad_share:g}",
                                 "--probe-interval", f"{probe_interval_s:g}",
                                 "--probe-poll-max", f"{probe_poll_max_s:g}", "--seed", str(seed))
    path = pipeline.write_summary(summary, out_dir)
    click.echo(pipeline.report(summary, path))


@bench_group.command("replay")
@click.option("--sample", type=click.IntRange(min=0), default=10_000, show_default=True,
              help="Interactions evaluated, a seeded sample (0: every eligible one); all are "
                   "folded into the state either way.")
@click.option("--seed", default=7, show_default=True, help="Seed of the sample (and bootstrap).")
@click.option("--half-life-days", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True, help="Half-life of the profiles' category/brand affinities; "
              "the shop default (profiles_affinity_half_life_s) is replayed beside it.")
@click.option("--popularity-half-life-days", type=click.FloatRange(min=0), default=30.0,
              show_default=True, help="Half-life of the popularity counts (0: plain counts).")
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Cut-off of HitRate@k and NDCG@k.")
@click.option("--min-history", type=click.IntRange(min=1), default=5, show_default=True,
              help="Interactions of a user before their next ones are evaluated.")
@click.option("--category-rule", type=click.Choice(["first", "rarest"]), default="first",
              show_default=True, help="An item's category: its first genre, or its genre with "
                                      "the fewest films.")
@click.pass_obj
def bench_replay(settings, sample: int, seed: int, half_life_days: float,
                 popularity_half_life_days: float, k: int, min_history: int,
                 category_rule: str) -> None:
    """Offline replay of MovieLens-100K: next-item HitRate@k and NDCG@k of live profiles, daily
    profiles and popularity alone, all ranked by personastream_models.recommend.rank.

    Needs no stack; downloads the recbole wheel (which ships the data) once into the cache.
    Example: personastream bench replay --sample 2000
    """
    from personastream_bench import replay

    progress = lambda message: click.echo(f"[bench] {message}", err=True)  # noqa: E731
    result, dataset = replay.run(settings, sample=sample or None, seed=seed,
                                 half_life_days=half_life_days,
                                 popularity_half_life_days=popularity_half_life_days or None,
                                 k=k, min_history=min_history, category_rule=category_rule,
                                 progress=progress)
    shop = float(settings.profiles_affinity_half_life_s)
    click.echo(replay.report(result, dataset, _reproduce(
        "bench", "replay", "--sample", str(sample), "--seed", str(seed),
        "--half-life-days", f"{half_life_days:g}",
        "--popularity-half-life-days", f"{popularity_half_life_days:g}", "--k", str(k),
        "--min-history", str(min_history), "--category-rule", category_rule),
        seed=seed, affinity_notes={half_life_days * 86_400: "--half-life-days",
                                   shop: "profiles_affinity_half_life_s, the shop default"}))


@bench_group.command("nab", context_settings={"ignore_unknown_options": True,
                                               "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def bench_nab(settings, args: tuple[str, ...]) -> None:
    """Run a trends detector spec over the NAB corpus, score it (standard, reward_low_FP,
    reward_low_FN) with the project's NAB scorer. `personastream bench nab --help` for options.

    With --held-out, chooses the candidates' configuration and thresholds by cross-validation
    over NAB's seven categories and reports the pooled held-out scores beside the in-sample
    ones (`personastream bench nab --held-out --help`).

    Example: personastream bench nab --out /tmp/nab --spec trends_detector
    Example: personastream bench nab --held-out --out /tmp/nabcv --candidates 3-3-0,3-4-0
    """
    from personastream_bench.nab import heldout, runner

    argv = list(args)
    if settings.nab_dir and "--nab-dir" not in argv:
        argv += ["--nab-dir", settings.nab_dir]
    if "--held-out" in argv:  # same corpus, --out layout and cache: one command, two modes
        argv.remove("--held-out")
        sys.exit(heldout.main(argv, prog="personastream bench nab --held-out"))
    sys.exit(runner.main(argv, prog="personastream bench nab"))


@bench_group.command("changes")
@click.option("--changes", type=click.IntRange(min=2), default=100_000, show_default=True,
              help="Debezium change records of sample customers to read.")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs of each reading, alternating.")
@click.option("--json", "as_json", is_flag=True, help="The measurements as JSON.")
def bench_changes(changes: int, repeat: int, as_json: bool) -> None:
    """How fast merge_customers reads captured changes into profile attributes (each change's
    text typed and checked in SQL against its table's contract) beside Flink's json format
    with a typed schema (its reading before contracts), on the same records, in a local
    PyFlink environment; no servers needed.

    Example: personastream bench changes --changes 100000
    """
    import json

    from personastream_bench import change_reading

    result = change_reading.run(changes, repeat,
                                progress=lambda message: click.echo(f"[bench] {message}", err=True))
    command = _reproduce("bench", "changes", "--changes", str(changes), "--repeat", str(repeat))
    click.echo(json.dumps({**result, "reproduce": command}) if as_json
               else change_reading.report(result, command))


@bench_group.command("cdc")
@click.option("--customers", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Customers in the table the connector snapshots.")
@click.option("--seed", default=42, show_default=True, help="Seed of the sample customers.")
@click.option("--json", "as_json", is_flag=True, help="The measurements as JSON.")
@click.pass_obj
def bench_cdc(settings, customers: int, seed: int, as_json: bool) -> None:
    """Initial snapshot of change data capture: a table of N customers (COPY into a schema of
    the run's own) through a Debezium connector of its own into Kafka, timed from the deploy
    until every customer's snapshot record is committed; all of it removed afterwards. Needs
    `personastream stack up` (postgres, connect, kafka).

    Example: personastream bench cdc --customers 100000
    """
    import json

    from personastream_bench import cdc as cdc_bench

    result = cdc_bench.run(settings, customers, seed,
                           progress=lambda message: click.echo(f"[bench] {message}", err=True))
    command = _reproduce("bench", "cdc", "--customers", str(customers), "--seed", str(seed))
    click.echo(json.dumps({**result, "reproduce": command}) if as_json
               else cdc_bench.report(result, command))


@bench_group.command("submit")
@click.option("--job", default="land_events", show_default=True, help="The job submitted.")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Rounds of one submission per option set, alternating.")
@click.option("--java-opts", "variants", multiple=True,
              help="Client JVM options measured (repeatable); default: Flink's own ('') and "
                   "flink_client_java_opts.")
@click.pass_obj
def bench_submit(settings, job: str, repeat: int, variants: tuple[str, ...]) -> None:
    """Seconds from `flink run` until a job's tasks run, and the client's CPU, for client JVM
    options side by side (each submission a copy of the job of its own, cancelled after).
    Needs `personastream stack up`.

    Example: personastream bench submit --job land_events --repeat 3
    """
    from personastream_bench import submission

    variants = variants or (submission.FLINK_DEFAULT, settings.flink_client_java_opts)
    runs = submission.run(settings, job, list(variants), repeat,
                          progress=lambda message: click.echo(f"[bench] {message}", err=True))
    click.echo(submission.report(runs, job, _reproduce(
        "bench", "submit", "--job", job, "--repeat", str(repeat),
        *(a for v in variants for a in ("--java-opts", v)))))
