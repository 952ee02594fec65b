"""Settings resolver: precedence, validation, masking."""
import zipfile

import pytest

from personastream_contracts.errors import SettingsError
from personastream_contracts.settings import MASK, resolve, shown
from personastream_stack import flink
from personastream_stack.flink import Flink

ENV = {"HOME": "/home/t"}


def test_precedence_defaults_profile_env_cli(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text('kafka_partitions = 2\nkafka_heap = "2g"\ncassandra_keyspace = "ks_profile"\n')
    env = {**ENV, "PERSONASTREAM_KAFKA_HEAP": "3g", "PERSONASTREAM_CASSANDRA_KEYSPACE": "ks_env"}
    s = resolve(profile=profile, environ=env, overrides={"cassandra_keyspace": "ks_cli"})
    assert s.kafka_partitions == 2          # profile over default
    assert s.kafka_heap == "3g"             # environment over profile
    assert s.cassandra_keyspace == "ks_cli"  # command line over environment
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"  # default kept


def test_profile_from_environment(tmp_path):
    profile = tmp_path / "remote.toml"
    profile.write_text('flink_rest_url = "http://flink-jm:8081"\n')
    s = resolve(environ={**ENV, "PERSONASTREAM_PROFILE": str(profile)})
    assert s.flink_rest_url == "http://flink-jm:8081"


def test_unknown_key_is_named():
    with pytest.raises(SettingsError, match="kafka_partitons"):
        resolve(environ=ENV, overrides={"kafka_partitons": "3"})


def test_bad_type_names_key_source_and_value():
    with pytest.raises(SettingsError, match=r"kafka_partitions from the environment must be int, got 'many'"):
        resolve(environ={**ENV, "PERSONASTREAM_KAFKA_PARTITIONS": "many"})


def test_missing_profile_says_how_to_fix(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        resolve(profile=tmp_path / "nope.toml", environ=ENV)


def test_tls_paths_follow_state_dir_unless_set():
    s = resolve(environ=ENV, overrides={"state_dir": "/srv/ps"})
    assert str(s.nifi_ca_cert) == "/srv/ps/nifi/tls/ca.pem"
    s = resolve(environ={**ENV, "PERSONASTREAM_NIFI_CLIENT_KEY": "/etc/ps/me.key"})
    assert str(s.nifi_client_key) == "/etc/ps/me.key"


def test_secrets_masked_when_shown():
    s = resolve(environ={**ENV, "PERSONASTREAM_NIFI_CLIENT_KEY": "/secret/place/admin.key"})
    assert shown(s)["nifi_client_key"] == MASK
    assert "/secret/place" not in repr(shown(s))


def test_buffer_debloat_target_reaches_flink_config_and_a_negative_one_is_refused():
    default = resolve(environ=ENV)
    on = Flink(default).config()["taskmanager"]["network"]["memory"]
    off = Flink(resolve(environ=ENV, overrides={"flink_buffer_debloat_target_ms": "0"})).config()
    assert on["buffer-debloat"] == {"enabled": True,
                                    "target": f"{default.flink_buffer_debloat_target_ms} ms"}
    assert off["taskmanager"]["network"]["memory"]["buffer-debloat"] == {"enabled": False}
    with pytest.raises(SettingsError, match="PERSONASTREAM_FLINK_BUFFER_DEBLOAT_TARGET_MS"):
        resolve(environ=ENV, overrides={"flink_buffer_debloat_target_ms": "-1"})


def test_taskmanager_compiler_reaches_its_java_options_and_an_unknown_one_is_refused():
    tiered = Flink(resolve(environ=ENV)).config()["env"]["java"]["opts"]
    c1 = Flink(resolve(environ=ENV, overrides={"flink_taskmanager_compiler": "c1"})).config()
    assert "taskmanager" not in tiered
    assert c1["env"]["java"]["opts"] == {**tiered, "taskmanager": "-XX:TieredStopAtLevel=1"}
    with pytest.raises(SettingsError, match="PERSONASTREAM_FLINK_TASKMANAGER_COMPILER"):
        resolve(environ=ENV, overrides={"flink_taskmanager_compiler": "c2"})


def test_connector_classes_shared_put_the_jars_in_lib_parent_first(tmp_path, monkeypatch):
    jar = tmp_path / "kafka-clients.jar"
    with zipfile.ZipFile(jar, "w") as z:
        z.writestr("org/apache/kafka/clients/consumer/KafkaConsumer.class", b"")
    monkeypatch.setattr(flink, "connector_jars", lambda settings: [jar])
    shared = Flink(resolve(environ=ENV))
    per_job = Flink(resolve(environ=ENV, overrides={"flink_connector_classes": "per-job"}))
    assert shared.config()["classloader"] == {
        "parent-first-patterns": {"additional": ["org.apache.kafka."]}}
    assert shared._shared_jars() == [jar]
    assert "classloader" not in per_job.config() and per_job._shared_jars() == []
    with pytest.raises(SettingsError, match="PERSONASTREAM_FLINK_CONNECTOR_CLASSES"):
        resolve(environ=ENV, overrides={"flink_connector_classes": "child-first"})


@pytest.mark.parametrize("slack_us", [-1, 10_001])
def test_cassandra_timer_slack_out_of_range_is_refused(slack_us):
    with pytest.raises(SettingsError, match="PERSONASTREAM_CASSANDRA_TIMER_SLACK_US"):
        resolve(environ=ENV, overrides={"cassandra_timer_slack_us": slack_us})


def test_aligned_checkpoint_timeout_reaches_the_jobs_checkpoint_options():
    from personastream_flink import job_args

    def options(overrides):
        argv = job_args.arguments(resolve(environ=ENV, overrides=overrides), [], "j")
        return job_args.checkpoint_options(job_args.parser("j", "").parse_args(argv))

    assert options({})["execution.checkpointing.aligned-checkpoint-timeout"] == "5 s"
    assert options({})["execution.checkpointing.unaligned.enabled"] == "true"
    aligned = options({"flink_aligned_checkpoint_timeout_s": "-1"})
    assert not any("aligned" in key for key in aligned)
    assert aligned["execution.checkpointing.interval"] == "10 s"
    with pytest.raises(SettingsError, match="PERSONASTREAM_FLINK_ALIGNED_CHECKPOINT_TIMEOUT_S"):
        resolve(environ=ENV, overrides={"flink_aligned_checkpoint_timeout_s": "-2"})
