"""personastream models: versioned specs, feature sets, estimators, ranking (pure Python).

- :mod:`~personastream_models.specs`: load, validate and build ``specs/<name>/<version>.json``;
  :mod:`~personastream_models.artifacts` what training made for a spec version.
- :mod:`~personastream_models.features`: the feature sets specs refer to.
- :mod:`~personastream_models.detectors`, :mod:`~personastream_models.contextual`,
  :mod:`~personastream_models.sequence`, :mod:`~personastream_models.clustering`: the
  project's estimators and ``score_then_learn``,
  the scoring step shared by the Flink trends job and the NAB benchmark.
- :mod:`~personastream_models.registry`: which version is live, in shadow, the rollback target;
  :mod:`~personastream_models.placement_scoring` one item's window scored by them,
  :mod:`~personastream_models.placement_clustering` one behaviour vector clustered by them.
- :mod:`~personastream_models.recommend`: live profiles, co-views and the ranking.
- :mod:`~personastream_models.harness`: the property checks every spec passes.
- :mod:`~personastream_models.promotion_rules`: load and validate promotion rules
  (``promotions/<name>/<version>.json``, format ``schemas/promotion_rule/1-0-0.json``);
  :mod:`~personastream_models.promotion_state` a promotion's control record and transitions,
  :mod:`~personastream_models.promotion_conditions` whether a rule fires, and why.

The NAB runner and scorer live with the other benchmarks (:mod:`personastream_bench.nab`).
"""
