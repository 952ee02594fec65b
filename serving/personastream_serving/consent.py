"""Each customer's marketing consent in the API's memory, as the operational database last said
it, so that a recommendation reads no database for it.

Each API worker follows the change data capture topic of customers (``topic_cdc_customers``,
compacted: Debezium's JSON envelopes keyed by the account) from its start into a
:class:`ConsentReplica` (a :class:`~.profile_replica.ProfileFollower`, the same thread as the
live profiles'). Until the follower has read the topic to its end (at start, or after Kafka
was unreachable), consent is read per request from the customer's ``profiles`` row
(``marketing_consent``, which ``merge_customers`` writes from the same changes).

>>> key = b'{"account_id": "user-1"}'
>>> consent_entry(key, b'{"before": null, "after": {"account_id": "user-1", '
...               b'"marketing_consent": false}, "op": "c"}')
('user-1', False)
>>> consent_entry(key, b'{"before": {"account_id": "user-1"}, "after": null, "op": "d"}')
('user-1', None)
>>> consent_entry(key, None)  # the tombstone after a delete
('user-1', None)
>>> consent_entry(key, b'{"after": {"account_id": "user-1", "marketing_consent": "maybe"}}')
('', None)
"""
from __future__ import annotations

import logging

import orjson

from personastream_contracts.identity import user_key

log = logging.getLogger(__name__)


def consent_entry(key: bytes, value: bytes | None) -> tuple[str, bool | None]:
    """A change record of a customer as ``(user_key, consent)``; None: no account (deleted),
    or a record that cannot be read (logged; consent is then unknown). A change whose consent
    is not a boolean breaks the contract (:mod:`personastream_contracts.captures`): ``("",
    None)``, which leaves the customer's consent as it was."""
    try:
        account = orjson.loads(key).get("account_id")
        after = orjson.loads(value).get("after") if value is not None else None
    except (orjson.JSONDecodeError, AttributeError) as error:
        log.warning("unreadable customer change record (%s): %r", error, key[:200])
        return "", None
    consent = after.get("marketing_consent") if isinstance(after, dict) else None
    if after is not None and not isinstance(consent, bool):
        # merge_customers dead-letters the change and the profile keeps its consent: so here
        log.warning("customer change without a boolean marketing_consent (%r) skipped: %r",
                    consent, key[:200])
        return "", None
    return user_key(account, None) or "", consent


class ConsentReplica:
    """``user_key -> consent`` of every customer the topic holds (a whole compacted topic:
    one boolean per customer).

    >>> replica = ConsentReplica()
    >>> replica.changed("u", False); replica.get("u"), replica.get("v")
    (False, None)
    >>> replica.changed("u", None); replica.get("u") is None
    True
    """

    def __init__(self):
        self._consent: dict[str, bool] = {}

    def get(self, key: str) -> bool | None:
        return self._consent.get(key)

    def changed(self, key: str, consent: bool | None) -> None:
        if consent is None:
            self._consent.pop(key, None)
        else:
            self._consent[key] = consent

    def clear(self) -> None:
        self._consent.clear()
