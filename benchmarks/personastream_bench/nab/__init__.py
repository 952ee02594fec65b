"""The Numenta Anomaly Benchmark: :mod:`.corpus` (data, labels, profiles, results layout),
:mod:`.scoring` (NAB's scoring rules), :mod:`.runner` (detectors over the corpus, the command
line: ``python -m personastream_bench.nab``), :mod:`.heldout` (parameters and thresholds chosen
by cross-validation over NAB's categories: ``personastream bench nab --held-out``)."""
