"""The promotion banner in headless Chromium: an item spikes, a shopper who likes its category
sees the banner within 2 s of viewing it, and the per-customer cap holds.

Real all the way but for the clock of the spike: the item's view history is published to the
test's enriched topic as NiFi would (``EnrichedProducer``), with receipt times in the past, and
the real ``score_trends`` job flags the spike (the Gaussian stand-in scores from an item's 11th
window). Its window is chosen per run (10 to 60 min) so that the spike's window is the last
closed one and the current window has at least ``FLAG_HELD_S`` left: a flag holds until the
item's next window can have been scored, so with 1-min windows the test would have under a
minute to act, and a real 1-min history would take a quarter of an hour. The rule (a discount
banner, at most ``CAP`` offers per customer) is published and activated with the command line;
``evaluate_promotions`` runs as this test's instance with offers lasting ``OFFER_TTL_S``. The
shopper browses the category in the storefront, views the spiking item, and the banner (polled
every 500 ms) must show within ``VISIBLE_S`` of that product view (its event's client time and
the banner's, both by the browser's clock; printed beside the time from opening the page, which
adds the page's load and its catalogue request). After ``CAP`` offers
the banner stops: the last offer expires and further views bring none. The storefront's
impressions and click of the banner reach the enriched topic through NiFi.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from click.testing import CliRunner
from selenium.webdriver.common.by import By

from personastream.cli import cli
from personastream_bench import traffic
from personastream_contracts.cassandra import keyspace, session
from personastream_contracts.settings import as_environ
from personastream_stack import flink_jobs
from personastream_stack.process import poll

wait_until = functools.partial(poll, interval_s=0.02)  # returns what the check did

pytestmark = pytest.mark.integration

VISIBLE_S = 2.0  # the bound: product view of the spiking item to banner shown
CAP = 2  # the rule's per-customer cap
OFFER_TTL_S = 12  # how long an offer (so its banner) lasts in this test
FLAG_HELD_S = 300  # the flag must hold this long after the history is published
N_HISTORY_WINDOWS = 15  # steady windows before the spike (the stand-in scores from the 11th)
SPIKE_VIEWS = 60
CODE = "SPIKE10"


def rule(name: str) -> dict:
    """A discount banner on a flagged item for shoppers who like its category, ``CAP`` a day."""
    return {"name": name, "version": "1-0-0", "description": "browser test", "priority": 60,
            "start": "2025-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z",
            "conditions": [{"kind": "item_trend"},
                           {"kind": "affinity", "dimension": "category", "min": 0.5}],
            "action": {"kind": "discount", "code": CODE, "percent_off": 10,
                       "text": "Trending now in your favourite category: 10 % off"},
            "budget": {"max_offers": 1000},
            "frequency_caps": {"per_customer": {"max_offers": CAP, "window_s": 86400}}}


def trends_window_s(now_s: float) -> int:
    """The shortest window (whole minutes, 10 to 60) whose current window has ``FLAG_HELD_S``
    left."""
    for window_s in range(600, 3601, 60):
        if window_s - now_s % window_s >= FLAG_HELD_S:
            return window_s
    raise AssertionError(f"no trends window of 10-60 min leaves {FLAG_HELD_S}s at {now_s}")


def product_view(user: str, item: dict, received_ms: int) -> dict:
    client_ts = dt.datetime.fromtimestamp(received_ms / 1000, dt.timezone.utc)
    return {"event_id": str(uuid.uuid4()), "event_type": "product_view", "schema_version": "1-0-0",
            "user_id": user, "anonymous_id": None,
            "client_ts": client_ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "item_id": item["item_id"], "category": item["category"], "brand": item["brand"],
            "price": item["price"]}


def spike_history(enriched, item: dict, clock_item: dict, window_s: int) -> None:
    """Steady views of ``item`` in the windows before the last closed one, ``SPIKE_VIEWS`` in
    it, and a view of ``clock_item`` in every partition now (closing it)."""
    rng = random.Random(16)
    current_ms = int(time.time() // window_s * window_s * 1000)
    script = []
    for back in range(N_HISTORY_WINDOWS + 1, 0, -1):
        n = SPIKE_VIEWS if back == 1 else rng.randint(1, 3)
        start_ms = current_ms - back * window_s * 1000
        script += [(product_view(f"trend-{back}-{i}", item, start_ms + 1000 + i), start_ms + 1000)
                   for i in range(n)]
    enriched.produce(script)
    now_ms = min(int(time.time() * 1000), current_ms + 1000)
    enriched.advance_watermark(lambda p: product_view(f"clock-{p}", clock_item, now_ms), now_ms)


def banner(browser) -> dict:
    """The banner as shown: hidden, offer id, shown at (epoch ms), text, code."""
    return browser.execute_script(
        "const b = document.getElementById('promotion');"
        "return {hidden: b.hidden, offer: b.dataset.offerId || '', shown_ms: +b.dataset.shownAt,"
        " text: b.querySelector('.text').textContent, code: b.querySelector('.code').textContent}")


def open_page(browser, url: str) -> None:
    browser.get(url)
    wait_until(lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-ready"),
               30, f"product page {url}")


class Topic:
    """A topic read from its start."""

    def __init__(self, settings, topic: str):
        from confluent_kafka import Consumer

        self.consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                                  "group.id": f"test-{uuid.uuid4().hex}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([topic])
        self.records: list[dict] = []

    def read(self, timeout_s: float = 0.5) -> list[dict]:
        self.records += [json.loads(m.value()) for m in
                         self.consumer.consume(1000, timeout=timeout_s) if m.error() is None]
        return self.records


def test_spike_shows_banner_within_2s_and_cap_holds(isolated, enriched, api, browser,
                                                    tmp_path, screenshots, promoted):
    # neither is held out of promotions (promotions_on_off): the storefront's shopper is
    # anonymous, its key anon:<anonymous id>
    warm, user_key = promoted("warm-up", 1)[0], promoted(f"anon:web-{uuid.uuid4()}", 1)[0]
    catalogue = requests.get(f"{api.url}/v1/catalogue", timeout=10).json()["items"]
    category = catalogue[0]["category"]
    liked = [i for i in catalogue if i["category"] == category]
    spiking, browsed = liked[0], liked[1:4]
    other = [i for i in catalogue if i["category"] != category]
    window_s = trends_window_s(time.time())
    s = dataclasses.replace(isolated.settings, trends_window_s=window_s, trends_watermark_s=0,
                            offers_ttl_s=OFFER_TTL_S)
    started = time.monotonic()
    marks: dict[str, float] = {}  # setup step -> seconds since the start, printed
    with ThreadPoolExecutor(1) as pool:  # NiFi's flow deploys while Flink starts the jobs
        ingest = pool.submit(isolated.deploy_ingest)
        # the history goes in before the jobs start (see TrendTraffic.produce);
        # evaluate_promotions reads it before any rule is active: its viewers get no offer
        spike_history(enriched, spiking, other[0], window_s)
        flink_jobs.submit(s, "evaluate_promotions", instance=isolated.uid)
        flink_jobs.submit(s, "score_trends", instance=isolated.uid)
        marks["jobs running"] = time.monotonic() - started
        ingest.result()
    marks["ingest flow"] = time.monotonic() - started
    name = f"test_banner_{isolated.uid}"
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(rule(name)))
    for args in (["publish", str(path)], ["activate", name]):
        done = CliRunner().invoke(cli, ["promotions", *args], env=as_environ(s))
        assert done.exit_code == 0, done.output
    marks["rule active"] = time.monotonic() - started
    anomalies = Topic(s, s.topic_trends_anomalies)
    flagged = wait_until(lambda: anomalies.read(), 90, "score_trends to flag the spike",
                         interval_s=0)
    assert [(a["item_id"], a["views"]) for a in flagged] == [(spiking["item_id"], SPIKE_VIEWS)]
    marks["spike flagged"] = time.monotonic() - started
    # the rule and the flag reached the job (broadcast): a shopper posted through NiFi gets one
    with session(s) as cql:
        query = cql.prepare(f"SELECT offer_id, trigger_event_id FROM {keyspace(s)}.offers_by_user "
                            f"WHERE user_key = ?")

        def offers_of(user: str) -> list:
            return list(cql.execute(query, [user]))

        def warm_up() -> bool:
            traffic.post_events(s.nifi_ingest_url, [product_view(warm, spiking,
                                                                 int(time.time() * 1000))])
            deadline = time.monotonic() + 2
            while not offers_of(warm) and time.monotonic() < deadline:
                time.sleep(0.1)
            return bool(offers_of(warm))
        wait_until(warm_up, 60, "an offer for a shopper viewing the flagged item", interval_s=0)
        marks["first offer"] = time.monotonic() - started
        print(f"\nsetup, seconds from the start (trends window {window_s}s): "
              + ", ".join(f"{what} {at:.1f}" for what, at in marks.items()))

        # a new shopper browses the category in the storefront: no banner (no flagged item viewed)
        browser.get(f"{api.url}/")
        shopper = user_key.removeprefix("anon:")
        browser.execute_script("localStorage.clear();"
                               "localStorage.setItem('personastream.anonymous_id', arguments[0])",
                               shopper)
        for item in browsed:
            open_page(browser, f"{api.url}/items/{item['item_id']}")
        time.sleep(1)
        assert banner(browser)["hidden"]

        # ... then views the spiking item, CAP times: a new banner each time
        opened, offers, shown_ms = [], [], {}
        for n in range(CAP):
            navigated = time.time()
            open_page(browser, f"{api.url}/items/{spiking['item_id']}")
            shown = wait_until(lambda: (b := banner(browser))["offer"] not in ("", *offers)
                               and not b["hidden"] and b, 10, f"banner {n + 1}")
            opened.append(shown["shown_ms"] / 1000 - navigated)
            offers.append(shown["offer"])
            shown_ms[shown["offer"]] = shown["shown_ms"]
            assert browser.find_element(By.ID, "promotion").is_displayed()
            assert shown["code"] == CODE and "10 % off" in shown["text"]
            if n == 0:
                path = tmp_path / "promotion_banner.png"
                assert browser.save_screenshot(str(path))
                screenshots.append(("promotion banner (product page)", str(path)))
                browser.find_element(By.ID, "promotion").click()
        # the cap: more views make no offer; once the last offer expires the banner is gone and
        # stays gone
        for _ in range(2):
            open_page(browser, f"{api.url}/items/{spiking['item_id']}")
            time.sleep(1)
            assert banner(browser)["offer"] in ("", *offers), "a banner beyond the cap"
        wait_until(lambda: banner(browser)["hidden"], OFFER_TTL_S + 10, "the last offer to expire",
                   interval_s=0.2)
        open_page(browser, f"{api.url}/items/{spiking['item_id']}")
        deadline = time.monotonic() + 3 * VISIBLE_S
        while time.monotonic() < deadline:
            assert banner(browser)["hidden"], "a banner beyond the cap"
            time.sleep(0.1)
        triggers = {r.offer_id: r.trigger_event_id for r in offers_of(user_key)}
        assert sorted(triggers) == sorted(offers)

    # what the storefront sent through NiFi: an impression per offer, the click on the first,
    # each naming its offer (impression and click 1-1-0)
    events = Topic(s, s.topic_events_enriched)

    def banner_events():  # each event once: the tracker may send one twice (same event_id)
        return list({e["event_id"]: (e["event_type"], e["promotion"], e.get("offer_id"))
                     for e in events.read() if e.get("anonymous_id") == shopper
                     and e.get("placement") == "promotion_banner"}.values())
    wait_until(lambda: len(banner_events()) >= CAP + 1, 30, "the banner's events", interval_s=0)
    assert sorted(banner_events()) == sorted([("click", name, offers[0])]
                                             + [("impression", name, o) for o in offers])
    # the banner within VISIBLE_S of its triggering event (the product view the page tracked;
    # both times by the browser's clock)
    viewed_ms = {e["event_id"]: e["client_ts_ms"] for e in events.records
                 if e["event_type"] == "product_view" and e.get("anonymous_id") == shopper
                 and e["item_id"] == spiking["item_id"]}
    latencies = [(shown_ms[o] - viewed_ms[triggers[o]]) / 1000 for o in offers]
    print(f"product view of the spiking item -> banner shown: "
          f"{', '.join(f'{x:.2f}s' for x in latencies)} (bound {VISIBLE_S}s); "
          f"from opening its page: {', '.join(f'{x:.2f}s' for x in opened)}")
    assert max(latencies) < VISIBLE_S
    anomalies.consumer.close()
    events.consumer.close()
    print(f"test took {time.monotonic() - started:.1f}s")
