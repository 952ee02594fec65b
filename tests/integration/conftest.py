"""Integration fixtures: the real servers `personastream stack up` started, and per-test
topics, keyspace, process group, parameter context and Flink job, removed afterwards."""
from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import itertools
import json
import random
import time
import uuid

import nipyapi
import pytest

from personastream_bench.traffic import sample_events
from personastream_contracts import declared_jobs
from personastream_contracts.cassandra import ensure_schema, keyspace, migrate, session
from personastream_contracts.settings import renamed, resolve, with_ingest_ports
from personastream_contracts.topics import cdc_topics, pipeline_topics
from personastream_flows.client import connect
from personastream_flows.definitions import flow_context_name
from personastream_flows.deploy import deploy, undeploy
from personastream_stack import flink_jobs, lifecycle
from personastream_stack.kafka import admin_client, ensure_topics
from personastream_stack.process import free_port


@pytest.fixture(scope="session")
def settings():
    return resolve()


@pytest.fixture(scope="session")
def promoted():
    """``promoted(prefix, n)``: the first ``n`` customer keys ``<prefix>-<i>`` that no published
    promotions experiment holds out (``promotions_on_off`` gives its holdout no offers; the
    variant by the API's and the job's hash), for a test that expects offers."""
    from personastream_models import experiments
    from personastream_models.promotion_offers import PLACEMENT

    banners = [e for e in experiments.load_all() if e.placement == PLACEMENT]

    def keys(prefix: str, n: int) -> list[str]:
        candidates = (f"{prefix}-{i}" for i in itertools.count())
        return list(itertools.islice(
            (k for k in candidates if all(experiments.assign(e, k).promotions for e in banners)),
            n))
    return keys


#: Names of the process groups the tests deploy the ingest flow as (``ingest_test_<uid>``).
TEST_GROUP_PREFIX = "ingest_test_"


def isolated_names(uid: str) -> tuple[str, str]:
    """A test's process group and environment (its topics' and parameter context's suffix)."""
    return f"{TEST_GROUP_PREFIX}{uid}", f"test_{uid}"


#: Rows of the fault suite's table (test_faults), printed at the end of the run.
FAULT_ROWS: list[tuple[str, float, int, int, int]] = []


@pytest.fixture
def fault_table():
    """Where a fault test adds (fault, recovery seconds, acknowledged, landed, duplicates)."""
    return FAULT_ROWS


#: Screenshots the browser tests saved, (what, path), named at the end of the run.
SCREENSHOTS: list[tuple[str, str]] = []


@pytest.fixture
def screenshots():
    """Where a browser test adds (what, path) of a screenshot it saved."""
    return SCREENSHOTS


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS:
        terminalreporter.section("screenshots")
        for what, path in SCREENSHOTS:
            terminalreporter.write_line(f"{what}: {path}")
    if FAULT_ROWS:
        terminalreporter.section("fault suite (no command run to recover)")
        terminalreporter.write_line(f"{'fault':<62} {'recovery s':>10} {'acknowledged':>12} "
                                    f"{'landed':>8} {'duplicates':>10}")
        for fault, seconds, acknowledged, landed, duplicates in FAULT_ROWS:
            terminalreporter.write_line(f"{fault:<62} {seconds:>10.1f} {acknowledged:>12,} "
                                        f"{landed:>8,} {duplicates:>10,}")


@pytest.fixture(scope="session")
def healthy_stack(settings):
    """Fail (never skip) when a server is missing: `make test` starts them all."""
    report = lifecycle.status(settings)
    broken = {h.component: h.detail for h in report if not h.healthy}
    assert not broken, f"servers not healthy, run `personastream stack up` first: {broken}"
    _cancel_leftover_instances(settings)
    _remove_leftover_groups(settings)
    return report


def _cancel_leftover_instances(settings) -> None:
    """Cancel and withdraw the jobs a test or benchmark run declared under an instance name
    (``<job>_<instance>``) and never withdrew because it was interrupted: the reconciler would
    otherwise resubmit each for ever onto topics that are gone, and /v1/health names it."""
    path = declared_jobs.path_for(settings)
    for name, declared in declared_jobs.read(path).items():
        if declared.instance is not None:
            print(f"cancelling {name}, left declared by an interrupted run")
            flink_jobs.cancel(settings, name)


def _remove_leftover_groups(settings) -> None:
    """Delete the test ingest groups (``ingest_test_<uid>``) and their parameter contexts that a
    run could not delete: one left on the canvas kept every later test's controller services
    from enabling ("Timed Out waiting for _all_controllers_in_state")."""
    connect(settings)
    root = nipyapi.canvas.get_root_pg_id()
    for group in nipyapi.nifi.ProcessGroupsApi().get_process_groups(root).process_groups:
        name = group.component.name
        if name.startswith(TEST_GROUP_PREFIX):
            print(f"deleting process group {name}, left by an earlier run")
            undeploy(settings, "ingest", *isolated_names(name.removeprefix(TEST_GROUP_PREFIX)))


@dataclasses.dataclass
class Isolated:
    """Settings pointing at this test's own topics, keyspace and ingest port, and the names of
    its own process group and environment (parameter context)."""

    uid: str
    settings: object
    group_name: str
    env: str

    @property
    def context_name(self) -> str:
        return flow_context_name("ingest", self.env)

    def deploy_ingest(self):
        return deploy(self.settings, "ingest", env=self.env, group_name=self.group_name)


@pytest.fixture
def isolated(settings, healthy_stack):
    uid = uuid.uuid4().hex[:8]
    group_name, env = isolated_names(uid)
    s = with_ingest_ports(renamed(settings, env), free_port(), free_port())
    ensure_topics(s, pipeline_topics(s) + cdc_topics(s))  # the API follows customer changes
    ensure_schema(s)
    migrate(s)
    iso = Isolated(uid, s, group_name, env)
    yield iso
    _cleanup(iso)


def _cleanup(iso: Isolated) -> None:
    s = iso.settings
    for job in flink_jobs.list_jobs(s):
        if job.name.endswith(iso.uid) and job.state in flink_jobs.ACTIVE_STATES:
            flink_jobs.cancel(s, job.job_id)
    path = declared_jobs.path_for(s)  # a job that failed is declared but not active
    declared_jobs.withdraw(path, [n for n in declared_jobs.read(path) if n.endswith(iso.uid)])
    undeploy(s, "ingest", iso.group_name, iso.env)
    admin = admin_client(s)
    existing = admin.list_topics(timeout=30).topics  # a test may have removed its CDC topics
    for future in admin.delete_topics([t for t in pipeline_topics(s) + cdc_topics(s)
                                       if t in existing], operation_timeout=30).values():
        future.result()
    with session(s) as cql:
        cql.execute(f"DROP KEYSPACE IF EXISTS {keyspace(s)}", timeout=60)


class EnrichedProducer:
    """Publishes events to a test's enriched topic the way NiFi would (the real Ingestor), with
    the receipt time under the test's control: a job's event time is then the test's to set."""

    def __init__(self, settings):
        from confluent_kafka import Producer

        from personastream_flows.ingest.event_ingest import SCHEMA_DIR, Ingestor

        self.settings = settings
        self.ingestor = Ingestor(SCHEMA_DIR, geoip_database=None, max_body_bytes=10_000_000)
        self.producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})

    def produce(self, script, partition: int | None = None) -> None:
        """Publish each (event, received at epoch ms) in order, one at a time."""
        import json

        for doc, received_ms in script:
            source = {"ip": None, "user_agent": None, "content_type": None,
                      "received_at_ms": received_ms}
            result = self.ingestor.process(json.dumps(doc).encode(), source)
            assert result.accepted == 1, result.deadletters[:1]
            record = result.enriched[0]
            extra = {} if partition is None else {"partition": partition}
            self.producer.produce(self.settings.topic_events_enriched, value=record.value_bytes(),
                                  key=record.key.encode(), **extra)
            assert self.producer.flush(10) == 0

    def advance_watermark(self, clock_event, received_ms: int) -> None:
        """``clock_event(partition)`` in every partition: the watermark is the minimum over
        partitions, so each must move for the windows before ``received_ms`` to close."""
        for partition in range(self.settings.kafka_partitions):
            self.produce([(clock_event(partition), received_ms)], partition=partition)


@pytest.fixture
def enriched(isolated):
    return EnrichedProducer(isolated.settings)


class TrendTraffic:
    """Item-view traffic for the trends tests: steady items and a spiking one, minute by minute
    of receipt time (client time too), enriched as NiFi does, and the scored windows read back
    from Cassandra. The ``trend_traffic`` fixture hands it to a test."""

    MINUTE_MS = 60_000
    T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: event time is the ingest receipt time
    STEADY_ITEMS = ("item-steady-1", "item-steady-2", "item-steady-3")
    SPIKED = "item-spiking"
    ITEMS = (*STEADY_ITEMS, SPIKED)

    @staticmethod
    def enriched_views(item_id: str, n: int, minute: int, ingestor, seed: int) -> list:
        """``n`` product views of ``item_id`` received during ``minute``, enriched as NiFi does."""
        events = sample_events(n_events=n, n_users=50, seed=seed)
        for event in events:
            event.update(event_type="product_view", item_id=item_id, category="shoes")
            for key in ("page_url", "page_title", "quantity", "order_id", "items", "total",
                        "currency", "query", "results_count", "attributes"):
                event.pop(key, None)
            event.setdefault("user_id", None)
        received_ms = TrendTraffic.T0_MS + minute * TrendTraffic.MINUTE_MS + 1_000
        for event in events:
            event["client_ts"] = TrendTraffic._iso(received_ms)
        source = {"ip": None, "user_agent": None, "content_type": None,
                  "received_at_ms": received_ms}
        result = ingestor.process(json.dumps(events).encode(), source)
        assert result.rejected == 0, result.deadletters[:1]
        return result.enriched

    @staticmethod
    def produce(settings, records) -> None:
        """Publish ``records`` (keyed by user, so spread over the partitions).

        A burst spanning more event time than the watermark's delay goes out before the job
        starts: a running job that reads one partition's part of the burst before another's,
        while that other partition counts as idle (``source_idle_timeout_s``), moves the
        watermark past the other's older events, which are then late. A CI run lost most
        views of one item's first two minutes, most likely that way (seven local runs of a
        burst sent after the submit lost nothing: the window is narrow)."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
        for record in records:
            producer.produce(settings.topic_events_enriched, value=record.value_bytes(),
                             key=record.key.encode())
        assert producer.flush(30) == 0

    @staticmethod
    def traffic(minutes: range, ingestor, expected: dict,
                spike_minute: int | None = None) -> list:
        """Records of steady views of every item, and of a spike; ``expected`` gets counts."""
        rng = random.Random(minutes.start)
        records = []
        for minute in minutes:
            counts = {item: rng.randint(4, 6) for item in TrendTraffic.STEADY_ITEMS}
            counts[TrendTraffic.SPIKED] = 60 if minute == spike_minute else rng.randint(1, 2)
            for n, (item, views) in enumerate(counts.items()):
                records += TrendTraffic.enriched_views(item, views, minute, ingestor,
                                                       minute * 10 + n)
                expected[(item, minute)] = views
        return records

    @staticmethod
    def trend_rows(settings) -> dict:
        with session(settings) as cql:
            rows = cql.execute(f"SELECT * FROM {keyspace(settings)}.item_trends")
            return {(r.item_id, r.window_start): r for r in rows}

    @staticmethod
    def wait_rows(settings, n_windows: int, timeout_s: float = 120) -> dict:
        """The scored windows once there are ``n_windows`` of them, or whatever there is after
        ``timeout_s`` (the caller's comparison then says which are missing)."""
        deadline = time.monotonic() + timeout_s
        while True:
            rows = TrendTraffic.trend_rows(settings)
            if len(rows) >= n_windows or time.monotonic() > deadline:
                return rows
            time.sleep(1)

    @staticmethod
    def _iso(epoch_ms: int) -> str:
        return dt.datetime.fromtimestamp(epoch_ms / 1000, dt.timezone.utc) \
            .isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def trend_traffic():
    return TrendTraffic


def read_deadletters(settings, timeout_s: float = 30) -> list[dict]:
    """The dead letters on the settings' dead-letter topic, from its start, once there are
    some (or none after ``timeout_s``)."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"test-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    consumer.subscribe([settings.topic_events_deadletter])
    out = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not out:
            out += [json.loads(m.value()) for m in consumer.consume(100, timeout=0.5)
                    if m.error() is None]
    finally:
        consumer.close()
    return out


@pytest.fixture
def deadletters():
    return read_deadletters


class ApiServer:
    """The personalization API of a test's settings, served by uvicorn in a thread."""

    def __init__(self, settings, **app_options):
        import threading

        import uvicorn

        from personastream_serving.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(settings, **app_options),
                                                    host="127.0.0.1",
                                                    port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "API did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        gc.unfreeze()  # the app's startup froze what it held, a worker's whole life: not ours


@pytest.fixture
def api_settings(isolated):
    return dataclasses.replace(isolated.settings, api_token=f"token-{isolated.uid}",
                               api_cache_s=0.5)


@pytest.fixture
def api(api_settings):
    server = ApiServer(api_settings)
    yield server
    server.stop()


@pytest.fixture
def api_with(api_settings):
    """Start the API of the test's settings with ``create_app`` options (e.g. an experiment
    assigner); each is stopped after the test."""
    servers = []

    def start(**app_options) -> ApiServer:
        servers.append(ApiServer(api_settings, **app_options))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def browser(tmp_path):
    """Headless Debian Chromium driven by Selenium (chromedriver from Debian too)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(
        executable_path="/usr/bin/chromedriver"))
    yield driver
    driver.quit()
