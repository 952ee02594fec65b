"""An A/B test of the recommendations ranking run by simulated shoppers through the real
pipeline (``personastream experiments simulate``), with a known response model
(:mod:`personastream_bench.shopper_response`).

Each shopper is a closed loop, as a browser on the storefront is: it lands on the product page
of an item it likes (a ``product_view``), then for each of ``n_pages`` pages asks the API for
its recommendations (``/v1/recommendations?anonymous_id=..&k=8``, the storefront's request: the
API assigns the variant), reports an ``impression`` of the shelf, thinks, maybe clicks one item
(a ``click`` and the item's ``product_view``, maybe an ``add_to_cart``), thinks on the product
page, and at the end buys its cart or not. Every event goes to NiFi's collector
(``nifi_ingest_url``) in the tracker's format (a JSON array per flush, the tracker's fields),
so a click's product view reaches ``live_activity`` and the live profile the next page is
ranked with. Many shoppers run at once, each with its own seeded ``random.Random``.

Every impression, click, cart and purchase is tallied per the variant the API answered under;
after the run the experiment's ``experiment_results`` must have grown by exactly that
(conservation), and the report is built from that growth (this run only).

>>> tally = Tally()
>>> tally.add("live", impressions=2, clicks=1)
>>> tally.add("live", impressions=1)
>>> tally.as_dict()["live"]["impressions"], tally.as_dict()["live"]["carting_customers"]
(3, 0)
>>> growth({"live": {"clicks": 5, "revenue": 1.0}}, {"live": {"clicks": 2}})["live"]["clicks"]
3
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

import requests

from personastream_bench.shopper_response import ResponseModel
from personastream_bench.traffic import TrafficError, accepted, client_headers
from personastream_models.experiment_stats import compare, relative_lift_interval
from personastream_models.experiments import Experiment

__all__ = ["CASE_STUDY", "COUNTS", "Plan", "SimulationError", "Tally", "api_serving",
           "growth", "lifts", "render_lifts", "run_shoppers", "wait_counted"]

#: What the attribution job counts per variant (``experiment_results`` columns).
COUNTS = ("exposed_customers", "impressions", "clicks", "clicking_customers", "add_to_carts",
          "carting_customers", "purchases", "converted_customers")
#: Also tallied, not counted by the job: pages whose ranking had a profile (API provenance).
DIAGNOSTICS = ("profiled_pages",)
#: The source article's case study: relative lifts it reports for personalization.
CASE_STUDY = {"ctr": 0.15, "conversion": 0.10}
#: The storefront's shelf (``k`` of its recommendations request) and the tracker's version.
SHELF_SIZE = 8
SCHEMA_VERSION = "1-0-0"
#: How long the simulation's API keeps an idle connection (longer than a shopper thinks).
KEEP_ALIVE_S = 60


class SimulationError(TrafficError):
    """The simulation could not run, or the pipeline did not count what it sent."""


@dataclass(frozen=True)
class Plan:
    """A run: ``n_shoppers`` (``concurrency`` at once) of ``n_pages`` pages each, thinking
    ``think_s`` (uniform between the two) after each page and product page."""

    n_shoppers: int
    n_pages: int
    seed: int
    run_id: str
    concurrency: int = 48
    think_s: tuple[float, float] = (1.0, 2.0)
    model: ResponseModel = field(default_factory=ResponseModel)

    def anonymous_id(self, shopper: int) -> str:
        return f"sim-{self.run_id}-{shopper}"


class Tally:
    """Per variant, what the shoppers did (thread-safe)."""

    def __init__(self):
        self.categories: tuple[str, ...] = ()  # of the catalogue the shoppers browsed
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}

    def add(self, variant: str, **counts: int) -> None:
        with self._lock:
            row = self._counts.setdefault(variant, dict.fromkeys((*COUNTS, *DIAGNOSTICS), 0))
            for name, n in counts.items():
                row[name] += n

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {v: dict(row) for v, row in self._counts.items()}


def growth(after: Mapping[str, Mapping], before: Mapping[str, Mapping]) -> dict:
    """Per variant, how much each count of :data:`COUNTS` grew (for distinct-customer counts
    exact when the run's customers are new) and the revenue."""
    return {v: {**{c: int(row.get(c) or 0) - int(before.get(v, {}).get(c) or 0)
                   for c in COUNTS},
                "revenue": float(row.get("revenue") or 0) - float(
                    before.get(v, {}).get("revenue") or 0)}
            for v, row in after.items()}


@contextlib.contextmanager
def api_serving(settings, experiment: Experiment, timeout_s: float = 60) -> Iterator[str]:
    """The real API of ``settings`` (``create_app``) served by uvicorn in a thread on a free
    port, assigning customers to ``experiment`` only (the explicit way to serve a simulation
    experiment, which the published API never does); yields its URL."""
    import uvicorn

    from personastream_serving.app import create_app
    from personastream_serving.experiment_variants import Assigner
    from personastream_stack.process import free_port

    port = free_port(settings.api_host)
    server = uvicorn.Server(uvicorn.Config(
        create_app(settings, assigner=Assigner([experiment])), host=settings.api_host,
        port=port, log_level="warning", timeout_keep_alive=KEEP_ALIVE_S))
    thread = threading.Thread(target=server.run, name="simulation-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SimulationError(f"the API did not start on {settings.api_host}:{port} within "
                                  f"{timeout_s:.0f}s; is Cassandra up (`personastream stack "
                                  "status`)?")
        time.sleep(0.1)
    try:
        yield f"http://{settings.api_host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def _event(event_type: str, anonymous_id: str, **fields) -> dict:
    """An event as the storefront's tracker queues it."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
    return {"event_type": event_type, "user_id": None, "anonymous_id": anonymous_id, **fields,
            "event_id": str(uuid.uuid4()), "client_ts": now.replace("+00:00", "Z"),
            "schema_version": SCHEMA_VERSION}


def _product_fields(item: Mapping) -> dict:
    return {k: item[k] for k in ("item_id", "category", "brand", "price")}


class _Browser:
    """One thread's HTTP connections, to the API and to the collector."""

    def __init__(self, api_url: str, ingest_url: str):
        self.http, self.api_url, self.ingest_url = requests.Session(), api_url, ingest_url

    def recommendations(self, anonymous_id: str) -> dict:
        url, params = f"{self.api_url}/v1/recommendations", {"anonymous_id": anonymous_id,
                                                             "k": SHELF_SIZE}
        try:
            answer = self.http.get(url, params=params, timeout=30)
        except requests.ConnectionError:  # a kept-alive connection closed meanwhile: once more
            try:
                answer = self.http.get(url, params=params, timeout=30)
            except requests.ConnectionError as error:
                raise SimulationError(f"the API at {self.api_url} refused the connection: "
                                      f"{error}") from error
        if answer.status_code != 200:
            raise SimulationError(f"the API at {self.api_url} answered {answer.status_code} "
                                  f"to /v1/recommendations: {answer.text[:200]}")
        return answer.json()

    def send(self, events: list[dict], shopper: int) -> None:
        try:
            answer = self.http.post(self.ingest_url, data=json.dumps(events), timeout=30,
                                    headers={"Content-Type": "application/json",
                                             **client_headers(shopper)})
        except requests.ConnectionError as error:
            raise SimulationError(f"NiFi's collector {self.ingest_url} refused the connection;"
                                  " is the ingest flow running? (`personastream flows status`)"
                                  ) from error
        if not accepted(answer.status_code):
            raise SimulationError(f"NiFi answered {answer.status_code} to {len(events)} "
                                  f"simulated events at {self.ingest_url}: {answer.text[:200]}")


def run_shoppers(plan: Plan, experiment: Experiment, api_url: str, ingest_url: str,
                 progress: Callable[[str], None] = lambda line: None) -> Tally:
    """Run the plan's shoppers against the API at ``api_url`` (which must answer under
    ``experiment``) and NiFi's collector at ``ingest_url``; what they did, per variant."""
    catalogue = requests.get(f"{api_url}/v1/catalogue", timeout=30).json()["items"]
    categories = sorted({item["category"] for item in catalogue})
    tally, local, done = Tally(), threading.local(), [0]
    tally.categories = tuple(categories)
    started = last = time.monotonic()
    model = plan.model

    def shopper(index: int) -> None:
        nonlocal last
        browser = getattr(local, "browser", None) or _Browser(api_url, ingest_url)
        local.browser = browser
        rng = random.Random(f"{plan.seed}:{index}")
        taste = model.draw_taste(rng, categories)
        anonymous_id = plan.anonymous_id(index)

        def think() -> None:
            time.sleep(rng.uniform(*plan.think_s))

        landing = rng.choice([i for i in catalogue if taste.likes(i["category"])])
        browser.send([_event("product_view", anonymous_id, **_product_fields(landing))], index)
        think()
        cart, variant, clicked = [], None, False
        for _ in range(plan.n_pages):
            answer = browser.recommendations(anonymous_id)
            exp = answer.get("experiment") or {}
            if exp.get("name") != experiment.name:
                raise SimulationError(f"the API answered under experiment {exp or None}, not "
                                      f"{experiment.key}: run it with that experiment")
            variant, shelf = exp["variant"], answer["items"]
            tagged = {"placement": "recommendations", "promotion": None,
                      "experiment": experiment.name, "variant": variant,
                      "page_url": "https://shop.example/"}
            browser.send([_event("impression", anonymous_id,
                                 item_ids=[i["item_id"] for i in shelf], **tagged)], index)
            tally.add(variant, impressions=1,
                      profiled_pages=int(answer["provenance"]["profile"] != "none"))
            think()
            position = model.choose_click(taste, [i["category"] for i in shelf], rng)
            if position is None:
                continue
            item = shelf[position]
            events = [_event("click", anonymous_id, item_id=item["item_id"], position=position,
                             **tagged),
                      _event("product_view", anonymous_id, **_product_fields(item))]
            carted = model.carts(taste, item["category"], rng)
            if carted:
                events.append(_event("add_to_cart", anonymous_id, quantity=1,
                                     **_product_fields(item)))
                cart.append(item)
            browser.send(events, index)
            tally.add(variant, clicks=1, add_to_carts=int(carted))
            clicked = True
            think()
        bought = bool(cart) and model.purchases(rng)
        if bought:
            lines = [{"item_id": i["item_id"], "quantity": 1, "price": i["price"]} for i in cart]
            browser.send([_event("purchase", anonymous_id, order_id=f"order-{anonymous_id}",
                                 items=lines, currency="EUR",
                                 total=round(sum(i["price"] for i in cart), 2))], index)
        tally.add(variant, exposed_customers=1, clicking_customers=int(clicked),
                  carting_customers=int(bool(cart)), purchases=int(bought),
                  converted_customers=int(bought))
        done[0] += 1
        if time.monotonic() - last > 10:
            last = time.monotonic()
            progress(f"[simulate] {done[0]}/{plan.n_shoppers} shoppers done in "
                     f"{last - started:.0f}s")

    with ThreadPoolExecutor(plan.concurrency) as pool:
        list(pool.map(shopper, range(plan.n_shoppers)))
    return tally


def wait_counted(read_totals: Callable[[], Mapping[str, Mapping]], before: Mapping,
                 expected: Mapping[str, Mapping[str, int]], timeout_s: float = 180) -> dict:
    """Poll the experiment's totals until they have grown by ``expected`` (per variant, every
    count of :data:`COUNTS`); return that growth. Raises :class:`SimulationError` naming what
    differs after ``timeout_s``."""
    expected = {v: {c: row[c] for c in COUNTS} for v, row in expected.items()}
    deadline = time.monotonic() + timeout_s
    while True:
        grown = growth(read_totals(), before)
        got = {v: {c: grown.get(v, {}).get(c, 0) for c in COUNTS} for v in expected}
        others = {v for v in grown if v not in expected and any(grown[v][c] for c in COUNTS)}
        if got == expected and not others:
            return grown
        if time.monotonic() > deadline:
            off = {v: {c: (expected[v][c], got[v][c]) for c in COUNTS
                       if expected[v][c] != got[v][c]} for v in expected}
            raise SimulationError(
                f"after {timeout_s:.0f}s experiment_results has not grown by what the shoppers "
                f"did: (sent, counted) {({v: d for v, d in off.items() if d})}; is "
                "attribute_experiments running with this experiment (resubmit it after "
                "publishing one) and is NiFi's ingest flow running?")
        time.sleep(2)


# --- lift against the case study --------------------------------------------------------------

def lifts(report: dict, treatment: str, baselines: tuple[str, ...],
          metrics: tuple[str, ...] = tuple(CASE_STUDY)) -> list[dict]:
    """Relative lift of variant ``treatment`` over each of ``baselines`` in each metric of an
    experiment report (:func:`personastream_models.experiment_report.build`): point, Katz
    interval at the report's confidence, pooled z-test p-value, and the case study's figure.

    >>> from personastream_models.experiment_report import build
    >>> from personastream_models.experiments import load
    >>> totals = {"popularity": {"exposed_customers": 500, "impressions": 2500, "clicks": 250,
    ...                          "converted_customers": 20},
    ...           "daily_batch": {"exposed_customers": 500, "impressions": 2500, "clicks": 260,
    ...                           "converted_customers": 21},
    ...           "live": {"exposed_customers": 500, "impressions": 2500, "clicks": 330,
    ...                    "converted_customers": 30}}
    >>> report = build(load("sim_ranking_live_vs_batch"), totals, lift=0.15)
    >>> ctr = lifts(report, "live", ("popularity",))[0]
    >>> round(ctr["lift"], 3), [round(x, 3) for x in ctr["interval"]], ctr["case_study"]
    (0.32, [0.131, 0.541], 0.15)
    """
    confidence = 1 - report["alpha"]
    by_name = {v["name"]: v["metrics"] for v in report["variants"]}
    out = []
    for metric in metrics:
        t = by_name[treatment][metric]
        for baseline in baselines:
            b = by_name[baseline][metric]
            row = {"metric": metric, "treatment": treatment, "baseline": baseline,
                   "rates": (t["rate"], b["rate"]), "lift": None, "interval": None,
                   "p_value": None, "case_study": CASE_STUDY.get(metric)}
            if t["successes"] and b["successes"]:
                c = compare(b["successes"], b["trials"], t["successes"], t["trials"],
                            confidence)
                row.update(lift=c.relative_lift, p_value=c.p_value,
                           interval=relative_lift_interval(b["successes"], b["trials"],
                                                           t["successes"], t["trials"],
                                                           confidence))
            out.append(row)
    return out


def render_lifts(rows: list[dict], confidence: float) -> str:
    """The lifts as a table beside the case study's figures."""
    conf = round(100 * confidence)
    lines = [f"lift (relative; {conf} % interval Katz log, p pooled z-test) beside the case "
             "study's",
             f"  {'metric':<11} {'variant vs baseline':<26} {'rates':>17} {'lift':>8} "
             f"{f'{conf} % CI':>18} {'p':>7} {'case study':>11}"]
    for r in rows:
        rates = " / ".join("-" if x is None else f"{100 * x:.2f}%" for x in r["rates"])
        lift = "-" if r["lift"] is None else f"{100 * r['lift']:+.1f} %"
        ci = "-" if r["interval"] is None else \
            f"[{100 * r['interval'][0]:+.1f}, {100 * r['interval'][1]:+.1f}]"
        p = "-" if r["p_value"] is None else \
            "<1e-6" if r["p_value"] < 1e-6 else f"{r['p_value']:.3g}"
        case = "-" if r["case_study"] is None else f"{100 * r['case_study']:+.0f} %"
        lines.append(f"  {r['metric']:<11} {r['treatment'] + ' vs ' + r['baseline']:<26} "
                     f"{rates:>17} {lift:>8} {ci:>18} {p:>7} {case:>11}")
    return "\n".join(lines)
