"""NiFi 2 Python processor: validate and enrich the events of HTTP request bodies.

The NiFi side of :mod:`personastream_flows.ingest.event_ingest`. Input: one request body (its
headers in the FlowFile's attributes), or many requests merged by MergeContent into a FlowFile
package (``application/flowfile-v3``, each with its own attributes and ``received.at.ms``).
Output: one line per record, ``outcome <TAB> key as JSON <TAB> value as JSON``, for
PublishToKafka; the attributes ``events.accepted``, ``events.rejected`` and
``events.first_reason`` feed the HTTP answer of a single request. Any error becomes a dead
letter of the whole body, so nothing received is lost.
"""
import time

from nifiapi.flowfiletransform import FlowFileTransform
from nifiapi.properties import PropertyDescriptor, StandardValidators

from personastream_flows.ingest import packages
from personastream_flows.ingest.event_ingest import (SCHEMA_DIR, IngestResult, Ingestor,
                                                     request_source)
from personastream_flows.results import TransformResult

RECEIVED_AT = "received.at.ms"
"""Attribute the flow stamps on each request when it arrives (epoch ms)."""
SOURCE_ATTRIBUTES = ("http.remote.addr", "http.headers.X-Forwarded-For",
                     "http.headers.User-Agent", "http.headers.Content-Type",
                     "http.headers.Content-Encoding")


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
        dependencies = ["jsonschema==4.26.0", "jsonschema-rs==0.61.2", "orjson==3.13.0",
                        "referencing==0.37.0",
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

    def _process(self, body: bytes, source: dict) -> IngestResult:
        try:
            return self.ingestor.process(body, source)
        except Exception as err:  # a bug must not lose the body: dead-letter it whole
            self.logger.error(f"event_ingest failed, dead-lettering the body: {err}")
            return self.ingestor.failed_body(body, source, err)

    def transform(self, context, flowfile):
        content = flowfile.getContentsAsBytes() or b""
        now_ms = int(time.time() * 1000)
        if flowfile.getAttribute("mime.type") == packages.MIME_TYPE:
            try:
                requests = packages.unpack(content)
            except packages.PackageError as err:
                source = request_source({}, now_ms)
                results = [self.ingestor.failed_body(content, source, err)]
            else:
                results = [self._process(body, request_source(
                    attrs, int(attrs.get(RECEIVED_AT) or now_ms))) for attrs, body in requests]
        else:
            attributes = {name: flowfile.getAttribute(name) for name in SOURCE_ATTRIBUTES}
            results = [self._process(content, request_source(attributes, now_ms))]
        first = next((r.first_reason for r in results if r.first_reason), None)
        return TransformResult(
            relationship="success", contents="".join(r.lines() for r in results),
            attributes={"events.accepted": str(sum(r.accepted for r in results)),
                        "events.rejected": str(sum(r.rejected for r in results)),
                        "events.first_reason": first or "",
                        "mime.type": "text/tab-separated-values"})
