"""NiFi 2 Python processor: validate and enrich the events of one HTTP request body.

The NiFi side of :mod:`personastream_flows.ingest.event_ingest`. Output: one envelope line per
record, ``{"outcome": "enriched"|"deadletter", "key": ..., "value": {...}}``, for
PublishToKafka; the attributes ``events.accepted``, ``events.rejected`` and
``events.first_reason`` feed the HTTP answer. Any error becomes a dead letter of the whole body,
so nothing received is lost.
"""
import json
import time

from nifiapi.flowfiletransform import FlowFileTransform, FlowFileTransformResult
from nifiapi.properties import PropertyDescriptor, StandardValidators

from personastream_flows.ingest.event_ingest import SCHEMA_DIR, Ingestor


class ValidateEnrichEvents(FlowFileTransform):
    class Java:
        implements = ["org.apache.nifi.python.processor.FlowFileTransform"]

    class ProcessorDetails:
        version = "0.1.0"
        description = ("Validates each event of a request body against its versioned schema, "
                       "enriches valid ones (received time, geo, device, schema) and turns the "
                       "rest into dead letters with a machine-readable reason.")
        tags = ["personastream", "validation", "enrichment", "json schema"]
        # NiFi reads this list from the source without running it, so it is a literal; a unit
        # test checks it against the versions the project's own environment pins.
        dependencies = ["jsonschema==4.26.0", "referencing==0.37.0",
                        "jsonschema-specifications==2025.9.1", "attrs==26.1.0", "rpds-py==2026.9.1",
                        "maxminddb==3.2.0", "ua-parser==1.0.2", "ua-parser-builtins==202610",
                        "ua-parser-rs==0.1.5"]

    MAX_BODY = PropertyDescriptor(
        name="Max Body Bytes", description="Larger bodies are dead-lettered whole (body_too_large)",
        required=True, default_value="1048576",
        validators=[StandardValidators.POSITIVE_INTEGER_VALIDATOR])
    GEOIP = PropertyDescriptor(
        name="IP Database", description="MMDB file for geo enrichment (MaxMind or DB-IP format)",
        required=False, validators=[StandardValidators.FILE_EXISTS_VALIDATOR])

    def __init__(self, **kwargs):
        super().__init__()
        self.ingestor = None

    def getPropertyDescriptors(self):
        return [self.MAX_BODY, self.GEOIP]

    def onScheduled(self, context):
        self.ingestor = Ingestor(
            schema_dir=SCHEMA_DIR, geoip_database=context.getProperty(self.GEOIP).getValue() or None,
            max_body_bytes=int(context.getProperty(self.MAX_BODY).getValue()))

    def onStopped(self, context):
        if self.ingestor is not None:
            self.ingestor.close()

    def transform(self, context, flowfile):
        body = flowfile.getContentsAsBytes() or b""
        forwarded = flowfile.getAttribute("http.headers.X-Forwarded-For")
        source = {"ip": (forwarded.split(",")[0].strip() if forwarded
                         else flowfile.getAttribute("http.remote.addr")),
                  "user_agent": flowfile.getAttribute("http.headers.User-Agent"),
                  "content_type": flowfile.getAttribute("http.headers.Content-Type"),
                  "received_at_ms": int(time.time() * 1000)}
        try:
            result = self.ingestor.process(body, source)
        except Exception as err:  # a bug must not lose the body: dead-letter it whole
            self.logger.error(f"event_ingest failed, dead-lettering the body: {err}")
            result = self.ingestor.failed_body(body, source, err)
        lines = [json.dumps({"outcome": outcome, "key": r.key, "value": r.value},
                            separators=(",", ":"))
                 for outcome, records in (("enriched", result.enriched),
                                          ("deadletter", result.deadletters))
                 for r in records]
        return FlowFileTransformResult(
            relationship="success", contents="\n".join(lines) + "\n",
            attributes={"events.accepted": str(result.accepted),
                        "events.rejected": str(result.rejected),
                        "events.first_reason": result.first_reason or "",
                        "mime.type": "application/x-ndjson"})
