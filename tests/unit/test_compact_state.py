"""The folds' keyed state as JSON arrays (``personastream_flink.compact_state``): what is stored
reads back equal, as JSON bytes; a value pickled before (an object, from an older checkpoint)
is read as it is and stored in the new form at its next update."""
import datetime as dt
import pickle

from personastream_bench.traffic import sample_events
from personastream_contracts.formats import epoch_ms
from personastream_flink.compact_state import LIVE_PROFILE, json_fields_state
from personastream_flink.evaluate_promotions import facts_codec
from personastream_flink.live_activity import ITEM_STATE, fold_item
from personastream_flink.testing import StandInRuntime
from personastream_models.promotion_offers import observe
from personastream_models.recommend import LiveProfile, update_profile

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


def events(n: int) -> list[dict]:
    out = sample_events(n, n_users=3, seed=11, start=T0)
    for e in out:
        e["client_ts_ms"] = epoch_ms(e["client_ts"])
    return out


def stored(codec, obj):
    """``obj`` through a state of ``codec`` and the pickling PyFlink does around it."""
    state = json_fields_state(StandInRuntime(), "s", codec)
    state.update(obj)
    raw = state._state.value()
    assert isinstance(raw, bytes) and raw.startswith(b"[")
    state._state.update(pickle.loads(pickle.dumps(raw)))
    return state.value()


def test_live_profiles_read_back_equal_after_every_event():
    profile = None
    for event in events(300):
        profile = update_profile(profile, event, half_life_s=86_400, max_recent=20)
        assert stored(LIVE_PROFILE, profile) == profile
    assert profile.category_affinity and profile.recent_items and profile.n_events > 50


def test_customer_facts_read_back_equal_with_their_cart_offers_and_segment():
    codec = facts_codec()
    facts = None
    for event in events(200):
        facts = observe(facts, event, session_gap_s=1800, half_life_s=86_400)
        assert stored(codec, facts) == facts
    facts.offered, facts.cart = {"p@1": [facts.last_ms - 5, facts.last_ms]}, {"item-1": 2}
    facts.segment_id, facts.country, facts.device = 3, "DE", "mobile"
    assert facts.profile is not None
    assert stored(codec, facts) == facts


def test_item_states_read_back_equal_with_their_views_a_tuple():
    state = None
    for i, item in enumerate("bcdbcb"):
        state = fold_item(state, {item: 1.0 / (i + 1)}, i % 2 == 0, 1_000 * i, 3600)
        back = stored(ITEM_STATE, state)
        assert back == state and isinstance(back.views, tuple)


def test_a_value_pickled_before_is_read_as_it_is_and_stored_anew():
    runtime = StandInRuntime()
    state = json_fields_state(runtime, "live_profile", LIVE_PROFILE)
    old = LiveProfile(["a"], {"shoes": 1.0}, {}, [], 5, 1)
    runtime.states["live_profile"].update(old)  # as an older checkpoint restores it
    assert state.value() == old
    state.update(old)
    assert runtime.states["live_profile"].value() == b'[["a"],{"shoes":1.0},{},[],5,1]'
    state.clear()
    assert state.value() is None
