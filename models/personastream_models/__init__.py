"""personastream models: versioned specs, feature sets, estimators and the NAB benchmark.

- :mod:`~personastream_models.specs`: load, validate and build ``specs/<name>/<version>.json``.
- :mod:`~personastream_models.features`: the feature sets specs refer to.
- :mod:`~personastream_models.detectors`: the project's estimators and ``score_then_learn``,
  the scoring step shared by the Flink trends job and the benchmark.
- :mod:`~personastream_models.nab`: NAB corpus, results layout, scoring and runner.
"""
