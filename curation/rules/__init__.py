"""The `rules` stage: cheap, explainable document rules between extraction and the quality classifier.

Every modern curation pipeline (FineWeb, Dolma, NeMo Curator, RedPajama) runs such rules before or beside a
learned classifier: they remove what no classifier should have to learn (wrong language, boilerplate, spam
repetition, blocklisted hosts) and each decision can be read and explained. One module per rule family,
each a set of pure functions over a text, unit-tested on hand-written cases; `stage` applies them all in
one Python pass per Arrow batch inside Spark (jobs/rules.py).

Order of the checks (a dropped document gets the reason of the first that fails, and the measured value):
input (null, empty, binary garbage) -> blocklist (URL only, cheapest) -> language -> Gopher quality ->
Gopher repetition -> C4 page rules after C4 line cleaning; PII is then redacted in the kept text.
"""
