"""``topics.deliver``: one record, acknowledged or why not (a stand-in for confluent-kafka's
Producer, whose delivery callback runs inside ``flush``)."""
from personastream_contracts.topics import deliver


class Producer:
    def __init__(self, error=None, acknowledged=True):
        self.error, self.acknowledged, self.sent = error, acknowledged, []

    def produce(self, topic, key, value, on_delivery):
        self.sent.append((topic, key, value))
        self.callback = on_delivery

    def flush(self, timeout_s):
        if not self.acknowledged:
            return 1  # records still unacknowledged
        self.callback(self.error, None)
        return 0


def test_an_acknowledged_record_gives_no_error():
    producer = Producer()
    assert deliver(producer, "profiles.live", "user-1", None, 5.0) is None
    assert producer.sent == [("profiles.live", b"user-1", None)]


def test_a_delivery_error_or_no_acknowledgement_says_why():
    assert deliver(Producer(error="_MSG_TIMED_OUT"), "t", "k", b"v", 5.0) == "_MSG_TIMED_OUT"
    assert deliver(Producer(acknowledged=False), "t", "k", b"v", 5.0) == "not acknowledged in time"
