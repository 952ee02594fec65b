"""The pipeline's objectives and the window its ops views read them over: one source for the
alerts (``personastream_stack.alerting``), the dashboard (``personastream_serving.ops_panels``),
``stack status`` (``personastream_stack.ops_summary``) and ``bench pipeline``."""

#: An event in its customer's live profile within this many seconds (p99).
FRESHNESS_GOAL_S = 1.0
#: The window of the rates and quantiles ``stack status`` and ``/ops`` show.
OPS_WINDOW = "2m"
