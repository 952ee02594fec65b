"""The jobs this package provides, by name: the name is the Flink job name and the module."""
from __future__ import annotations

JOBS = {
    "land_events": "personastream_flink.land_events",
    "score_trends": "personastream_flink.score_trends",
    "build_profiles": "personastream_flink.build_profiles",
    "assign_segments": "personastream_flink.assign_segments",
    "live_activity": "personastream_flink.live_activity",
    "merge_customers": "personastream_flink.merge_customers",
    "attribute_experiments": "personastream_flink.attribute_experiments",
    "evaluate_promotions": "personastream_flink.evaluate_promotions",
}
