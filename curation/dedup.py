"""Deduplication within and across datasets: exact (normalized-text hash) then fuzzy (MinHash LSH).

Why not Spark's `MinHashLSH.approxSimilarityJoin`: it explodes every row into one row per hash table
and equi-joins whole rows, so one common hash value becomes one huge skewed partition. Here:

1. one vectorized Python pass per Arrow batch (curation.minhash) gives every document its exact key, its
   feature set (word n-gram shingles, or the classifier's Tokenizer + HashingTF indices: GPT-3's choice)
   and `bands` LSH bucket keys from a `num_hashes` MinHash signature; the text is read once;
2. exact duplicates link to the smallest node of their group; only those representatives enter LSH;
3. windows over (band, bucket) link each bucket's members to its smallest node, not all pairs, and each
   sub-bucket split by a further MinHash value to its own; a bucket above `bucket_cap` is linked through its
   sub-buckets only, and a sub-bucket still too big is skipped and counted;
4. a candidate pair must agree on `min_shared_bands` band keys (its signature agreement, free from step 3)
   before its exact Jaccard is computed (a native `array_intersect` over the kept feature sets);
5. connected components turn verified and exact edges into clusters: on the driver (a bounded numpy
   union-find) once the edges fit `driver_edges`, else large-star/small-star rounds until they do. The
   survivor of a cluster is the document of the highest-priority dataset, then the highest `quality_score`,
   then the smallest `doc_id`.

Why this shape: the fixed cost of a Spark job dominated small inputs when components ran as dozens of
rounds of jobs (~100 jobs a run); now a run is ~30-50 jobs (more datasets, more writes) whatever its size.
All hashing is seeded and every choice is a minimum over ids, so clusters and outputs do not depend on the
partitioning.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from curation.errors import EXIT_BAD_INPUT, BadInput, ConfigError
from curation.job import SparkJob, check_input, published_path, write_json
from curation.minhash import analyze, band_keys, hash_family, signatures
from curation.stage import Counts, Handoff, Stage
from curation.storage import is_uri

FEATURES = ("shingles", "classifier")
CAUSES = ("exact", "fuzzy")


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
    # bands a candidate pair must share before its Jaccard is computed (at most `bands`); at 10 x 1 a pair
    # of true Jaccard 0.8 shares fewer than 3 with probability 8e-5, a pair of Jaccard 0.2 with 0.64
    min_shared_bands: int = 3
    driver_edges: int = 2_000_000  # connected components finish on the driver once the edges are this few

    def check(self) -> None:
        if self.features not in FEATURES:
            raise ConfigError(f"--features must be one of {', '.join(FEATURES)}, not {self.features!r}")
        for name in ("ngram", "num_features", "num_hashes", "bands", "rows", "min_shared_bands"):
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
        if self.driver_edges < 0:
            raise ConfigError("--driver-edges must not be negative")


# ---------------------------------------------------------------- Arrow batch function (Spark workers)
DOCUMENT_DDL = "dataset string, doc_id string, node long, quality_score double, priority int"
SIGNATURE_DDL = f"{DOCUMENT_DDL}, exact_key long, features array<int>, buckets array<long>, splits array<long>"


def signature_batches(batches, options: DedupOptions):
    """(DOCUMENT_DDL columns, text) Arrow batches -> the same columns but text, plus the exact key, the
    feature set (kept for verification) and the LSH band keys (empty lists for a text without features)."""
    family = hash_family(options)
    for batch in batches:
        keys, values, offsets = analyze(batch.column("text").to_pylist(), options)
        buckets, splits = band_keys(signatures(values, offsets, family), options)
        per_text = np.where(np.diff(offsets) > 0, options.bands, 0)
        band_offsets = pa.array(np.concatenate([[0], np.cumsum(per_text)]).astype(np.int32))
        columns = {name: batch.column(name) for name in ("dataset", "doc_id", "node", "quality_score", "priority")}
        columns["exact_key"] = pa.array(keys, pa.int64())
        columns["features"] = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values.view(np.int32))
        columns["buckets"] = pa.ListArray.from_arrays(band_offsets, buckets.ravel())
        columns["splits"] = pa.ListArray.from_arrays(band_offsets, splits.ravel())
        yield pa.RecordBatch.from_pydict(columns)


# ---------------------------------------------------------------- connected components
def driver_components(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, component of each) of the graph of edges src-dst: a union-find by hooking roots onto smaller
    roots and pointer jumping, O(log n) numpy passes; a component is named by its smallest node."""
    nodes, index = np.unique(np.concatenate([src, dst]), return_inverse=True)
    left, right = index[: len(src)], index[len(src) :]
    parent = np.arange(len(nodes))
    while True:
        a, b = parent[left], parent[right]
        differ = a != b
        if not differ.any():
            return nodes, nodes[parent]
        np.minimum.at(parent, np.maximum(a, b)[differ], np.minimum(a, b)[differ])
        while not np.array_equal(grand := parent[parent], parent):
            parent = grand


def connected_components(edges, driver_edges: int, max_rounds: int = 60):
    """(node, component) for every node of `edges` (src, dst longs); a component is named by its smallest
    node, whatever the partitioning. Large-star/small-star rounds (Kiveris et al. 2014) shrink the graph
    until at most `driver_edges` edges are left, which `driver_components` finishes on the driver."""
    from pyspark.sql import functions as F

    spark = edges.sparkSession
    current = edges.select(F.greatest("src", "dst").alias("child"), F.least("src", "dst").alias("parent")).filter(
        "child != parent"
    )
    for _ in range(max_rounds):
        pairs = current.limit(driver_edges + 1).toPandas()  # one job when they fit, not a count and a collect
        if len(pairs) <= driver_edges:
            if len(pairs) == 0:
                return spark.createDataFrame([], "node long, component long")
            import pandas as pd

            nodes, components = driver_components(pairs["child"].to_numpy(), pairs["parent"].to_numpy())
            frame = pd.DataFrame({"node": nodes.astype(np.int64), "component": components.astype(np.int64)})
            return spark.createDataFrame(frame, "node long, component long")
        current = _small_star(_large_star(current.distinct())).localCheckpoint()
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
def dataset_counts(sigs) -> dict[str, dict]:
    """{dataset: {documents_in, empty}} in one job, which also raises BadInput for a doc_id given twice."""
    from pyspark.sql import functions as F

    per_node = sigs.groupBy("node").agg(
        F.count("*").alias("n"),
        F.first("dataset").alias("dataset"),
        F.min("doc_id").alias("doc_id"),
        F.max(F.size("features") == 0).alias("empty"),
    )
    rows = (
        per_node.groupBy("dataset")
        .agg(
            F.sum("n").alias("documents_in"),
            F.count(F.when(F.col("empty"), 1)).alias("empty"),
            F.sort_array(F.collect_list(F.when(F.col("n") > 1, F.col("doc_id")))).alias("clashes"),
        )
        .collect()
    )
    clashes = [f"{r['dataset']}:{doc}" for r in rows for doc in r["clashes"][:3]]
    if clashes:
        raise BadInput(f"doc_id is not unique within its dataset (or collides): {', '.join(clashes[:3])}")
    return {r["dataset"]: {"documents_in": r["documents_in"], "empty": r["empty"]} for r in rows}


def candidate_edges(sigs, options: DedupOptions):
    """(exact edges, candidate edges, hot-bucket statistics) from the signature rows.

    Exact duplicates link to the smallest node of their exact key. Among those representatives, each LSH
    bucket links its members to its smallest node, and each sub-bucket (the bucket split by the next MinHash
    value) to its own smallest node: a second chance when a big mixed bucket's smallest node is an unrelated
    document. A bucket above `bucket_cap` is linked through its sub-buckets only; a sub-bucket still above the
    cap is skipped and counted. A link is kept only when the two documents share `min_shared_bands` band keys.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    grouped = sigs.filter(F.col("exact_key").isNotNull()).select(
        "node", "buckets", "splits", F.min("node").over(Window.partitionBy("exact_key")).alias("exact_rep")
    )
    exact = grouped.filter("node != exact_rep").select(F.col("exact_rep").alias("src"), F.col("node").alias("dst"))
    keys = (
        grouped.filter("node = exact_rep AND size(buckets) > 0")
        .select("node", "buckets", F.posexplode(F.arrays_zip("buckets", "splits")).alias("band", "key"))
        .select("node", "band", F.col("key.buckets").alias("bucket"), F.col("key.splits").alias("split"), "buckets")
    )
    bucket, sub_bucket = Window.partitionBy("band", "bucket"), Window.partitionBy("band", "bucket", "split")
    smallest = F.struct("node", "buckets")
    marked = keys.select(
        "node",
        "buckets",
        F.count("*").over(bucket).alias("size"),
        F.min(smallest).over(bucket).alias("rep"),
        F.count("*").over(sub_bucket).alias("sub_size"),
        F.min(smallest).over(sub_bucket).alias("sub_rep"),
    ).persist()
    need = min(options.min_shared_bands, options.bands)

    def link(rep: str, size: str):
        shared = F.expr(f"size(filter(zip_with({rep}.buckets, buckets, (x, y) -> x = y), same -> same))")
        usable = (F.col(size) <= options.bucket_cap) & (F.col(f"{rep}.node") != F.col("node")) & (shared >= need)
        return F.when(usable, F.col(f"{rep}.node"))

    candidates = (
        marked.select(F.explode(F.array(link("rep", "size"), link("sub_rep", "sub_size"))).alias("src"), "node")
        .filter(F.col("src").isNotNull())
        .select(F.least("src", "node").alias("src"), F.greatest("src", "node").alias("dst"))
        .distinct()
    )
    hot, skipped = F.col("size") > options.bucket_cap, F.col("sub_size") > options.bucket_cap
    own_bucket, own_sub = F.col("node") == F.col("rep.node"), F.col("node") == F.col("sub_rep.node")
    totals = marked.agg(
        F.coalesce(F.max("size"), F.lit(0)).alias("largest"),
        F.count(F.when(hot & own_bucket, 1)).alias("hot"),
        F.count(F.when(skipped & own_sub, 1)).alias("skipped"),
        F.coalesce(F.sum(F.when(skipped & own_sub, F.col("sub_size"))), F.lit(0)).alias("slots"),
    ).first()
    guard = {
        "bucket_cap": options.bucket_cap,
        "largest_bucket": int(totals["largest"]),
        "hot_buckets": int(totals["hot"]),
        "skipped_sub_buckets": int(totals["skipped"]),
        "skipped_bucket_slots": int(totals["slots"]),
    }
    return exact, candidates, guard, marked


def score_pairs(pairs, sigs):
    """(src, dst) -> (src, dst, jaccard): the exact Jaccard of the two feature sets (sorted sets, so a native
    array_intersect suffices: no re-tokenizing, no Python). Both joins share one shuffle of the features."""
    from pyspark.sql import functions as F

    features = sigs.select("node", "features")
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
    from pyspark.sql import Observation
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
    # the one Python pass over the text; everything after it works on these narrower rows
    sigs = docs.mapInArrow(lambda b: signature_batches(b, options), SIGNATURE_DDL).persist()
    inputs = dataset_counts(sigs)
    exact, candidates, guard, marked = candidate_edges(sigs, options)
    scored = score_pairs(candidates, sigs).persist()
    verified = scored.filter(F.col("jaccard") >= options.threshold).select("src", "dst")
    components = connected_components(verified.unionByName(exact), options.driver_edges)

    # only clustered documents: a document in no edge is its own cluster and survives
    members = sigs.select("dataset", "doc_id", "node", "quality_score", "priority", "exact_key").join(
        components.select("node", F.col("component").alias("cluster_id")), "node"
    )
    survivor_key = F.struct(
        "priority",
        (-F.coalesce("quality_score", F.lit(float("-inf")))).alias("q"),
        "doc_id",
        "dataset",
        "node",
        "exact_key",
    )
    clusters = members.groupBy("cluster_id").agg(F.count("*").alias("size"), F.min(survivor_key).alias("s")).persist()
    removed = (
        members.join(clusters, "cluster_id")
        .filter(F.col("node") != F.col("s.node"))
        .select(
            "node",
            "doc_id",
            "dataset",
            "cluster_id",
            F.col("s.node").alias("survivor_node"),
            F.col("s.doc_id").alias("survivor_doc_id"),
            F.col("s.dataset").alias("survivor_dataset"),
            F.when(F.col("exact_key") == F.col("s.exact_key"), "exact").otherwise("fuzzy").alias("cause"),
        )
        .persist()
    )
    fuzzy_scores = score_pairs(
        removed.filter("cause = 'fuzzy'").select(F.col("survivor_node").alias("src"), F.col("node").alias("dst")),
        sigs,
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
    # counts of what is written, observed while it is written (no job to read it back and count)
    removed_counts = Observation("removed")
    counted = [
        F.count(F.when((F.col("dataset") == name) & (F.col("cause") == cause), 1)).alias(f"{name}/{cause}")
        for name in names
        for cause in CAUSES
    ]
    removals.observe(removed_counts, *counted).repartition(1).sortWithinPartitions("dataset", "doc_id").write.mode(
        "overwrite"
    ).parquet(f"{output}/removals")
    removals = spark.read.schema(removals.schema).parquet(f"{output}/removals")

    per_dataset = {}
    for name, frame in datasets.items():
        gone = removals.filter(F.col("dataset") == name).select(F.col("doc_id").alias("_removed_doc_id"))
        kept = frame.join(gone, F.col("doc_id").cast("string") == F.col("_removed_doc_id"), "left_anti")
        written = Observation(f"kept {name}")
        kept.observe(written, F.count("*").alias("kept")).write.mode("overwrite").option(
            "parquet.enable.dictionary#text", "false"
        ).parquet(f"{output}/{name}")
        row = {"documents_in": inputs.get(name, {}).get("documents_in", 0), "kept": written.get["kept"]}
        for cause in CAUSES:
            row[f"removed_{cause}"] = removed_counts.get[f"{name}/{cause}"]
        row["conserved"] = row["documents_in"] == row["kept"] + row["removed_exact"] + row["removed_fuzzy"]
        per_dataset[name] = row

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
        "empty_documents": sum(r["empty"] for r in inputs.values()),  # no words: kept as they are, never fuzzy
        "conserved": all(r["conserved"] for r in per_dataset.values()),
        "datasets": per_dataset,
        "priority": priority,
        "options": asdict(options),
        "guardrail": guard,
    }
    report = {**summary, "cluster_size_histogram": histogram, "example_pairs": examples}
    write_json(spark, f"{output}/summary.json", summary)
    write_json(spark, f"{output}/report.json", report)
    for frame in (sigs, marked, scored, clusters, removed, *datasets.values()):
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
            if not is_uri(spec.path) and not os.path.exists(spec.path):
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


class DedupStage(Stage):
    """The crawl the classifier kept and every reference corpus in; per dataset, what survives out."""

    name = "dedup"
    job = DedupJob()
    upstream = ("classify",)
    set_by_pipeline = ("dataset", "output")
    funnel_label = "kept"

    def wire(self, run, output):
        references = (f"--dataset={spec}" for spec in run.reference.values())
        return [f"--dataset=crawl={run.crawl(self.name)}", *references, "--output", output]

    def input_files(self, args, run):
        return run.reference_files()

    def counts(self, summary):
        return {
            name: Counts(
                row["documents_in"],
                row["kept"],
                {"removed_exact": row["removed_exact"], "removed_fuzzy": row["removed_fuzzy"]},
                row.get("chars"),
            )
            for name, row in summary["datasets"].items()
        }

    def reads(self, run, counts):  # the reference corpora as the classifier read them
        crawl = Handoff(run.crawl_stage(self.name), "crawl", "out", "crawl")
        return [crawl, *(Handoff("classifier", name, "in", name) for name in counts if name != "crawl")]

    def kept(self, dataset):
        return (dataset,)

    def written(self, spark, directory, counts):
        written = super().written(spark, directory, counts)
        removals = spark.read.parquet(os.path.join(directory, "removals")).groupBy("dataset").count().collect()
        removed = {row["dataset"]: row["count"] for row in removals}
        return {name: found | {"rejected": removed.get(name, 0)} for name, found in written.items()}


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
