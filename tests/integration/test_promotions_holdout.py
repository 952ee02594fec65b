"""The promotions holdout on the real stack (experiment ``promotions_on_off``, running now):
shoppers' views POSTed to NiFi make ``evaluate_promotions`` offer the promoted variant and hold
the holdout back, an exposure on ``experiments.exposures`` for each; a banner's impression and
click (schemas 1-1-0, with the offer id) and every shopper's purchase go through NiFi;
``attribute_experiments`` counts both variants' exposed and converted customers, and the
banner's events under the promoted variant."""
from __future__ import annotations

import datetime as dt
import functools
import json
import time
import uuid

import pytest
from tests.integration.test_promotions import cli, rule, view

from personastream.commands.experiments import results
from personastream_bench import traffic
from personastream_contracts.cassandra import keyspace, session
from personastream_models import experiments
from personastream_stack import flink_jobs
from personastream_stack.kafka import read_to_end
from personastream_stack.process import poll

wait_until = functools.partial(poll, interval_s=0.5)  # returns what the check did

pytestmark = pytest.mark.integration

N_SHOPPERS = 60
COUNTS = ("exposed_customers", "impressions", "clicks", "converted_customers")


def event(event_type: str, user: str, **fields) -> dict:
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
    return {"event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": "1-0-0",
            "user_id": user, "anonymous_id": f"device-{user}",
            "client_ts": now.replace("+00:00", "Z"), **fields}


def test_held_out_shoppers_get_no_offer_but_are_exposed_and_attributed(isolated, tmp_path,
                                                                       promoted):
    holdout = experiments.load("promotions_on_off")
    if not holdout.is_running(int(time.time() * 1000)):
        pytest.skip(f"{holdout.key} does not run now ({holdout.content['start']} to "
                    f"{holdout.content['end']})")
    s = isolated.settings
    isolated.deploy_ingest()
    flink_jobs.submit(s, "evaluate_promotions", instance=isolated.uid)
    flink_jobs.submit(s, "attribute_experiments", instance=isolated.uid)
    name = f"test_holdout_{isolated.uid}"
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(rule(name)))
    cli(s, "promotions", "publish", str(path))
    cli(s, "promotions", "activate", name)
    shoppers = [f"holdout-{i}" for i in range(N_SHOPPERS)]
    variant = {u: experiments.assign(holdout, u).name for u in shoppers}
    held = [u for u in shoppers if variant[u] == "holdout"]
    assert 0 < len(held) < N_SHOPPERS
    warm = promoted("holdout-warm-up", 1)[0]
    with session(s) as cql:
        query = cql.prepare(f"SELECT offer_id FROM {keyspace(s)}.offers_by_user "
                            f"WHERE user_key = ?")

        def offers_of(user: str) -> list[str]:
            return [row.offer_id for row in cql.execute(query, [user])]

        def warmed_up() -> bool:  # the activation reached the job (broadcast state)
            traffic.post_events(s.nifi_ingest_url, [view(warm, "item-1")], batch_size=1)
            time.sleep(1)
            return bool(offers_of(warm))
        wait_until(warmed_up, 90, "an offer after activating the rule")

        # one request: post_events gives each request of a call another client address
        # (traffic.client_headers), and the rule holds in the first one's country only
        traffic.post_events(s.nifi_ingest_url, [view(u, "item-2") for u in shoppers],
                            batch_size=N_SHOPPERS)
        offered = [u for u in shoppers if u not in held]
        wait_until(lambda: all(offers_of(u) for u in offered), 60, "the promoted shoppers' offers")
        time.sleep(3)  # the held-out views were read with the others
        assert [u for u in held if offers_of(u)] == []
        offer = offers_of(offered[0])[0]

    def exposures() -> dict:  # user_key -> its (latest) exposure record
        return {r["user_key"]: r for batch in read_to_end(s, s.topic_experiment_exposures)
                for r in (json.loads(m.value()) for m in batch)}
    exposed = wait_until(lambda: (e := exposures()).keys() == {warm, *shoppers} and e, 30,
                         "an exposure record of every shopper")
    assert sorted(u for u, r in exposed.items() if r["held_out"]) == sorted(held)
    assert exposed[offered[0]]["offer_id"] == offer

    # the banner of the first promoted shopper's offer, shown and clicked (1-1-0); every
    # shopper buys after exposure
    banner = {"schema_version": "1-1-0", "placement": "promotion_banner", "promotion": name,
              "offer_id": offer, "experiment": None, "variant": None}
    events = [event("impression", offered[0], item_ids=["item-2"], **banner),
              event("click", offered[0], item_id="item-2", position=None, **banner)]
    events += [event("purchase", u, order_id=f"o-{u}", total=10.0, currency="EUR",
                     items=[{"item_id": "item-2", "quantity": 1, "price": 10.0}])
               for u in shoppers]
    traffic.post_events(s.nifi_ingest_url, events, batch_size=20)
    expected = {"holdout": {"exposed_customers": len(held), "impressions": 0, "clicks": 0,
                            "converted_customers": len(held)},
                "promotions": {"exposed_customers": len(offered) + 1, "impressions": 1,
                               "clicks": 1, "converted_customers": len(offered)}}

    def counts() -> dict:
        return {v: {c: row[c] for c in COUNTS} for v, row in results(s, holdout.name).items()}
    deadline = time.monotonic() + 120
    while (got := counts()) != expected:
        assert time.monotonic() < deadline, f"attribute_experiments counted {got}, expected " \
                                            f"{expected}"
        time.sleep(2)
