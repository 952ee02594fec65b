"""``personastream bench``: benchmarks of the running stack (not timed tests)."""
from __future__ import annotations

import shlex
import sys

import click

from personastream.benchmarks import ingest
from personastream.stack import lifecycle
from personastream_flows.definitions import FLOWS
from personastream_flows.deploy import deploy as deploy_flow


@click.group("bench")
def bench_group() -> None:
    """Measure the pipeline on this machine; each prints the command that reproduces it."""


@bench_group.command("ingest")
@click.option("--batch-sizes", default="1,100", show_default=True,
              help="Events per request, one phase each, compared in one run.")
@click.option("--duration", "duration_s", default=30.0, show_default=True,
              help="Seconds per phase.")
@click.option("--concurrency", default=4, show_default=True, help="Requests in flight.")
@click.option("--seed", default=7, show_default=True)
@click.pass_obj
def bench_ingest(settings, batch_sizes: str, duration_s: float, concurrency: int, seed: int) -> None:
    """Sustained ingest throughput (events/s) and HTTP-to-Kafka latency p50/p99.

    Boots the stack and deploys the flows if needed. Example: personastream bench ingest
    """
    lifecycle.up(settings)
    for name in FLOWS:
        deploy_flow(settings, name)
    sizes = [int(x) for x in batch_sizes.split(",")]
    phases = ingest.run(settings, sizes, duration_s, concurrency, seed)
    command = "personastream " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    click.echo(ingest.report(phases, command))


@bench_group.command("nab", context_settings={"ignore_unknown_options": True,
                                               "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_nab(args: tuple[str, ...]) -> None:
    """Run a trends detector spec over the NAB corpus, score it (standard, reward_low_FP,
    reward_low_FN) with the project's NAB scorer. `personastream bench nab --help` for options.

    Example: personastream bench nab --out /tmp/nab --spec trends_detector
    """
    from personastream_models import nab

    sys.exit(nab.main(list(args), prog="personastream bench nab"))
