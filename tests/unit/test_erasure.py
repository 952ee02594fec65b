"""An erasure request makes each job that keeps state about customers forget the customer: the
customer's next event starts anew (the functions over stand-ins of Flink's keyed state)."""
import json
from types import SimpleNamespace

import pytest

from personastream_contracts.erasures import erased_key, erasure_value
from personastream_flink.live_activity import UpdateLiveProfile
from personastream_flink.profile_updates import UpdateProfile
from personastream_flink.segmentation import BehaviourVector
from personastream_flink.testing import StandInRuntime

CTX = SimpleNamespace(get_current_key=lambda: "u-1")


def view(item: str, ms: int):
    return SimpleNamespace(user_key="u-1", event_type="product_view", item_id=item,
                           category="shoes", brand="acme", event_ms=ms, items_json=None)


def minute(ms: int, views: int):
    return SimpleNamespace(first_ms=ms, last_ms=ms, n_events=views, views=views, carts=0,
                           purchases=0, spend=0.0, item_events="", attribute_updates="")


def opened(function):
    function.open(StandInRuntime())
    return function


def main_rows(outputs) -> list:
    """The main output's rows as namespaces: (tag, row) is a side output; a JSON row's value
    read back."""
    return [SimpleNamespace(**json.loads(o.value)) if "value" in o.as_dict() else o
            for o in outputs if not isinstance(o, tuple)]


def test_an_erased_customers_live_profile_starts_again():
    f = opened(UpdateLiveProfile(recent_items=5, half_life_s=86_400))
    main_rows(f.process_element1(view("a", 1_000), CTX))
    before = main_rows(f.process_element1(view("b", 2_000), CTX))[-1]
    assert before.n_events == 2 and before.recent_items == ["b", "a"]
    assert list(f.process_element2(erasure_value("u-1", "api", 3_000).decode(), CTX)) == []
    after = main_rows(f.process_element1(view("c", 4_000), CTX))[-1]
    assert after.n_events == 1 and after.recent_items == ["c"]


def test_an_erased_customers_windowed_profile_starts_again():
    f = opened(UpdateProfile(session_gap_s=1800, recent_items=5, affinity_half_life_s=86_400))
    list(f.process_element1(minute(60_000, 3), CTX))
    assert list(f.process_element1(minute(120_000, 2), CTX))[-1].views_1d == 5
    list(f.process_element2("{}", CTX))
    assert list(f.process_element1(minute(180_000, 1), CTX))[-1].views_1d == 1


def test_an_erased_customers_behaviour_totals_start_again():
    f = opened(BehaviourVector("customer_segments", "2-0-0"))
    list(f.process_element1(minute(60_000, 3), CTX))
    assert f.totals.value()["views"] == 3
    list(f.process_element2("{}", CTX))
    assert f.totals.value() is None
    list(f.process_element1(minute(120_000, 1), CTX))
    assert f.totals.value()["views"] == 1


def test_erasure_requests_name_their_customer_or_are_refused():
    assert erased_key(erasure_value("u-9", "cdc", 0)) == "u-9"
    for bad in ("", "[]", '{"user_key": ""}', '{"user_key": 7}', b"\xff"):
        with pytest.raises(ValueError, match="not an erasure request"):
            erased_key(bad)
    with pytest.raises(ValueError, match="unknown erasure source"):
        erasure_value("u-9", "crm", 0)
