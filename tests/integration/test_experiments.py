"""An A/A experiment through the real pipeline: simulated shoppers ask the API for
recommendations (it assigns them to one of two identical variants), report impressions, clicks,
add_to_carts and purchases through NiFi; attribute_experiments counts them per variant in
Cassandra; the report finds no significant difference."""
import datetime as dt
import functools
import json
import random
import time
import uuid

import requests
from click.testing import CliRunner

from personastream.commands.experiments import experiments_group, results
from personastream_bench import traffic
from personastream_models import experiments
from personastream_serving.experiment_variants import Assigner
from personastream_stack import flink_jobs
from personastream_stack.process import poll

_wait_until = functools.partial(poll, interval_s=0.1)  # returns what the check did

N_CUSTOMERS = 1000
SEED = 16
#: The simulated response, the same for both variants (an A/A test): per impression a click,
#: per exposed customer an add_to_cart and a purchase after exposure; some carts before it.
P_CLICK, P_CART, P_PURCHASE, P_CART_BEFORE = 0.12, 0.25, 0.08, 0.1
COUNTS = ("exposed_customers", "impressions", "clicks", "clicking_customers", "add_to_carts",
          "carting_customers", "purchases", "converted_customers")


def _event(event_type: str, anonymous_id: str, **fields) -> dict:
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
    return {"event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": "1-0-0",
            "user_id": None, "anonymous_id": anonymous_id,
            "client_ts": now.replace("+00:00", "Z"), **fields}


def _wait_results(settings, name: str, expected: dict, timeout_s: float = 240) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        got = {v: {c: row[c] for c in COUNTS} for v, row in results(settings, name).items()}
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(2)


def test_an_aa_experiment_shows_no_significant_difference(isolated, api_with):
    s = isolated.settings
    aa = experiments.load("aa_ranking")
    isolated.deploy_ingest()
    job = flink_jobs.submit(s, "attribute_experiments", instance=isolated.uid)
    assert job.state == "RUNNING"
    api = api_with(assigner=Assigner([aa], clock_ms=lambda: aa.start_ms + 3_600_000))
    rng = random.Random(SEED)

    before, shown, after = [], [], []
    expected = {v.name: dict.fromkeys(COUNTS, 0) for v in aa.variants}
    for i in range(N_CUSTOMERS):
        anonymous_id = f"aa-{i}"  # the same customers every run (own keyspace and topics)
        key = f"anon:{anonymous_id}"
        if rng.random() < P_CART_BEFORE:  # before exposure: not attributed
            before.append(_event("add_to_cart", anonymous_id, item_id="item-1", quantity=1,
                                 price=10.0))
        e, clicked = None, False
        for _ in range(1 + rng.randrange(3)):
            answer = requests.get(f"{api.url}/v1/recommendations",
                                  params={"anonymous_id": anonymous_id, "k": 5}, timeout=10)
            answer.raise_for_status()
            body = answer.json()
            variant = body["experiment"]["variant"]
            assert variant == experiments.assign(aa, key).name  # sticky, the Python hash
            e = expected[variant]
            items = [item["item_id"] for item in body["items"]]
            shown.append(_event("impression", anonymous_id, placement="recommendations",
                                item_ids=items, experiment=aa.name, variant=variant))
            e["impressions"] += 1
            if rng.random() < P_CLICK:
                position = rng.randrange(len(items))
                shown.append(_event("click", anonymous_id, placement="recommendations",
                                    item_id=items[position], position=position,
                                    experiment=aa.name, variant=variant))
                e["clicks"] += 1
                clicked = True
        e["exposed_customers"] += 1
        e["clicking_customers"] += clicked
        if rng.random() < P_CART:
            after.append(_event("add_to_cart", anonymous_id, item_id="item-2", quantity=1,
                                price=20.0))
            e["add_to_carts"] += 1
            e["carting_customers"] += 1
            if rng.random() < P_PURCHASE / P_CART:
                after.append(_event("purchase", anonymous_id, order_id=f"o-{i}",
                                    items=[{"item_id": "item-2", "quantity": 1, "price": 20.0}],
                                    total=20.0, currency="EUR"))
                e["purchases"] += 1
                e["converted_customers"] += 1

    # three phases, each received after the previous (ingest stamps receipt on arrival)
    started = time.monotonic()
    for phase in (before, shown, after):
        traffic.post_events(s.nifi_ingest_validate_url, phase, batch_size=50)
        time.sleep(1.0)
    n_events = len(before) + len(shown) + len(after)
    got = _wait_results(s, aa.name, expected)
    elapsed = time.monotonic() - started
    assert got == expected  # the job's SQL hash put every customer where the API's Python did

    def cli(*args: str) -> str:
        result = CliRunner().invoke(experiments_group, ["report", aa.name, "--lift", "0.15",
                                                        *args], obj=s, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    report = json.loads(cli("--json"))
    print(f"\nA/A run: {N_CUSTOMERS} simulated customers, {n_events} events through NiFi "
          f"({len(before)} carts before exposure, not attributed), results in "
          f"{elapsed:.1f}s\n$ personastream experiments report {aa.name} --lift 0.15\n{cli()}")
    b = next(v for v in report["variants"] if v["name"] != aa.control)
    for metric, m in b["metrics"].items():
        vs = m["vs_control"]
        assert vs["p_value"] > report["alpha"], (metric, vs)
        assert vs["interval"][0] < 0 < vs["interval"][1], (metric, vs)
    assert not report["metrics"]["conversion"]["enough"]  # 500 a variant is far too few
    assert flink_jobs.cancel(s, job.job_id) == [job.job_id]


def test_the_storefront_reports_impressions_and_clicks_of_its_variant(isolated, api_with,
                                                                       browser):
    """Headless Chromium: the home page shows the recommendations of the shopper's variant,
    reports one impression (not one per refresh) and a click on a card; both are counted
    under that variant."""
    from selenium.webdriver.common.by import By

    s = isolated.settings
    aa = experiments.load("aa_ranking")
    isolated.deploy_ingest()
    flink_jobs.submit(s, "attribute_experiments", instance=isolated.uid)
    api = api_with(assigner=Assigner([aa], clock_ms=lambda: aa.start_ms + 3_600_000))
    browser.get(f"{api.url}/")
    shelf = browser.find_element(By.ID, "recommended")
    _wait_until(lambda: shelf.get_attribute("data-variant"), 30, "an experiment variant")
    anonymous_id = browser.execute_script(
        "return localStorage.getItem('personastream.anonymous_id')")
    variant = experiments.assign(aa, f"anon:{anonymous_id}").name
    assert shelf.get_attribute("data-variant") == variant
    time.sleep(3)  # three refreshes of the same recommendations: still one impression
    shelf.find_elements(By.CSS_SELECTOR, "a.card")[1].click()
    _wait_until(lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-ready"),
               30, "the product page")
    expected = {c: 0 for c in COUNTS}
    expected.update(exposed_customers=1, impressions=1, clicks=1, clicking_customers=1)
    got = _wait_results(s, aa.name, {variant: expected}, timeout_s=90)
    assert got == {variant: expected}
