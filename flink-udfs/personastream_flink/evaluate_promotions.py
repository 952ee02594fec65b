"""Job ``evaluate_promotions``: active promotion rules evaluated on every event, offers within a
second.

Enriched events, erasure requests, ``assign_segments``' segments (``customers.segments``) and
the offers this job's ledger refused (``promotions.refusals``) are read as one stream keyed by
the customer (Flink SQL ``sql/promotion_events.sql``; no windows, no watermark). The promotions
control topic (``personastream promotions activate | pause``) and the trends job's flagged
windows (``trends.anomalies``) are broadcast to every task, kept in broadcast state
(checkpointed), so an activation or pause reaches the running job without a restart. Per
customer, keyed state holds :class:`~personastream_models.promotion_offers.CustomerFacts` (live
affinities by the same fold as ``live_activity``, sessions for new vs returning, the open cart,
the latest segment, the offers made per promotion for its frequency cap); an ``add_to_cart``
registers a processing-time timer per abandoned-cart rule's ``after_minutes``, and the timer
evaluates the rules again with the cart idle. The highest-priority rule that fires and is under
the customer's cap becomes a candidate; candidates are keyed by promotion version, whose keyed
ledger grants them within its budget and per-promotion cap (one task holds a promotion's
ledger, so both are exact at any parallelism; offers are rare next to events, so that task is
not a hot spot). A refused candidate is published to ``topic_promotion_refusals`` and read back
by the customer's task, which then stops counting it against the customer's cap: the cap counts
a candidate at once (so it is never exceeded while a grant is on its way) and keeps only the
granted ones. Granted offers are upserted into ``offers_by_user`` and published to
``topic_offers`` (JSON, keyed by ``user_key``), each with a deterministic ``offer_id``
(promotion version, customer, trigger), so a replay from a checkpoint writes the same rows.

Experiments (``placement`` ``promotion_banner``, published when the job was submitted): a
candidate made while one runs (by the trigger's time) carries its exposure
(:func:`~personastream_models.promotion_offers.exposure`: the customer's variant by the API's
sticky hash). A held-out variant's candidate (``promotions`` false) is checked against the
ledger but does not spend it, and no offer is made: the exposure alone is published, to
``topic_experiment_exposures`` (JSON, keyed by ``user_key``), as it is for each offer granted
under the experiment, so ``attribute_experiments`` compares both variants from the moment an
offer was (or would have been) made. Held out, a customer's cap still counts the offers it
would have had, so both variants decide alike. The API never reads that topic. An exposure names
its offer's deterministic id (held out: the id the offer would have had).

Why these sources of facts: affinities are folded here from the events this job reads anyway
(the profile that includes the triggering event, with no second Kafka source nor a race with
``live_activity``'s topic), the trends from their topic of flagged windows (only those are
published; a flag holds until the item's next window can have been scored), the segment from
``assign_segments``' records (the segment it writes to ``profiles``; a customer with none yet
is "unknown" to a ``segment`` condition, which does not hold). Between a refusal and its
return (well under a second) the customer's cap is stricter than it will be: a candidate of
that promotion is then not made, never one too many.

Topology (parallelism from settings)::

    kafka events_enriched + users.erasures + customers.segments + promotions.refusals
      (SQL, one stream) -> keyed by user_key (Java)
      -> connect broadcast(promotions.control + trends.anomalies) -> decide_offers
         (+ timers: abandoned carts)
      -> key_by promotion version -> grant_offers -> cassandra_offers_by_user
                                                  -> kafka_offers (keyed by user_key)
                                 (side output) exposures -> kafka_experiment_exposures
                                 (side output) refusals -> kafka_promotion_refusals

Submit with ``personastream jobs submit evaluate_promotions``.
"""
from __future__ import annotations

import datetime as dt
import json
import logging

from pyflink.common import Row, Types
from pyflink.datastream import (KeyedProcessFunction, OutputTag, RuntimeContext,
                                StreamExecutionEnvironment)
from pyflink.datastream.functions import KeyedBroadcastProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from personastream_contracts.identity import user_key_sql
from personastream_flink import job_args, job_io, sql_template
from personastream_flink.compact_state import LIVE_PROFILE, FieldsCodec, json_fields_state
from personastream_flink.event_table import TIME_COLUMNS
from personastream_flink.keyed import keyed_table
from personastream_flink.live_activity import low_latency
from personastream_flink.rows import Output, utc

log = logging.getLogger(__name__)

JOB_NAME = "evaluate_promotions"
OFFERS = Output("offers_by_user", JOB_NAME)
#: Broadcast state: ``promotion:<name>`` -> control record, ``trend:<item>`` -> flagged window.
SIDE = MapStateDescriptor("promotions_and_trends", Types.STRING(), Types.STRING())
PROMOTION, TREND = "promotion:", "trend:"
#: A candidate offer: the promotion version's ledger limits, the offer (a dict) and its
#: experiment exposure (a dict, or None: no promotions experiment runs).
CANDIDATE_FIELDS = ["promotion_key", "budget", "cap_max", "cap_window_s", "offer", "exposure"]
CANDIDATE_TYPE = Types.ROW_NAMED(CANDIDATE_FIELDS, [
    Types.STRING(), Types.LONG(), Types.LONG(), Types.LONG(), Types.PICKLED_BYTE_ARRAY(),
    Types.PICKLED_BYTE_ARRAY()])
KEYED_RECORD_TYPE = Types.ROW_NAMED(["key", "value"], [Types.STRING(), Types.STRING()])
#: Side output of ``grant_offers``: the exposures, as ``topic_experiment_exposures`` records.
EXPOSURES = OutputTag("experiment_exposures", KEYED_RECORD_TYPE)
#: Side output of ``grant_offers``: the refused candidates, as ``topic_promotion_refusals``
#: records (read back by ``decide_offers``).
REFUSALS = OutputTag("promotion_refusals", KEYED_RECORD_TYPE)


def job_arguments(settings, jars: list, job_name: str = JOB_NAME) -> list[str]:
    return [*job_args.arguments(settings, jars, job_name),
            "--promotions-topic", settings.topic_promotions_control,
            "--anomalies-topic", settings.topic_trends_anomalies,
            "--offers-topic", settings.topic_offers,
            "--exposures-topic", settings.topic_experiment_exposures,
            "--refusals-topic", settings.topic_promotion_refusals,
            "--segments-topic", settings.topic_customer_segments,
            "--offers-ttl-s", str(settings.offers_ttl_s),
            "--window-s", str(settings.trends_window_s),
            *job_args.profile_rule_arguments(settings)]


def parse_args(argv: list[str]):
    p = job_args.parser(JOB_NAME, __doc__)
    p.add_argument("--promotions-topic", required=True, help="promotion states (compacted)")
    p.add_argument("--anomalies-topic", required=True, help="flagged windows of score_trends")
    p.add_argument("--offers-topic", required=True)
    p.add_argument("--exposures-topic", required=True,
                   help="exposures to promotions experiments (attribute_experiments reads them)")
    p.add_argument("--refusals-topic", required=True,
                   help="offers the ledger refused, written and read back by this job")
    p.add_argument("--segments-topic", required=True, help="assign_segments' segments")
    p.add_argument("--offers-ttl-s", type=int, required=True)
    p.add_argument("--window-s", type=int, required=True, help="the trends job's window")
    job_args.add_profile_rules(p)
    return p.parse_args(argv)


# -- plain Python ---------------------------------------------------------------------------

def facts_codec() -> FieldsCodec:
    """:class:`~personastream_models.promotion_offers.CustomerFacts` in keyed state, its live
    profile nested as :data:`~personastream_flink.compact_state.LIVE_PROFILE`'s array."""
    from personastream_models.promotion_offers import CustomerFacts

    return FieldsCodec(CustomerFacts, nested={"profile": LIVE_PROFILE})


def event_of(row) -> dict:
    """The enriched event as the evaluator reads it, from a ``promotion_events`` row."""
    return {"event_id": row.event_id, "event_type": row.event_type, "item_id": row.item_id,
            "category": row.category, "brand": row.brand, "quantity": row.quantity,
            "client_ts_ms": int(row.event_ms), "geo": {"country": row.country},
            "device": {"type": row.device_type}, "items": None}


def _utc(ms: int | None) -> dt.datetime | None:
    return None if ms is None else utc(ms)


def table_row(offer: dict) -> dict:
    """An offer (:func:`~personastream_models.promotion_offers.offer_row`) as its
    ``offers_by_user`` row (times as naive UTC datetimes)."""
    return {**offer, "issued_at": _utc(offer["issued_ms"]),
            "expires_at": _utc(offer["expires_ms"]),
            "trigger_received_at": _utc(offer["trigger_received_ms"])}


def keyed_record(doc: dict) -> Row:
    """A record of a topic keyed by ``user_key``: ``(user_key, JSON)``.

    >>> keyed_record({"user_key": "u", "held_out": True})
    Row(key='u', value='{"user_key":"u","held_out":true}')
    """
    out = Row(doc["user_key"], json.dumps(doc, separators=(",", ":")))
    out.set_field_names(["key", "value"])
    return out


def offer_record(row) -> Row:
    """The ``topic_offers`` record of an ``offers_by_user`` row, times as epoch ms (the API's
    :mod:`~personastream_serving.offers` reads it)."""
    d = row.as_dict()
    return keyed_record(
        {**{k: v for k, v in d.items() if not isinstance(v, dt.datetime)},
         **{k.replace("_at", "_ms"): int(v.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
            for k, v in d.items() if isinstance(v, dt.datetime)}})


# -- Flink functions ------------------------------------------------------------------------

class DecideOffers(KeyedBroadcastProcessFunction):
    """Per customer: fold each event into its facts, evaluate the active rules, emit the
    chosen candidate; keep the customer's latest segment; uncount an offer its ledger refused;
    an erasure request (``erased``) clears the customer's facts (the pattern of
    :class:`~personastream_flink.erasure.ForgetsErased`, here in one input because the
    function also follows broadcast state)."""

    def __init__(self, args, experiments: tuple):
        self.experiments = experiments  # the promotions experiments, by their dates
        self.ttl_s, self.window_s = args.offers_ttl_s, args.window_s
        self.session_gap_s, self.recent_items = args.session_gap_s, args.recent_items
        self.half_life_s = args.affinity_half_life_s
        self.facts = None
        self._rules, self._trends, self._loaded = {}, {}, False

    def open(self, runtime_context: RuntimeContext) -> None:
        self.facts = json_fields_state(runtime_context, "customer_facts", facts_codec())

    def customer_states(self) -> list:
        return [self.facts]

    # broadcast: promotions and trends, parsed once into per-task caches
    def _take(self, key: str, record: str) -> bool:
        from personastream_models.promotion_offers import trend_entry
        from personastream_models.promotion_rules import RuleError
        from personastream_models.promotion_state import PromotionStateError, control_promotion

        if key.startswith(PROMOTION):
            try:
                state, rule = control_promotion(record)
            except (PromotionStateError, RuleError) as error:  # must not stop the job
                log.error("ignored promotion control record: %s", error)
                return False
            if rule is None:
                self._rules.pop(state.name, None)
            else:
                self._rules[state.name] = rule
            return True
        entry = trend_entry(record)
        if entry is None:
            return False
        item, trend = entry
        if trend["window_end_ms"] < self._trends.get(item, {}).get("window_end_ms", 0):
            return False  # an older window than the one kept
        self._trends[item] = trend
        return True

    def _load(self, ctx) -> None:
        if not self._loaded:
            self._loaded = True
            for key, record in ctx.get_broadcast_state(SIDE).items():
                self._take(key, record)

    def process_broadcast_element(self, value: str, ctx):
        self._load(ctx)
        try:
            doc = json.loads(value)
        except ValueError:
            log.error("ignored a record that is not JSON: %r", value[:200])
            return
        key = f"{PROMOTION}{doc.get('promotion')}" if isinstance(doc, dict) and \
            "promotion" in doc else f"{TREND}{doc.get('item_id') if isinstance(doc, dict) else ''}"
        if key.startswith(PROMOTION) and doc.get("removed"):  # the promotion's tombstone
            self._rules.pop(doc["promotion"], None)
            ctx.get_broadcast_state(SIDE).remove(key)
        elif self._take(key, value):
            ctx.get_broadcast_state(SIDE).put(key, value)

    def process_element(self, value, ctx):
        from personastream_models.promotion_offers import (cart_rules_after_ms, in_segment, observe,
                                                           refused)

        if value.erased:
            for state in self.customer_states():
                state.clear()
            return
        if value.segment_id is not None:
            self.facts.update(in_segment(self.facts.value(), value.segment_id))
            return
        if value.refused_promotion is not None:
            facts = self.facts.value()
            if facts is not None:
                self.facts.update(refused(facts, value.refused_promotion, value.event_ms))
            return
        self._load(ctx)
        event = event_of(value)
        facts = observe(self.facts.value(), event, session_gap_s=self.session_gap_s,
                        half_life_s=self.half_life_s, recent_items=self.recent_items)
        if event["event_type"] == "add_to_cart":
            for after_ms in cart_rules_after_ms(self._rules.values()):
                ctx.timer_service().register_processing_time_timer(
                    facts.cart_updated_ms + after_ms)
        yield from self._decide(facts, event, ctx.get_current_key(), value.event_id,
                                value.event_id, int(value.received_ms) or None)

    def on_timer(self, timestamp: int, ctx):
        from personastream_models.promotion_offers import timer_event

        facts = self.facts.value()
        if facts is None or not facts.cart:
            return
        yield from self._decide(facts, timer_event(facts, timestamp), ctx.get_current_key(),
                                f"cart@{facts.cart_updated_ms}", None, None, now_ms=timestamp)

    def _decide(self, facts, event, user_key, trigger, event_id, received_ms, now_ms=None):
        from personastream_models.promotion_offers import (decide, exposure, facts_context,
                                                           offer_row, offered)

        context = facts_context(facts, event, trends=self._trends, window_s=self.window_s,
                                now_ms=now_ms)
        decision = decide(self._rules.values(), context, facts) if self._rules else None
        if decision is not None:
            facts = offered(facts, decision.rule, context["now_ms"])
        self.facts.update(facts)
        if decision is None:
            return
        rule, caps = decision.rule, decision.rule.content.get("frequency_caps") or {}
        per_promotion = caps.get("per_promotion") or {}
        offer = offer_row(decision, user_key, trigger, context, self.ttl_s, event_id,
                          received_ms)
        candidate = Row(rule.key, int(rule.content["budget"]["max_offers"]),
                        per_promotion.get("max_offers"), per_promotion.get("window_s", 0),
                        offer, exposure(offer, self.experiments))
        candidate.set_field_names(CANDIDATE_FIELDS)
        yield candidate


class GrantOffers(KeyedProcessFunction):
    """Per promotion version: grant a candidate within the budget and the per-promotion cap;
    emit the granted offer's ``offers_by_user`` row, and its exposure under an experiment (side
    output :data:`EXPOSURES`); a refused candidate goes to side output :data:`REFUSALS`. A
    held-out candidate is granted as it would be, without spending the ledger, and only its
    exposure is emitted. The table's ``columns`` are given at build: in thread mode a
    TaskManager's interpreter may hold the table registry as imported by an earlier job, before
    the table existed."""

    def __init__(self, columns: tuple[str, ...]):
        self.columns = list(columns)
        self.ledger = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.ledger = runtime_context.get_state(
            ValueStateDescriptor("promotion_ledger", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value, ctx: KeyedProcessFunction.Context):
        from personastream_models.promotion_offers import grant, refusal

        offer, seen = value.offer, value.exposure
        held_out = seen is not None and seen["held_out"]
        ok, ledger = grant(self.ledger.value(), value.budget, value.cap_max, value.cap_window_s,
                           offer["issued_ms"])
        if not held_out:
            self.ledger.update(ledger)
        if not ok:
            yield REFUSALS, keyed_record(refusal(offer))
            return
        if seen is not None:
            yield EXPOSURES, keyed_record(seen)
        if not held_out:
            row = table_row(offer)
            out = Row(*(row[c] for c in self.columns))
            out.set_field_names(self.columns)
            yield out


def build(env: StreamExecutionEnvironment, args, io) -> None:
    """Declare sources, the two keyed functions and the sinks on ``env``, reading and writing
    through ``io``."""
    from personastream_models.experiments import load_all
    from personastream_models.promotion_offers import PLACEMENT

    low_latency(env)
    t_env = job_io.table_env(env, io)
    t_env.create_temporary_view("erasure_requests_raw", t_env.from_data_stream(io.erasures(env)))
    for table, topic in (("customer_segment_records", args.segments_topic),
                         ("promotion_refusal_records", args.refusals_topic)):
        t_env.execute_sql(sql_template.render(table, fragments={
            "options": sql_template.options(io.records_options(topic))}))
    key = user_key_sql("user_id", "anonymous_id")
    events = keyed_table(t_env, t_env.sql_query(sql_template.render(
        "promotion_events", fragments={"user_key": key,
                                       "event_ms": TIME_COLUMNS["client_ts_ms"]})), "user_key")
    # keyed stream: Row(user_key, erased, event_id, event_type, item_id, ..., country,
    #               device_type, segment_id, refused_promotion), keyed by user_key in Java
    side = io.promotions(env, t_env).union(io.anomalies(env)).broadcast(SIDE)
    candidates = (events.connect(side)
                  .process(DecideOffers(args, tuple(e for e in load_all()
                                                    if e.placement == PLACEMENT)),
                           output_type=CANDIDATE_TYPE)
                  .name("decide_offers").uid("decide_offers"))
    # stream: Row(promotion_key, budget, ..., offer, exposure), the chosen rule's
    offers = (candidates.key_by(lambda r: r.promotion_key, key_type=Types.STRING())
              .process(GrantOffers(OFFERS.columns), output_type=OFFERS.row_type)
              .name("grant_offers").uid("grant_offers"))
    # stream: Row(user_key, offer_id, promotion, ...), each granted offer
    io.write_rows(offers, OFFERS, "cassandra_offers_by_user")
    records = offers.map(offer_record, output_type=KEYED_RECORD_TYPE).name("offer_records")
    io.publish_keyed(t_env, t_env.from_data_stream(records), args.offers_topic, "kafka_offers")
    # stream: Row(key, value), each exposure under a promotions experiment (offer or held out)
    io.publish_keyed(t_env, t_env.from_data_stream(offers.get_side_output(EXPOSURES)),
                     args.exposures_topic, "kafka_experiment_exposures")
    # stream: Row(key, value), each refused candidate, back to decide_offers through Kafka
    io.publish_keyed(t_env, t_env.from_data_stream(offers.get_side_output(REFUSALS)),
                     args.refusals_topic, "kafka_promotion_refusals")


def main(argv: list[str] | None = None) -> None:
    job_args.run(build, parse_args, argv)


if __name__ == "__main__":
    # functions and state classes pickled by reference to this module, not from __main__
    from personastream_flink.evaluate_promotions import main as _main

    _main()
