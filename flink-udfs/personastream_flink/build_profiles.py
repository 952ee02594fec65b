"""Job ``build_profiles``: unified customer profiles from the enriched events.

Event time is the client's time (capped by receipt); the watermark trails it by the allowed
lateness. Flink SQL reduces events to one row per user-device and minute; a keyed Python
function folds them into each user's profile (counts over the last hour and day, sessions,
recent items, decaying category and brand affinities, CRM attributes, first and last seen)
and upserts ``profiles``; an erasure request forgets the user's state. Events behind the
watermark are counted and dead-lettered.
Submit with ``personastream jobs submit build_profiles``.
"""
from __future__ import annotations

from pyflink.datastream import StreamExecutionEnvironment

from personastream_flink import job_args, job_io, late_events
from personastream_flink.erasure import keyed_with_erasures
from personastream_flink.profile_updates import OUTPUT, UpdateProfile

JOB_NAME = "build_profiles"


def job_arguments(settings, jars: list, job_name: str = JOB_NAME) -> list[str]:
    return [*job_args.arguments(settings, jars, job_name),
            "--deadletter-topic", settings.topic_events_deadletter,
            "--allowed-lateness-s", str(settings.profiles_allowed_lateness_s),
            "--idle-timeout-s", str(settings.source_idle_timeout_s),
            *job_args.profile_rule_arguments(settings)]


def parse_args(argv: list[str]):
    p = job_args.parser(JOB_NAME, __doc__)
    p.add_argument("--deadletter-topic", required=True)
    p.add_argument("--allowed-lateness-s", type=int, required=True)
    p.add_argument("--idle-timeout-s", type=int, required=True)
    job_args.add_profile_rules(p)
    return p.parse_args(argv)


def build(env: StreamExecutionEnvironment, args, io) -> None:
    """Declare source, per-minute activity, profile updates, late events and sinks on ``env``,
    reading and writing through ``io``."""
    t_env = job_io.table_env(env, io, time_column="client_ts_ms",
                             watermark_s=args.allowed_lateness_s,
                             idle_timeout_s=args.idle_timeout_s)
    activity = job_io.user_activity(t_env)
    # stream: Row(user_id, anonymous_id, first_ms, last_ms, n_events, views, ...,
    # attribute_updates), keyed by user_key
    profiles = (keyed_with_erasures(env, io, activity)
                .process(UpdateProfile(args.session_gap_s, args.recent_items,
                                       args.affinity_half_life_s), output_type=OUTPUT.row_type)
                .name("update_profile"))
    # stream: Row(user_key, profile_version, first_seen, ...), the user's whole profile
    io.write_rows(profiles, OUTPUT, "cassandra_profiles")
    late_events.dead_letter(t_env, args, io, "/client_ts")


def main(argv: list[str] | None = None) -> None:
    job_args.run(build, parse_args, argv)


if __name__ == "__main__":
    main()
