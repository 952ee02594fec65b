"""The ops dashboard (``/ops``, issue 15) in headless Chromium over the real Prometheus: with a
Flink job running, events through NiFi's front door (two of them dead-lettered) and live
profiles written, every panel answers and the key ones draw their series (the screenshot's
path is named at the end of the run); with Prometheus out of reach, each panel says so."""
import datetime as dt
import json
import time
import uuid

import requests
from confluent_kafka import Producer
from selenium.webdriver.common.by import By

from personastream_bench import traffic
from personastream_contracts.topics import deliver, producer_config
from personastream_stack import flink_jobs
from personastream_stack.pipeline_measures import profile_with_freshness
from personastream_stack.prometheus import query

KEY_PANELS = ("throughput", "freshness", "lag", "deadletters")
WAIT_S = 180
WIDTH = 1600


def panels(browser) -> dict[str, dict]:
    """Each panel's state, series drawn, note and text, by id."""
    return {e.get_attribute("id").removeprefix("panel-"): {
        "state": e.get_attribute("data-state"), "series": int(e.get_attribute("data-series") or 0),
        "note": e.find_element(By.CLASS_NAME, "note").text, "text": e.text}
        for e in browser.find_elements(By.CLASS_NAME, "panel")}


def send_traffic(settings) -> None:
    """Events to NiFi's ingest endpoint (150 valid, 2 bad: under the 5 % dead-letter share that
    alerts), and live profiles 0.1 to 0.9 s fresh to the topic the pipeline exporter follows."""
    bad = traffic.bad_bodies()
    for n, body in enumerate([json.dumps(traffic.sample_events(150, 20, seed=15)).encode(),
                              bad["malformed_json"], bad["unknown_event_type"]]):
        resp = requests.post(settings.nifi_ingest_url, data=body, timeout=30,
                             headers={"Content-Type": "text/plain", **traffic.client_headers(n)})
        assert resp.ok, (settings.nifi_ingest_url, resp.status_code, resp.text)
    producer = Producer(producer_config(settings))
    now = dt.datetime.now(dt.timezone.utc)
    for age_s in (0.1, 0.2, 0.3, 0.5, 0.9):
        record = json.dumps(profile_with_freshness("ops-dashboard", now, age_s)).encode()
        assert deliver(producer, settings.topic_live_profiles,
                       f"ops-dashboard-{uuid.uuid4().hex[:6]}", record, 10) is None


def wait_for_prometheus(settings, what: dict[str, str]) -> None:
    """Until each query (by what it shows) has a result in Prometheus."""
    deadline = time.monotonic() + WAIT_S
    while missing := [w for w, promql in what.items() if not query(settings, promql)]:
        assert time.monotonic() < deadline, f"not in Prometheus after {WAIT_S}s: {missing}"
        time.sleep(2)


def test_every_panel_answers_and_the_key_ones_draw(settings, isolated, enriched, api, browser,
                                                    tmp_path, screenshots):
    job = flink_jobs.submit(isolated.settings, "live_activity", instance=isolated.uid).name
    enriched.produce([(e, int(time.time() * 1000))
                      for e in traffic.sample_events(20, 5, seed=16)])
    send_traffic(settings)
    wait_for_prometheus(settings, {
        "the 150 events accepted": "sum(increase(personastream_events_accepted_total[2m])) > 100",
        "the unknown_event_type dead letter": "sum(increase(personastream_events_deadlettered"
                                              '_total{reason="unknown_event_type"}[2m])) > 0',
        "the live profiles": "sum(increase(personastream_freshness_seconds_count[2m])) > 0",
        f"{job}'s lag": f'flink_taskmanager_job_task_operator_pendingRecords{{job_name="{job}"}}'})

    browser.set_window_size(WIDTH, 1200)
    browser.get(f"{api.url}/ops")
    deadline = time.monotonic() + WAIT_S
    while True:
        seen = panels(browser)
        if (seen and all(p["state"] for p in seen.values())
                and all(seen[k]["state"] == "drawn" for k in KEY_PANELS)
                and job in seen["lag"]["text"] and job in seen["jobs"]["text"]
                # a rate needs two scrapes of the job's counter: later than its lag
                and f"Flink in {job}" in seen["throughput"]["text"]
                and "unknown_event_type" in seen["deadletters"]["text"]):
            break
        assert time.monotonic() < deadline, f"after {WAIT_S}s: {json.dumps(seen, indent=1)}"
        time.sleep(1)

    assert not [i for i, p in seen.items() if p["state"] == "error"], seen
    assert all(seen[k]["series"] >= 1 for k in KEY_PANELS), seen
    for line in ("NiFi received", "Kafka in", "events accepted", f"Flink in {job}"):
        assert line in seen["throughput"]["text"], (line, seen["throughput"])
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#panel-jobs tr")
               if job in r.text)
    assert "yes" in row.text and "not running" not in row.text, row.text

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WIDTH, height + 150)  # the whole page: the window's chrome too
    time.sleep(1)
    path = tmp_path / "ops-dashboard.png"
    assert browser.save_screenshot(str(path))
    screenshots.append(("ops dashboard (/ops)", str(path)))
    print(f"ops dashboard screenshot: {path}")


def test_each_panel_names_prometheus_when_it_does_not_answer(api_settings, api, browser):
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs",
                            {"urls": [f"{api_settings.prometheus_url.rstrip('/')}/*"]})
    browser.get(f"{api.url}/ops")
    deadline = time.monotonic() + 30
    while not (seen := panels(browser)) or not all(p["state"] for p in seen.values()):
        assert time.monotonic() < deadline, seen
        time.sleep(0.5)
    for panel in seen.values():
        assert panel["state"] == "error", seen
        assert f"Prometheus at {api_settings.prometheus_url} did not answer" in panel["note"]
