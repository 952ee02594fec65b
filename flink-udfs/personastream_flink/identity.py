"""Who an event belongs to, as a UDF: the known user id, else ``anon:`` + the anonymous id.

The rule itself is defined once, where events enter the pipeline (the ingest bundle keys Kafka
records by it); jobs and the API use it through here.

>>> user_key("u-42", "a-7"), user_key(None, "a-7"), user_key("", None)
('u-42', 'anon:a-7', None)
"""
from __future__ import annotations

from pyflink.table import DataTypes
from pyflink.table.udf import udf

from personastream_flows.processors.ingest.event_ingest import user_key

user_key_udf = udf(user_key, result_type=DataTypes.STRING())
