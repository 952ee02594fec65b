"""NiFi 2 Python processor: publish each FlowFile's content as one Kafka record.

NiFi's own Kafka bundles (nifi-kafka-nar, nifi-kafka-3-service-nar) are not served by Maven
Central for any 2.x version, so ingest flows publish with this processor, built on the
confluent-kafka client (librdkafka). A FlowFile goes to ``success`` only once the broker has
acknowledged the record (acks=all, idempotent producer); otherwise to ``failure`` with the
error in ``kafka.error``, so no event is lost silently.
"""
import json

from nifiapi.flowfiletransform import FlowFileTransform, FlowFileTransformResult
from nifiapi.properties import ExpressionLanguageScope, PropertyDescriptor, StandardValidators


class PublishToKafka(FlowFileTransform):
    class Java:
        implements = ["org.apache.nifi.python.processor.FlowFileTransform"]

    class ProcessorDetails:
        version = "0.1.0"
        description = ("Publishes the content of each FlowFile as one Kafka record, keyed by the "
                       "first non-empty of the configured JSON fields; routes to success once "
                       "the broker acknowledged it.")
        tags = ["kafka", "publish", "personastream"]
        dependencies = ["confluent-kafka==2.16.1"]

    BROKERS = PropertyDescriptor(
        name="Kafka Brokers", description="Bootstrap servers, host:port comma separated",
        required=True, validators=[StandardValidators.NON_EMPTY_VALIDATOR],
        expression_language_scope=ExpressionLanguageScope.ENVIRONMENT)
    TOPIC = PropertyDescriptor(
        name="Topic Name", description="Topic the records are written to", required=True,
        validators=[StandardValidators.NON_EMPTY_VALIDATOR],
        expression_language_scope=ExpressionLanguageScope.FLOWFILE_ATTRIBUTES)
    KEY_FIELDS = PropertyDescriptor(
        name="Key Fields", description=("Comma-separated top-level JSON fields; the first "
                                        "non-empty one is the record key (none: no key)"),
        required=False, default_value="user_id,anonymous_id")
    TIMEOUT = PropertyDescriptor(
        name="Delivery Timeout", description="Seconds to wait for the broker's acknowledgement",
        required=True, default_value="30", validators=[StandardValidators.POSITIVE_INTEGER_VALIDATOR])

    def __init__(self, **kwargs):
        super().__init__()
        self.producer = None

    def getPropertyDescriptors(self):
        return [self.BROKERS, self.TOPIC, self.KEY_FIELDS, self.TIMEOUT]

    def onScheduled(self, context):
        from confluent_kafka import Producer

        brokers = context.getProperty(self.BROKERS).evaluateAttributeExpressions().getValue()
        self.producer = Producer({"bootstrap.servers": brokers, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 0})

    def onStopped(self, context):
        if self.producer is not None:
            self.producer.flush(10)
            self.producer = None

    def _key(self, content, fields):
        try:
            doc = json.loads(content)
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        for field in fields:
            value = doc.get(field)
            if value not in (None, ""):
                return str(value).encode()
        return None

    def transform(self, context, flowfile):
        topic = context.getProperty(self.TOPIC).evaluateAttributeExpressions(flowfile).getValue()
        fields = [f.strip() for f in (context.getProperty(self.KEY_FIELDS).getValue() or "").split(",")
                  if f.strip()]
        timeout_s = int(context.getProperty(self.TIMEOUT).getValue())
        content = flowfile.getContentsAsBytes() or b""
        outcome = {}

        def delivered(err, msg):
            outcome["error"] = err
            outcome["msg"] = msg

        try:
            self.producer.produce(topic, value=content, key=self._key(content, fields),
                                  on_delivery=delivered)
            self.producer.flush(timeout_s)
        except Exception as err:  # BufferError, KafkaException: routed, not raised
            outcome["error"] = err
        if "msg" not in outcome and "error" not in outcome:
            outcome["error"] = f"no acknowledgement within {timeout_s}s"
        if outcome.get("error") is not None:
            return FlowFileTransformResult(relationship="failure",
                                           attributes={"kafka.error": str(outcome["error"])})
        msg = outcome["msg"]
        return FlowFileTransformResult(relationship="success", attributes={
            "kafka.topic": msg.topic(), "kafka.partition": str(msg.partition()),
            "kafka.offset": str(msg.offset())})
