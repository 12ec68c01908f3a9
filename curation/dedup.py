"""Deduplication within and across datasets: exact (normalized-text hash) then fuzzy (MinHash LSH).

Why not Spark's `MinHashLSH.approxSimilarityJoin`: it explodes every row into one row per hash table
and equi-joins whole rows, so one common hash value becomes one huge skewed partition. Here:

1. every document gets, in one vectorized Python pass per Arrow batch, a hash of its normalized text
   and `bands` LSH bucket keys from a `num_hashes` MinHash signature over its feature set (word
   n-gram shingles, or the classifier's Tokenizer + HashingTF indices: GPT-3's choice);
2. exact duplicates collapse onto one representative; only representatives enter LSH;
3. `groupBy(band, bucket)` finds candidates; each bucket links its members to one representative
   (its smallest node), not all pairs, and so does each sub-bucket split by a further MinHash value;
   a bucket above `bucket_cap` is linked through its sub-buckets only, and a sub-bucket still too big
   is skipped and counted;
4. each candidate edge is verified by the exact Jaccard of the two feature sets (a native
   `array_intersect` over the sets the signature pass kept);
5. large-star/small-star connected components turn verified edges into clusters; the survivor of a
   cluster is the document of the highest-priority dataset, then the highest `quality_score`, then the
   smallest `doc_id`. All hashing is seeded, so clusters do not depend on the partitioning.
"""

from __future__ import annotations

import os
import random
import re
import sys
import unicodedata
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from curation.errors import EXIT_BAD_INPUT, BadInput, ConfigError
from curation.features import hash64, murmur3_x86_32, spark_tokens
from curation.job import SparkJob, check_input, published_path, write_json

FEATURES = ("shingles", "classifier")
CAUSES = ("exact", "fuzzy")
WORD = re.compile(r"\w+", re.UNICODE)
SPACE = re.compile(r"\s+")
MASK64 = (1 << 64) - 1
NGRAM_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: the rolling n-gram combine stays a bijection per position


@dataclass(frozen=True)
class DedupOptions:
    features: str = "shingles"  # or "classifier"
    ngram: int = 5  # words per shingle (features="shingles")
    num_features: int = 1 << 18  # HashingTF size (features="classifier"); Spark's default
    num_hashes: int = 10
    bands: int = 10
    rows: int = 1  # bands * rows == num_hashes; 10 x 1 is Spark MinHashLSH's OR of 10 single-hash tables
    threshold: float = 0.7  # exact Jaccard an edge needs to count as a duplicate
    bucket_cap: int = 10_000  # a bucket with more documents is split by a further hash, then skipped
    seed: int = 1

    def check(self) -> None:
        if self.features not in FEATURES:
            raise ConfigError(f"--features must be one of {', '.join(FEATURES)}, not {self.features!r}")
        for name in ("ngram", "num_features", "num_hashes", "bands", "rows"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.bands * self.rows != self.num_hashes:
            raise ConfigError(
                f"--bands x --rows must equal --num-hashes ({self.bands} x {self.rows} != {self.num_hashes})"
            )
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError("--threshold must be in (0, 1]")
        if self.bucket_cap < 2:
            raise ConfigError("--bucket-cap must be at least 2")


# ---------------------------------------------------------------- pure core: hashing and features
def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a fast bijective scrambler of uint64 values (wrapping arithmetic)."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def normalize_text(text: str) -> str:
    """What two exact duplicates share: NFKC, lower case, whitespace runs collapsed."""
    return SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def exact_key(text: str) -> int | None:
    """Signed 64-bit hash of the normalized text; None for a document with no text."""
    normalized = normalize_text(text or "")
    if not normalized:
        return None
    return np.uint64(hash64(normalized.encode("utf-8"))).astype(np.int64).item()


class FeatureHasher:
    """Text -> sorted unique uint64 feature set; caches per-word hashes (words repeat, Zipf)."""

    def __init__(self, options: DedupOptions):
        self.options = options
        self.cache: dict[str, int] = {}

    def word_hash(self, word: str) -> int:
        value = self.cache.get(word)
        if value is None:
            if self.options.features == "classifier":
                value = murmur3_x86_32(word.encode("utf-8")) % self.options.num_features
            else:
                value = hash64(word.encode("utf-8"))
            if len(self.cache) < 1_000_000:
                self.cache[word] = value
        return value

    def features(self, text: str | None) -> np.ndarray:
        if not text:
            return np.empty(0, dtype=np.uint64)
        if self.options.features == "classifier":
            return np.unique(np.array([self.word_hash(t) for t in spark_tokens(text)], dtype=np.uint64))
        words = WORD.findall(text.lower())
        if not words:
            return np.empty(0, dtype=np.uint64)
        hashes = np.array([self.word_hash(w) for w in words], dtype=np.uint64)
        n = min(self.options.ngram, len(hashes))  # a text shorter than a shingle is one shingle
        count = len(hashes) - n + 1
        grams = hashes[:count].copy()
        for k in range(1, n):
            grams = grams * NGRAM_MULTIPLIER + hashes[k : k + count]
        return np.unique(mix64(grams))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique feature sets (two empty sets: 0)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / (len(a) + len(b) - common)


def hash_seeds(options: DedupOptions) -> np.ndarray:
    """The `num_hashes` fixed seeds of the MinHash family h_i(x) = mix64(x ^ seed_i)."""
    rng = random.Random(options.seed)
    return np.array([rng.getrandbits(64) for _ in range(options.num_hashes)], dtype=np.uint64)


def signatures(feature_sets: list[np.ndarray], seeds: np.ndarray) -> np.ndarray:
    """(docs, num_hashes) uint64 MinHash matrix for non-empty feature sets, vectorized over the batch."""
    lengths = np.array([len(f) for f in feature_sets], dtype=np.int64)
    if len(feature_sets) == 0:
        return np.empty((0, len(seeds)), dtype=np.uint64)
    assert lengths.min() > 0, "signatures() needs non-empty feature sets"
    values = np.concatenate(feature_sets)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    out = np.empty((len(feature_sets), len(seeds)), dtype=np.uint64)
    for i, seed in enumerate(seeds):
        out[:, i] = np.minimum.reduceat(mix64(values ^ seed), starts)
    return out


def band_keys(signature: np.ndarray, options: DedupOptions) -> tuple[np.ndarray, np.ndarray]:
    """(bucket, split) int64 matrices of shape (docs, bands): a band's bucket hashes its `rows` MinHash
    values; its split key adds the next MinHash value, to break up a hot bucket."""
    docs = signature.shape[0]
    buckets = np.empty((docs, options.bands), dtype=np.uint64)
    splits = np.empty((docs, options.bands), dtype=np.uint64)
    for band in range(options.bands):
        key = np.full(docs, np.uint64(band + 1), dtype=np.uint64)
        for row in range(options.rows):
            key = mix64(key * NGRAM_MULTIPLIER + signature[:, band * options.rows + row])
        buckets[:, band] = key
        following = signature[:, (band * options.rows + options.rows) % options.num_hashes]
        splits[:, band] = mix64(key ^ mix64(following + np.uint64(1)))
    return buckets.view(np.int64), splits.view(np.int64)


# ---------------------------------------------------------------- Arrow batch functions (Spark workers)
DOCUMENT_DDL = "dataset string, doc_id string, node long, quality_score double, priority int"
SIGNATURE_DDL = (
    f"{DOCUMENT_DDL}, exact_key long, n_features int, features array<long>, buckets array<long>, splits array<long>"
)


def signature_batches(batches, options: DedupOptions):
    """(DOCUMENT_DDL columns, text) Arrow batches -> the same columns but text, plus the exact key, the
    feature set (kept for verification) and the LSH band keys."""
    hasher, seeds = FeatureHasher(options), hash_seeds(options)
    for batch in batches:
        texts = batch.column("text").to_pylist()
        keys = [exact_key(t) for t in texts]
        features = [hasher.features(t) for t in texts]
        sizes = np.array([len(f) for f in features], dtype=np.int32)
        present = np.flatnonzero(sizes > 0)
        buckets, splits = band_keys(signatures([features[i] for i in present], seeds), options)
        bucket_lists: list = [None] * len(texts)
        split_lists: list = [None] * len(texts)
        for row, i in enumerate(present):
            bucket_lists[i] = buckets[row].tolist()
            split_lists[i] = splits[row].tolist()
        yield pa.RecordBatch.from_pydict(
            {
                **{name: batch.column(name) for name in ("dataset", "doc_id", "node", "quality_score", "priority")},
                "exact_key": pa.array(keys, pa.int64()),
                "n_features": pa.array(sizes, pa.int32()),
                "features": pa.array([f.view(np.int64) for f in features], pa.list_(pa.int64())),
                "buckets": pa.array(bucket_lists, pa.list_(pa.int64())),
                "splits": pa.array(split_lists, pa.list_(pa.int64())),
            }
        )


# ---------------------------------------------------------------- Spark: connected components
def connected_components(edges, max_rounds: int = 60):
    """(node, component) for every node of `edges` (src, dst longs): large-star/small-star (Kiveris et al.
    2014), O(log n) rounds; a component is named by its smallest node, whatever the partitioning."""
    from pyspark.sql import functions as F

    if edges.isEmpty():
        return edges.sparkSession.createDataFrame([], "node long, component long")
    current = (
        edges.select(F.greatest("src", "dst").alias("child"), F.least("src", "dst").alias("parent"))
        .filter("child != parent")
        .distinct()
    ).localCheckpoint()
    for _ in range(max_rounds):
        current = _small_star(_large_star(current)).localCheckpoint()
        roles = current.select(
            F.col("child").alias("node"), F.lit(1).alias("as_child"), F.lit(0).alias("as_parent")
        ).union(current.select(F.col("parent").alias("node"), F.lit(0), F.lit(1)))
        not_star = (
            roles.groupBy("node")
            .agg(F.sum("as_child").alias("parents"), F.max("as_parent").alias("parent"))
            .filter("parents > 1 OR (parents = 1 AND parent = 1)")
        )
        if not_star.isEmpty():  # a forest of stars: every child has one parent, and it is a root
            roots = current.select(F.col("parent").alias("node"), F.col("parent").alias("component")).distinct()
            return current.select(F.col("child").alias("node"), F.col("parent").alias("component")).unionByName(roots)
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")


def _large_star(edges):
    """Every node links its larger neighbours to the smallest node of its closed neighbourhood."""
    from pyspark.sql import functions as F

    both = edges.select(F.col("child").alias("u"), F.col("parent").alias("v")).unionByName(
        edges.select(F.col("parent").alias("u"), F.col("child").alias("v"))
    )
    smallest = both.groupBy("u").agg(F.min("v").alias("v_min")).select("u", F.least("u", "v_min").alias("m"))
    return (
        both.filter("v > u")
        .join(smallest, "u")
        .select(F.col("v").alias("child"), F.col("m").alias("parent"))
        .distinct()
    )


def _small_star(edges):
    """Every node links itself and its smaller neighbours to the smallest of them."""
    from pyspark.sql import functions as F

    smallest = edges.groupBy("child").agg(F.min("parent").alias("m"))
    moved = (
        edges.join(smallest, "child")
        .select(F.col("parent").alias("child"), F.col("m").alias("parent"))
        .filter("child != parent")
    )
    return moved.unionByName(smallest.select("child", F.col("m").alias("parent"))).distinct()


# ---------------------------------------------------------------- Spark: the deduplication
def candidate_edges(keys, bucket_cap: int):
    """(src, dst) candidate edges and hot-bucket statistics from `keys` (band, bucket, split, node).

    Each bucket links its members to its smallest node, and each sub-bucket (the bucket split by the
    next MinHash value) to its own smallest node: a second chance when a big mixed bucket's smallest
    node is an unrelated document. A bucket above `bucket_cap` is linked through its sub-buckets only;
    a sub-bucket still above the cap is skipped and counted. Only counts and minima are aggregated
    (combined map-side), so a hot bucket never has to fit in one task's memory.
    """
    from pyspark.sql import functions as F

    def star(grouping):
        stats = keys.groupBy(*grouping).agg(F.count("*").alias("size"), F.min("node").alias("rep"))
        return stats.filter("size >= 2").localCheckpoint()

    def links(stats, grouping):
        fine = stats.filter(F.col("size") <= bucket_cap)
        return keys.join(fine, grouping).select(F.col("rep").alias("src"), F.col("node").alias("dst"))

    buckets, sub_buckets = star(["band", "bucket"]), star(["band", "bucket", "split"])
    edges = links(buckets, ["band", "bucket"]).unionByName(links(sub_buckets, ["band", "bucket", "split"]))
    edges = (
        edges.filter("src != dst")
        .select(F.least("src", "dst").alias("src"), F.greatest("src", "dst").alias("dst"))
        .distinct()
    )
    over = F.col("size") > bucket_cap
    totals = buckets.agg(
        F.coalesce(F.max("size"), F.lit(0)).alias("largest"), F.count(F.when(over, 1)).alias("hot")
    ).first()
    skipped = sub_buckets.agg(
        F.count(F.when(over, 1)).alias("buckets"),
        F.coalesce(F.sum(F.when(over, F.col("size"))), F.lit(0)).alias("slots"),
    ).first()
    guard = {
        "bucket_cap": bucket_cap,
        "largest_bucket": int(totals["largest"]),
        "hot_buckets": int(totals["hot"]),
        "skipped_sub_buckets": int(skipped["buckets"]),
        "skipped_bucket_slots": int(skipped["slots"]),
    }
    return edges, guard


def score_pairs(pairs, features):
    """(src, dst) -> (src, dst, jaccard): the exact Jaccard of the two feature sets, a native Spark
    expression over the arrays the signature pass kept (no re-tokenizing, no Python)."""
    from pyspark.sql import functions as F

    joined = pairs.join(features.select(F.col("node").alias("src"), F.col("features").alias("a")), "src").join(
        features.select(F.col("node").alias("dst"), F.col("features").alias("b")), "dst"
    )
    common = F.size(F.array_intersect("a", "b"))
    union = F.size("a") + F.size("b") - common
    return joined.select("src", "dst", F.when(union > 0, common / union).otherwise(F.lit(0.0)).alias("jaccard"))


def deduplicate(spark, datasets: dict, output: str, options: DedupOptions, priority: list[str] | None = None) -> dict:
    """Deduplicate `datasets` ({name: DataFrame with doc_id, text}) within and across each other.

    Writes OUT/<name>/ (its input columns, survivors only), OUT/removals/ (one row per removed
    document), OUT/report.json (summary + cluster sizes + example pairs) and OUT/summary.json;
    returns the summary.
    """
    from pyspark.sql import functions as F

    from curation.corpora import spread_single_task

    datasets = {name: spread_single_task(frame) for name, frame in datasets.items()}  # one big file: many tasks
    names = list(datasets)
    priority = priority or names
    rank = {name: i for i, name in enumerate(priority)}
    frames = []
    for name, frame in datasets.items():
        missing = {"doc_id", "text"} - set(frame.columns)
        if missing:
            raise BadInput(f"dataset {name} lacks column(s) {', '.join(sorted(missing))}")
        quality = (
            F.col("quality_score").cast("double") if "quality_score" in frame.columns else F.lit(None).cast("double")
        )
        frames.append(
            frame.select(
                F.lit(name).alias("dataset"),
                F.col("doc_id").cast("string").alias("doc_id"),
                F.xxhash64(F.lit(name), F.col("doc_id").cast("string")).alias("node"),
                F.col("text"),
                quality.alias("quality_score"),
                F.lit(rank[name]).alias("priority"),
            )
        )
    docs = frames[0]
    for frame in frames[1:]:
        docs = docs.unionByName(frame)
    # one Python pass over the text; everything after it works on these narrow rows
    sigs = docs.mapInArrow(lambda b: signature_batches(b, options), SIGNATURE_DDL).persist()
    clash = (
        sigs.groupBy("node")
        .agg(F.count("*").alias("n"), F.first("dataset").alias("dataset"), F.first("doc_id").alias("doc_id"))
        .filter("n > 1")
        .limit(3)
        .collect()
    )
    if clash:
        shown = ", ".join(f"{r['dataset']}:{r['doc_id']}" for r in clash)
        raise BadInput(f"doc_id is not unique within its dataset (or collides): {shown}")

    # exact duplicates collapse onto their smallest node; only those representatives enter LSH
    exact_rep = sigs.filter(F.col("exact_key").isNotNull()).groupBy("exact_key").agg(F.min("node").alias("exact_rep"))
    reps = sigs.join(exact_rep, "exact_key").filter("node = exact_rep").filter(F.col("buckets").isNotNull())
    keys = (
        reps.select("node", F.posexplode(F.arrays_zip("buckets", "splits")).alias("band", "key"))
        .select("band", F.col("key.buckets").alias("bucket"), F.col("key.splits").alias("split"), "node")
        .persist()
    )
    candidates, guard = candidate_edges(keys, options.bucket_cap)
    features = sigs.select("node", "features")
    scored = score_pairs(candidates, features).localCheckpoint()
    verified = scored.filter(F.col("jaccard") >= options.threshold)
    components = connected_components(verified)

    # every document's cluster: the component of its exact representative (itself when alone)
    labelled = (
        sigs.select("dataset", "doc_id", "node", "quality_score", "priority", "exact_key")
        .join(exact_rep, "exact_key", "left")
        .withColumn("exact_rep", F.coalesce("exact_rep", "node"))
        .join(components.select(F.col("node").alias("exact_rep"), "component"), "exact_rep", "left")
        .withColumn("cluster_id", F.coalesce("component", "exact_rep"))
    )
    survivor_key = F.struct(
        "priority",
        (-F.coalesce("quality_score", F.lit(float("-inf")))).alias("q"),
        "doc_id",
        "dataset",
        "node",
        "exact_key",
    )
    clusters = (
        labelled.groupBy("cluster_id")
        .agg(F.count("*").alias("size"), F.min(survivor_key).alias("s"))
        .filter("size > 1")
        .persist()
    )
    removed = (
        labelled.join(clusters, "cluster_id")
        .filter(F.col("node") != F.col("s.node"))
        .select(
            "node",
            "doc_id",
            "dataset",
            "cluster_id",
            "exact_key",
            F.col("s.node").alias("survivor_node"),
            F.col("s.doc_id").alias("survivor_doc_id"),
            F.col("s.dataset").alias("survivor_dataset"),
            F.col("s.exact_key").alias("survivor_exact_key"),
        )
        .withColumn("cause", F.when(F.col("exact_key") == F.col("survivor_exact_key"), "exact").otherwise("fuzzy"))
        .persist()
    )
    fuzzy_scores = score_pairs(
        removed.filter("cause = 'fuzzy'").select(F.col("survivor_node").alias("src"), F.col("node").alias("dst")),
        features,
    )
    removals = removed.join(fuzzy_scores.select(F.col("dst").alias("node"), "jaccard"), "node", "left").select(
        "doc_id",
        "dataset",
        "cluster_id",
        "survivor_doc_id",
        "survivor_dataset",
        F.when(F.col("cause") == "exact", F.lit(1.0)).otherwise(F.col("jaccard")).alias("jaccard"),
        "cause",
    )
    removals.repartition(1).sortWithinPartitions("dataset", "doc_id").write.mode("overwrite").parquet(
        f"{output}/removals"
    )
    removals = spark.read.parquet(f"{output}/removals")

    per_dataset = {}
    removed_counts = {
        (r["dataset"], r["cause"]): r["count"] for r in removals.groupBy("dataset", "cause").count().collect()
    }
    inputs = {r["dataset"]: r["count"] for r in sigs.groupBy("dataset").count().collect()}
    for name, frame in datasets.items():
        gone = removals.filter(F.col("dataset") == name).select(F.col("doc_id").alias("_removed_doc_id"))
        kept = frame.join(gone, F.col("doc_id").cast("string") == F.col("_removed_doc_id"), "left_anti")
        kept.write.mode("overwrite").option("parquet.enable.dictionary#text", "false").parquet(f"{output}/{name}")
        row = {"documents_in": inputs.get(name, 0), "kept": spark.read.parquet(f"{output}/{name}").count()}
        for cause in CAUSES:
            row[f"removed_{cause}"] = removed_counts.get((name, cause), 0)
        row["conserved"] = row["documents_in"] == row["kept"] + row["removed_exact"] + row["removed_fuzzy"]
        per_dataset[name] = row

    empty = sigs.filter(F.col("n_features") == 0).count()
    histogram = {str(r["size"]): r["count"] for r in clusters.groupBy("size").count().orderBy("size").collect()}
    pairs = scored.agg(
        F.count("*").alias("candidates"), F.count(F.when(F.col("jaccard") >= options.threshold, 1)).alias("verified")
    ).first()
    examples = [
        r.asDict()
        for r in removals.filter("cause = 'fuzzy'").orderBy("jaccard", "dataset", "doc_id").limit(5).collect()
    ]
    summary = {
        "documents_in": sum(r["documents_in"] for r in per_dataset.values()),
        "kept": sum(r["kept"] for r in per_dataset.values()),
        "removed_exact": sum(r["removed_exact"] for r in per_dataset.values()),
        "removed_fuzzy": sum(r["removed_fuzzy"] for r in per_dataset.values()),
        "clusters": sum(histogram.values()),
        "candidate_pairs": pairs["candidates"],
        "verified_pairs": pairs["verified"],
        "empty_documents": empty,  # no words: kept as they are, never a fuzzy match
        "conserved": all(r["conserved"] for r in per_dataset.values()),
        "datasets": per_dataset,
        "priority": priority,
        "options": asdict(options),
        "guardrail": guard,
    }
    report = {**summary, "cluster_size_histogram": histogram, "example_pairs": examples}
    write_json(spark, f"{output}/summary.json", summary)
    write_json(spark, f"{output}/report.json", report)
    for frame in (sigs, keys, clusters, removed, *datasets.values()):
        frame.unpersist()
    return summary


# ---------------------------------------------------------------- the job
def parse_dataset_args(values: list[str]) -> dict:
    """['NAME=PATH[,key=value...]', ...] -> {NAME: CorpusSpec}; a name given twice is a ConfigError."""
    from curation.corpora import parse_corpus_spec

    datasets: dict = {}
    for value in values:
        if "=" not in value.split(",")[0]:
            raise ConfigError(f"--dataset expects NAME=PATH, got {value!r}")
        spec = parse_corpus_spec(value)
        if spec.name == "removals":
            raise ConfigError("dataset name 'removals' is reserved for the removals table")
        if spec.name in datasets:
            raise ConfigError(f"dataset {spec.name!r} is given twice")
        datasets[spec.name] = spec
    return datasets


def parse_priority(value: str | None, names: list[str]) -> list[str]:
    """Comma-separated dataset names, highest priority first; default: the order of --dataset."""
    if not value:
        return list(names)
    priority = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in priority if p not in names]
    if unknown:
        raise ConfigError(f"--priority names unknown dataset(s): {', '.join(unknown)}")
    if len(set(priority)) != len(priority):
        raise ConfigError("--priority names a dataset twice")
    return priority + [n for n in names if n not in priority]


class DedupJob(SparkJob):
    """`spark-submit jobs/dedup.py --dataset NAME=PATH ... --priority A,B --output DIR`."""

    name = "dedup"
    description = "Exact + MinHash LSH fuzzy deduplication within and across datasets."

    def add_arguments(self, parser):
        defaults = DedupOptions()
        parser.add_argument(
            "--dataset",
            action="append",
            required=True,
            metavar="NAME=PATH",
            help="a dataset: Parquet with doc_id and text, or JSON Lines(.gz) with id/text",
        )
        parser.add_argument("--priority", help="comma-separated names, highest first (default: --dataset order)")
        parser.add_argument("--output", required=True, help="OUT/<dataset>/, OUT/removals/, report.json, summary.json")
        parser.add_argument("--features", choices=FEATURES, default=defaults.features)
        parser.add_argument("--ngram", type=int, default=defaults.ngram)
        parser.add_argument("--num-features", type=int, default=defaults.num_features)
        parser.add_argument("--num-hashes", type=int, default=defaults.num_hashes)
        parser.add_argument("--bands", type=int, default=defaults.bands)
        parser.add_argument("--rows", type=int, default=defaults.rows)
        parser.add_argument("--threshold", type=float, default=defaults.threshold)
        parser.add_argument("--bucket-cap", type=int, default=defaults.bucket_cap)
        parser.add_argument("--seed", type=int, default=defaults.seed)

    def check_options(self, args):
        args.datasets = parse_dataset_args(args.dataset)
        args.priority_list = parse_priority(args.priority, list(args.datasets))
        args.options = DedupOptions(
            args.features,
            args.ngram,
            args.num_features,
            args.num_hashes,
            args.bands,
            args.rows,
            args.threshold,
            args.bucket_cap,
            args.seed,
        )
        args.options.check()

    def validate(self, args):
        for name, spec in args.datasets.items():
            if "://" not in spec.path and not os.path.exists(spec.path):
                raise ConfigError(f"dataset {name}: no such file or directory: {spec.path}")
            check_input(spec)

    def run(self, spark, args):
        from curation.corpora import read_documents

        frames = {name: read_documents(spark, spec) for name, spec in args.datasets.items()}
        try:
            summary = deduplicate(spark, frames, args.output, args.options, args.priority_list)
        except BadInput as err:
            print(f"dedup: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(format_summary(summary, published_path(args.output)))
        if not summary["conserved"]:
            print("dedup: error: documents in != kept + removed", file=sys.stderr)
            return 1
        return 0


def format_summary(summary: dict, output: str) -> str:
    lines = [
        f"dedup: {summary['documents_in']} documents -> {summary['kept']} kept, "
        f"{summary['removed_exact']} exact and {summary['removed_fuzzy']} fuzzy duplicates removed "
        f"({summary['clusters']} clusters, "
        f"{summary['verified_pairs']}/{summary['candidate_pairs']} candidate pairs verified)"
    ]
    for name, row in summary["datasets"].items():
        lines.append(
            f"dedup:   {name}: {row['documents_in']} in, {row['kept']} kept, "
            f"{row['removed_exact']} exact, {row['removed_fuzzy']} fuzzy"
        )
    guard = summary["guardrail"]
    if guard["hot_buckets"]:
        lines.append(
            f"dedup: {guard['hot_buckets']} buckets above the cap {guard['bucket_cap']} were split; "
            f"{guard['skipped_sub_buckets']} still too big were skipped ({guard['skipped_bucket_slots']} slots)"
        )
    lines.append(f"dedup: wrote {output}/<dataset>/, {output}/removals, {output}/report.json, {output}/summary.json")
    return "\n".join(lines)
