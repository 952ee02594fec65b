"""Parameters every job takes: identity, Kafka source, Cassandra sink, connector jars.

Built from settings on the client (``arguments``), parsed in the job (``parser``): the jobs
read no files or environment.
"""
from __future__ import annotations

import argparse

from personastream_contracts.cassandra import keyspace


def arguments(settings, jars: list, job_name: str) -> list[str]:
    return ["--job-name", job_name, "--group-id", job_name,
            "--bootstrap-servers", settings.kafka_bootstrap_servers,
            "--topic", settings.topic_events_enriched,
            "--erasures-topic", settings.topic_user_erasures,
            "--cassandra-hosts", settings.cassandra_hosts,
            "--cassandra-port", str(settings.cassandra_port),
            "--cassandra-local-dc", settings.cassandra_local_dc,
            "--keyspace", keyspace(settings),
            "--checkpoint-interval-s", str(settings.flink_checkpoint_interval_s),
            "--aligned-checkpoint-timeout-s", str(settings.flink_aligned_checkpoint_timeout_s),
            "--jars", ";".join(f"file://{j}" for j in jars)]


def parser(job_name: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=job_name, description=description)
    p.add_argument("--job-name", default=job_name, help="Flink job name (one per instance)")
    p.add_argument("--group-id", default=job_name, help="Kafka consumer group")
    p.add_argument("--bootstrap-servers", required=True)
    p.add_argument("--topic", required=True, help="the enriched events topic")
    p.add_argument("--erasures-topic", required=True,
                   help="erasure requests (the jobs keeping state about customers clear it)")
    p.add_argument("--cassandra-hosts", required=True)
    p.add_argument("--cassandra-port", type=int, default=9042)
    p.add_argument("--cassandra-local-dc", required=True)
    p.add_argument("--keyspace", required=True)
    p.add_argument("--checkpoint-interval-s", type=int, default=10)
    p.add_argument("--aligned-checkpoint-timeout-s", type=int, default=-1,
                   help="seconds before a checkpoint turns unaligned; -1: always aligned")
    p.add_argument("--jars", required=True, help="';'-separated connector jar URLs")
    return p


def profile_rule_arguments(settings) -> list[str]:
    """The profile folding rules (session gap, recent items, affinity half-life) of the jobs
    that fold events into profiles (:func:`add_profile_rules` parses them)."""
    return ["--session-gap-s", str(settings.profiles_session_gap_s),
            "--recent-items", str(settings.profiles_recent_items),
            "--affinity-half-life-s", str(settings.profiles_affinity_half_life_s)]


def add_profile_rules(p: argparse.ArgumentParser) -> None:
    for name in ("--session-gap-s", "--recent-items", "--affinity-half-life-s"):
        p.add_argument(name, type=int, required=True)


def checkpoint_options(args) -> dict[str, str]:
    """Flink's checkpointing options of a job: every interval, kept on cancel (so that a job
    can be restarted from its last one), and unaligned once the barriers have waited the
    aligned-checkpoint timeout behind queued records (none given: always aligned).

    >>> opts = checkpoint_options(argparse.Namespace(checkpoint_interval_s=10,
    ...                                              aligned_checkpoint_timeout_s=5))
    >>> opts["execution.checkpointing.unaligned.enabled"]
    'true'
    >>> opts["execution.checkpointing.aligned-checkpoint-timeout"]
    '5 s'
    >>> "execution.checkpointing.unaligned.enabled" in checkpoint_options(argparse.Namespace(
    ...     checkpoint_interval_s=10, aligned_checkpoint_timeout_s=-1))
    False
    """
    options = {"execution.checkpointing.interval": f"{args.checkpoint_interval_s} s",
               "execution.checkpointing.externalized-checkpoint-retention":
                   "RETAIN_ON_CANCELLATION"}
    if args.aligned_checkpoint_timeout_s >= 0:
        options["execution.checkpointing.unaligned.enabled"] = "true"
        options["execution.checkpointing.aligned-checkpoint-timeout"] = \
            f"{args.aligned_checkpoint_timeout_s} s"
    return options


def environment(args):
    """The job's execution environment: connector jars, :func:`checkpoint_options`."""
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment

    config = Configuration()
    if args.jars:
        config.set_string("pipeline.jars", args.jars)
    for key, value in checkpoint_options(args).items():
        config.set_string(key, value)
    return StreamExecutionEnvironment.get_execution_environment(config)


def thread_mode(env) -> None:
    """Run the Python functions of the job ``env`` declares inside the TaskManager's JVM
    (PyFlink's thread mode, an embedded CPython through pemja) instead of a Python process
    reached over gRPC: no per-bundle round trips, and state reads and writes are calls instead
    of messages. A function that imports an extension module built with pybind11 (scipy's)
    imports it with :func:`personastream_flink.embedded.call_in_own_thread`.

    The embedded interpreter does not read the virtual environment's ``.pth`` files, so its path
    is given explicitly: the folders of the project's packages and the environment's
    site-packages (the same paths on every worker, as ``-pyexec`` already assumes). One
    interpreter (one GIL) serves every thread-mode job of a TaskManager, and imports a module
    once: two designs of a thread-mode job compared side by side need two TaskManagers.
    """
    import os
    import site

    from pyflink.common import Configuration

    import personastream_contracts
    import personastream_flink
    import personastream_models

    folders = [os.path.dirname(os.path.dirname(m.__file__))
               for m in (personastream_flink, personastream_models, personastream_contracts)]
    config = Configuration()
    config.set_string("python.execution-mode", "thread")
    config.set_string("python.pythonpath", os.pathsep.join([*folders, *site.getsitepackages()]))
    env.configure(config)


def run(build, parse_args, argv: list[str] | None) -> None:
    """A job's ``main``: parse its parameters, declare it with ``build`` on Kafka and
    Cassandra, submit it."""
    import sys

    from personastream_flink.job_io import KafkaCassandra

    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = environment(args)
    build(env, args, KafkaCassandra(args))
    env.execute(args.job_name)
