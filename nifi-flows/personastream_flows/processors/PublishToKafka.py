"""NiFi 2 Python processor: publish FlowFile content to Kafka with the confluent-kafka client.

NiFi's own Kafka bundles (nifi-kafka-nar, nifi-kafka-3-service-nar) are not served by Maven
Central for any 2.x version, so the flows publish with this processor (librdkafka underneath).

Content: one record per line, ``outcome <TAB> key as JSON <TAB> value as JSON``, as
ValidateEnrichEvents writes them (``outcome`` is ``enriched`` or ``deadletter``); each value goes
to the topic of its outcome as it is, keyed by ``key``.

A FlowFile goes to ``success`` only once the broker acknowledged every record of it (acks=all,
idempotent producer); otherwise to ``failure`` with the error in ``kafka.error`` (the flows loop
failure back for retry, so a retried FlowFile can publish some records twice: at-least-once,
with ``event_id`` for consumers to deduplicate).
"""
import time

from nifiapi.flowfiletransform import FlowFileTransform
from nifiapi.properties import ExpressionLanguageScope, PropertyDescriptor, StandardValidators

from personastream_flows.ingest.records import parse_lines
from personastream_flows.results import TransformResult

MAX_REQUEST_BYTES = 64 * 1024 * 1024


class PublishToKafka(FlowFileTransform):
    class Java:
        implements = ["org.apache.nifi.python.processor.FlowFileTransform"]

    class ProcessorDetails:
        version = "0.2.0"
        description = ("Publishes envelope lines to Kafka, each to the topic of its outcome; "
                       "routes to success once the broker acknowledged every record.")
        tags = ["kafka", "publish", "personastream"]
        dependencies = ["confluent-kafka==2.16.1", "orjson==3.13.0"]

    BROKERS = PropertyDescriptor(
        name="Kafka Brokers", description="Bootstrap servers, host:port comma separated",
        required=True, validators=[StandardValidators.NON_EMPTY_VALIDATOR],
        expression_language_scope=ExpressionLanguageScope.ENVIRONMENT)
    TOPIC = PropertyDescriptor(
        name="Topic Name", description="Topic of 'enriched' envelopes",
        required=True, validators=[StandardValidators.NON_EMPTY_VALIDATOR],
        expression_language_scope=ExpressionLanguageScope.FLOWFILE_ATTRIBUTES)
    DEADLETTER_TOPIC = PropertyDescriptor(
        name="Dead Letter Topic Name", description="Topic of 'deadletter' envelopes",
        required=True, validators=[StandardValidators.NON_EMPTY_VALIDATOR],
        expression_language_scope=ExpressionLanguageScope.FLOWFILE_ATTRIBUTES)
    SECURITY_PROTOCOL = PropertyDescriptor(
        name="Security Protocol", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
        required=True, default_value="PLAINTEXT",
        allowable_values=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
    SASL_MECHANISM = PropertyDescriptor(
        name="SASL Mechanism", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL only)",
        required=False)
    SASL_USERNAME = PropertyDescriptor(name="SASL Username", description="SASL user",
                                       required=False)
    SASL_PASSWORD = PropertyDescriptor(name="SASL Password", description="SASL password",
                                       required=False, sensitive=True)
    TIMEOUT = PropertyDescriptor(
        name="Delivery Timeout", description="Seconds to wait for the broker's acknowledgements",
        required=True, default_value="30", validators=[StandardValidators.POSITIVE_INTEGER_VALIDATOR])

    def __init__(self, **kwargs):
        super().__init__()
        self.producer = None

    def getPropertyDescriptors(self):
        return [self.BROKERS, self.SECURITY_PROTOCOL, self.SASL_MECHANISM, self.SASL_USERNAME,
                self.SASL_PASSWORD, self.TOPIC, self.DEADLETTER_TOPIC, self.TIMEOUT]

    def onScheduled(self, context):
        from confluent_kafka import Producer

        config = {"bootstrap.servers": context.getProperty(self.BROKERS)
                  .evaluateAttributeExpressions().getValue(),
                  "security.protocol": context.getProperty(self.SECURITY_PROTOCOL).getValue(),
                  "acks": "all", "enable.idempotence": True, "linger.ms": 2,
                  "compression.type": "lz4",
                  # the topics' max.message.bytes is the limit that matters (see stack.kafka)
                  "message.max.bytes": MAX_REQUEST_BYTES}
        for prop, key in ((self.SASL_MECHANISM, "sasl.mechanism"),
                          (self.SASL_USERNAME, "sasl.username"),
                          (self.SASL_PASSWORD, "sasl.password")):
            value = context.getProperty(prop).getValue()
            if value:
                config[key] = value
        self.producer = Producer(config)

    def onStopped(self, context):
        if self.producer is not None:
            self.producer.flush(10)
            self.producer = None

    def _records(self, context, flowfile, content):
        """(topic, key, value) of every record in the content."""
        topics = {outcome: context.getProperty(prop).evaluateAttributeExpressions(flowfile).getValue()
                  for outcome, prop in (("enriched", self.TOPIC),
                                        ("deadletter", self.DEADLETTER_TOPIC))}
        return [(topics[outcome], key.encode() if key else None, value)
                for outcome, key, value in parse_lines(content)]

    def transform(self, context, flowfile):
        timeout_s = int(context.getProperty(self.TIMEOUT).getValue())
        content = flowfile.getContentsAsBytes() or b""
        errors = []
        acknowledged = []
        counts = {}

        def delivered(err, msg):
            (errors.append(str(err)) if err is not None else acknowledged.append(1))

        try:
            records = self._records(context, flowfile, content)
            for topic, key, value in records:
                self._produce(topic, key, value, delivered)
                counts[topic] = counts.get(topic, 0) + 1
            # wait for this FlowFile's records only (other tasks share the producer)
            deadline = time.monotonic() + timeout_s
            while len(acknowledged) + len(errors) < len(records) and time.monotonic() < deadline:
                self.producer.poll(0.005)
            missing = len(records) - len(acknowledged) - len(errors)
            if missing:
                errors.append(f"{missing} record(s) not acknowledged within {timeout_s}s")
        except Exception as err:  # bad line, unknown outcome, KafkaException: routed
            errors.append(f"{type(err).__name__}: {err}")
        if errors:
            return TransformResult(relationship="failure",
                                   attributes={"kafka.error": "; ".join(errors[:5])})
        attributes = {f"kafka.records.{topic}": str(n) for topic, n in counts.items()}
        return TransformResult(relationship="success", attributes=attributes)

    def _produce(self, topic, key, value, on_delivery):
        """produce(), serving delivery callbacks while librdkafka's local queue is full."""
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                return
            except BufferError:
                self.producer.poll(0.1)

