"""``personastream jobs``: the PyFlink jobs on the configured Flink cluster."""
from __future__ import annotations

import datetime as dt

import click

from personastream_flink.catalog import JOBS
from personastream_stack import flink_jobs


@click.group("jobs")
def jobs_group() -> None:
    """Submit, list and cancel Flink jobs (local session cluster or flink_rest_url)."""


@jobs_group.command("submit")
@click.argument("names", nargs=-1, type=click.Choice(list(JOBS)))
@click.option("--from", "restore_from", default=None, metavar="PATH",
              help="Start from this savepoint or retained checkpoint (one job only).")
@click.option("--from-last-checkpoint", is_flag=True,
              help="Start from the newest checkpoint of the job's last run (one job only).")
@click.pass_obj
def submit(settings, names: tuple[str, ...], restore_from: str | None,
           from_last_checkpoint: bool) -> None:
    """Submit jobs (all when none is named) unless already running; wait until RUNNING.

    Example: personastream jobs submit score_trends --from-last-checkpoint
    """
    names = names or tuple(JOBS)
    if (restore_from or from_last_checkpoint) and len(names) != 1:
        raise click.UsageError("restoring takes exactly one job name")
    for name in names:
        if from_last_checkpoint:
            restore_from = flink_jobs.last_checkpoint(settings, name)
        info = flink_jobs.submit(settings, name, restore_from=restore_from)
        click.echo(f"{info.name}\t{info.job_id}\t{info.state}")


@jobs_group.command("reconcile")
@click.option("--watch", "interval_s", type=float, default=None, metavar="SECONDS",
              help="Keep reconciling, every SECONDS (the local stack runs this under "
                   "supervisord).")
@click.pass_obj
def reconcile(settings, interval_s: float | None) -> None:
    """Submit every declared job that is not running, from its newest checkpoint.

    A job is declared by `jobs submit` until `jobs cancel`; `stack status` lists the missing
    ones. Example: personastream jobs reconcile
    """
    if interval_s is not None:
        click.echo(f"reconciling the declared jobs every {interval_s:g}s", err=True)
        flink_jobs.watch(settings, interval_s, report=lambda line: click.echo(
            f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S}Z {line}", err=True))
        return
    started = flink_jobs.reconcile(settings)
    for info, checkpoint in started:
        click.echo(f"{info.name}\t{info.job_id}\t{info.state}\tfrom "
                   f"{checkpoint or 'committed offsets'}")
    if not started:
        click.echo("every declared job is running")


@jobs_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include finished and cancelled jobs.")
@click.pass_obj
def list_(settings, show_all: bool) -> None:
    """Jobs on the cluster, newest first. Example: personastream jobs list"""
    for job in flink_jobs.list_jobs(settings):
        if show_all or job.state in flink_jobs.ACTIVE_STATES:
            started = dt.datetime.fromtimestamp(job.start_time_ms / 1000, dt.timezone.utc)
            click.echo(f"{job.name}\t{job.job_id}\t{job.state}\t{started:%Y-%m-%d %H:%M:%S}Z")


@jobs_group.command("cancel")
@click.argument("job")
@click.pass_obj
def cancel(settings, job: str) -> None:
    """Cancel a job by id or name. Example: personastream jobs cancel land_events"""
    for job_id in flink_jobs.cancel(settings, job):
        click.echo(f"cancelled {job_id}")


@jobs_group.command("savepoint")
@click.argument("job")
@click.option("--stop", is_flag=True, help="Stop the job once the savepoint is taken.")
@click.pass_obj
def savepoint(settings, job: str, stop: bool) -> None:
    """Take a savepoint of a running job by id or name; print its path.

    Example: personastream jobs savepoint score_trends --stop
    """
    click.echo(flink_jobs.savepoint(settings, job, stop=stop))
