"""The storefront's JavaScript tracker (``static/tracker.js``) in headless Chromium, against the
real NiFi ingest flow and Kafka: events go in batches, a page hide hands the queue to sendBeacon,
events wait out an offline period (and a reload) in localStorage, and a failed send is retried
with backoff under the same event_ids; every event reaches the enriched topic, sent once by the
tracker (the flow publishes at least once: a publish it retries after a Kafka error may repeat an
event, with its event_id for consumers to deduplicate).

The tracker runs on the storefront's home page (served by the API, as the storefront loads it),
with its own storage key beside the storefront's tracker; a wrapper around fetch and sendBeacon
logs which of its events each request carried.
"""
import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from confluent_kafka import Consumer
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.support.wait import WebDriverWait

STORAGE_KEY = "test.tracker.queue"
WAIT_S = 60

OPEN = """
const [collector, options] = arguments;
window.requests = [];
const log = (via, url, body) => {
  if (url === collector) requests.push({ via, ids: JSON.parse(body).map((e) => e.event_id) });
};
const send = window.fetch, beacon = navigator.sendBeacon.bind(navigator);
window.fetch = (url, init) => { log("fetch", url, init?.body); return send(url, init); };
navigator.sendBeacon = (url, body) => { log("beacon", url, body); return beacon(url, body); };
window.testTracker = new PersonastreamTracker(collector, options);
"""

TRACK = """
return Array.from({ length: arguments[0] }, (_, n) => testTracker.track({
  event_type: "page_view", user_id: null, anonymous_id: "tracker-test",
  page_url: `${location.href}#${n}` }).event_id);
"""


class TrackerPage:
    """The storefront's home page with a test tracker on it."""

    def __init__(self, browser, api_url: str):
        self.browser = browser
        self.url = f"{api_url}/"
        self.config = requests.get(f"{api_url}/storefront/config.json", timeout=10).json()

    def open(self, collector: str | None = None, **options) -> None:
        self.browser.get(self.url)
        self.start(collector, **options)

    def start(self, collector: str | None = None, **options) -> None:
        """A tracker sending to ``collector`` (default: NiFi's ingest URL) on the loaded page."""
        self.browser.execute_script(OPEN, collector or self.config["ingest_url"], {
            "schemaVersion": self.config["schema_version"], "storageKey": STORAGE_KEY,
            **options})

    def track(self, n: int) -> list[str]:
        return self.browser.execute_script(TRACK, n)

    def flush(self) -> None:
        self.browser.execute_async_script("testTracker.flush().then(arguments[0])")

    def counters(self) -> dict:
        return self.browser.execute_script("return testTracker.counters")

    def wait_counters(self, **expected) -> None:
        try:
            WebDriverWait(self.browser, WAIT_S, poll_frequency=0.05).until(
                lambda _: self.counters().items() >= expected.items())
        except TimeoutException:
            raise AssertionError(f"tracker counters {self.counters()} not {expected} after "
                                 f"{WAIT_S}s") from None

    def requests_of(self, ids: list[str]) -> list[tuple[str, list[str]]]:
        """(fetch | beacon, event_ids) of each request that carried some of ``ids``."""
        return [(r["via"], r["ids"]) for r in self.browser.execute_script("return requests")
                if set(r["ids"]) & set(ids)]

    def stored(self) -> list:
        return json.loads(self.browser.execute_script(
            "return localStorage.getItem(arguments[0])", STORAGE_KEY))


class Landed:
    """How many records of the enriched topic carry each event_id, read as they arrive."""

    def __init__(self, settings):
        self.topic = settings.topic_events_enriched
        self.consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                                  "group.id": f"test-{uuid.uuid4()}",
                                  "auto.offset.reset": "earliest"})
        self.consumer.subscribe([self.topic])
        self.seen = Counter()

    def wait_for(self, ids: list[str]) -> None:
        """Wait until each of ``ids`` has a record; fails naming how many never came."""
        deadline = time.monotonic() + WAIT_S
        while missing := [i for i in ids if not self.seen[i]]:
            assert time.monotonic() < deadline, \
                f"{len(missing)} of {len(ids)} events not in {self.topic} after {WAIT_S}s"
            for message in self.consumer.consume(1000, timeout=0.5):
                if message.error() is None:
                    self.seen[json.loads(message.value())["event_id"]] += 1


@pytest.fixture
def page(isolated, api, browser):
    isolated.deploy_ingest()
    return TrackerPage(browser, api.url)


@pytest.fixture
def landed(isolated):
    reader = Landed(isolated.settings)
    yield reader
    reader.consumer.close()


def test_events_are_sent_in_batches(page, landed):
    page.open(maxBatchSize=10, flushIntervalMs=200)
    ids = page.track(25)
    page.wait_counters(sent=25)  # sent: NiFi answered 2xx (its answers allow this origin)
    sent = page.requests_of(ids)
    # two full batches sent at once, the rest by the timer; in order, each event once
    assert [(via, len(batch)) for via, batch in sent] == [("fetch", 10), ("fetch", 10),
                                                           ("fetch", 5)]
    assert [i for _, batch in sent for i in batch] == ids
    landed.wait_for(ids)
    assert page.counters() == {"sent": 25, "retried": 0, "dropped": 0, "queued": 0}


def test_a_hidden_page_sends_its_queue_with_send_beacon(page, landed):
    page.open(maxBatchSize=25, flushIntervalMs=600_000)  # only a hide sends
    ids = page.track(12)
    assert page.requests_of(ids) == [] and page.counters()["queued"] == 12
    storefront = page.browser.current_window_handle
    page.browser.switch_to.new_window("tab")  # visibilitychange: the storefront tab is hidden
    landed.wait_for(ids)
    page.browser.switch_to.window(storefront)
    assert page.requests_of(ids) == [("beacon", ids)]
    assert page.counters() == {"sent": 12, "retried": 0, "dropped": 0, "queued": 0}
    # a page left for another (pagehide); the next page has no tracker of this storage key, so
    # only the beacon can have sent these
    more = page.track(3)
    page.browser.get(page.url)
    landed.wait_for(more)
    assert page.stored() == []


def test_offline_events_wait_in_local_storage_until_back_online(page, landed):
    options = {"maxBatchSize": 10, "flushIntervalMs": 200}
    page.open(**options)
    browser = page.browser
    browser.set_network_conditions(offline=True, latency=0, download_throughput=-1,
                                   upload_throughput=-1)
    assert browser.execute_script("return navigator.onLine") is False
    ids = page.track(6)
    page.flush()
    assert page.requests_of(ids) == [] and page.counters()["queued"] == 6
    browser.get(page.url)  # a reload while offline: no page; the queue stays in localStorage
    browser.delete_network_conditions()
    browser.get(page.url)
    assert [e["event_id"] for e in page.stored()] == ids
    page.start(**options)  # the next page's tracker sends what the last one left
    landed.wait_for(ids)
    assert page.requests_of(ids) == [("fetch", ids)]
    # offline again on a live page: queued; the browser's "online" event sends them
    browser.set_network_conditions(offline=True, latency=0, download_throughput=-1,
                                   upload_throughput=-1)
    later = page.track(4)
    page.flush()
    assert page.requests_of(later) == [] and page.counters()["queued"] == 4
    browser.delete_network_conditions()
    landed.wait_for(later)
    assert page.requests_of(later) == [("fetch", later)]
    assert page.counters() == {"sent": 10, "retried": 0, "dropped": 0, "queued": 0}


class FlakyCollector:
    """A collector in front of NiFi's ingest URL that answers the statuses in ``answers`` first
    (one per request), then forwards each request to NiFi and relays its answer; it allows any
    origin to read its answers (CORS) and logs (arrival time, status, event_ids) of every
    request."""

    def __init__(self, ingest_url: str):
        self.answers: list[int] = []
        self.log: list[tuple[float, int, list[str]]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if collector.answers:
                    status, answer = collector.answers.pop(0), b"{}"
                else:
                    relayed = requests.post(ingest_url, data=body, timeout=30,
                                            headers={"Content-Type": "text/plain"})
                    status, answer = relayed.status_code, relayed.content
                collector.log.append((arrived, status,
                                      [e["event_id"] for e in json.loads(body)]))
                self.send_response(status)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                """Quiet: the test reads ``collector.log``."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def flaky_collector(isolated):
    collector = FlakyCollector(isolated.settings.nifi_ingest_url)
    yield collector
    collector.server.shutdown()
    collector.server.server_close()


def test_failed_sends_are_retried_with_backoff_under_the_same_event_ids(page, landed,
                                                                      flaky_collector):
    base_ms = 200
    flaky_collector.answers = [503, 503, 503]
    page.open(flaky_collector.url, maxBatchSize=10, flushIntervalMs=200, retryBaseMs=base_ms,
              retryCapMs=10 * base_ms)
    ids = page.track(15)
    page.wait_counters(sent=15)
    log = flaky_collector.log
    assert [(status, batch) for _, status, batch in log] == [
        (503, ids[:10]), (503, ids[:10]), (503, ids[:10]), (204, ids[:10]), (204, ids[10:])]
    arrived = [t for t, _, _ in log]
    for failures in (1, 2, 3):  # the retry after n failures waits 0.5-1 x base x 2^(n - 1)
        assert arrived[failures] - arrived[failures - 1] >= base_ms / 1000 * 2 ** (failures - 2)
    assert page.counters() == {"sent": 15, "retried": 30, "dropped": 0, "queued": 0}
    landed.wait_for(ids)  # each, though the 503s never reached NiFi
    # an answer no retry can change (400, 413) drops the batch, counted
    flaky_collector.answers = [400]
    rejected = page.track(3)
    page.wait_counters(dropped=3)
    assert [(status, batch) for _, status, batch in log[5:]] == [(400, rejected)]
    assert page.counters() == {"sent": 15, "retried": 30, "dropped": 3, "queued": 0}
