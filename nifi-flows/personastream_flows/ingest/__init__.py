"""The ingest logic NiFi runs (pure Python, unit-tested without NiFi): request bodies parsed,
events validated against the contracts' schemas, enriched with geo and device, dead-lettered
with a reason when they cannot be. :mod:`~personastream_flows.ingest.event_ingest` is the entry.
"""
