"""Read and write promotion states on the promotions control topic (compacted, keyed by
promotion), as :mod:`personastream_stack.model_control` does for model placements; the
transitions are :mod:`personastream_models.promotion_state`'s, and the jobs follow the topic as
broadcast state.
"""
from __future__ import annotations

import logging

from personastream_contracts.errors import PersonastreamError
from personastream_contracts.topics import deliver, producer_config
from personastream_models.promotion_state import PromotionState, PromotionStateError
from personastream_stack.kafka import TopicReadError, latest_by_key

READ_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)


class PromotionControlError(PersonastreamError):
    """The promotions control topic could not be read or written."""


def states(settings) -> dict[str, PromotionState]:
    """The latest state of every promotion on the control topic (one read; a tombstone removes
    a promotion; a record that is not a state is logged and skipped, so that publishing the
    promotion again replaces it)."""
    try:
        latest = latest_by_key(settings, settings.topic_promotions_control, READ_TIMEOUT_S)
    except TopicReadError as error:
        raise PromotionControlError(str(error)) from None
    out = {}
    for name, value in latest.items():
        try:
            out[name] = PromotionState.from_json(value)
        except PromotionStateError as error:
            log.warning("skipped the record of %s on %s: %s", name,
                        settings.topic_promotions_control, error)
    return out


def write(settings, state: PromotionState) -> None:
    """Write ``state`` keyed by its promotion and wait for the broker's acknowledgement; an
    active state's rule is validated first (nothing is activated unvalidated)."""
    from confluent_kafka import Producer

    if state.status == "active":
        state.running_rule()
    error = deliver(Producer(producer_config(settings)), settings.topic_promotions_control,
                    state.name, state.to_json().encode(), READ_TIMEOUT_S)
    if error:
        raise PromotionControlError(f"could not write to {settings.topic_promotions_control!r}: "
                                    f"{error}")
