"""Who an event belongs to, as a Flink SQL function: the contracts' rule
(:func:`personastream_contracts.identity.user_key`), registered as ``user_key``."""
from __future__ import annotations

from pyflink.table import DataTypes
from pyflink.table.udf import udf

from personastream_contracts.identity import user_key

user_key_udf = udf(user_key, result_type=DataTypes.STRING())
