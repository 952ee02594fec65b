"""How an API follower takes records from its Kafka consumer: at once, not after a batch fills
(a stub consumer: pure logic; the followers themselves run in tests/integration/test_api.py)."""
from __future__ import annotations

from personastream_serving.profile_replica import _next_records


class StubConsumer:
    def __init__(self, queued: list):
        self.queued, self.calls = list(queued), []

    def poll(self, timeout):
        self.calls.append(("poll", timeout))
        return self.queued.pop(0) if self.queued else None

    def consume(self, n, timeout):
        self.calls.append(("consume", n, timeout))
        taken, self.queued = self.queued[:n], self.queued[n:]
        return taken


def test_the_first_record_is_waited_for_and_what_is_queued_taken_without_waiting():
    consumer = StubConsumer(["a", "b", "c"])
    assert _next_records(consumer, most=2, timeout_s=0.2) == ["a", "b"]
    assert consumer.calls == [("poll", 0.2), ("consume", 1, 0)]
    assert _next_records(consumer, most=2) == ["c"]


def test_nothing_queued_gives_nothing_after_the_timeout_and_no_batch_call():
    consumer = StubConsumer([])
    assert _next_records(consumer, timeout_s=0.05) == []
    assert consumer.calls == [("poll", 0.05)]
