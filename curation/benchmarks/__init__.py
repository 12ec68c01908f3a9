"""Benchmarks, one module per stage: `python -m curation.benchmarks STAGE` (what `make bench-*` runs).

Each benchmark times the stage's Spark job and, in the same run on the same machine, the plain
single-process library loop over the same input, and prints one JSON line last: throughput per
core and the Spark/loop ratio, so runs on different machines compare by ratio, not seconds. When
the real data (`CURATION_SHARED_DATA`, default ../shared/data) is there, every benchmark measures
real pages and corpora (`"corpus": "real"`); otherwise it falls back to the generated sample and
says so (`"corpus": "generated"`).

Stage modules never import this package: benchmarks depend on stages, not the other way round.
"""
