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
5. connected components (curation.components) turn verified and exact edges into clusters: on the driver
   (a bounded numpy union-find) once the edges fit `driver_edges`, else large-star/small-star rounds until they do. The
   survivor of a cluster is the document of the highest-priority dataset, then the highest `quality_score`,
   then the smallest `doc_id`;
6. one window over each cluster gives every member its survivor, whether it is an exact copy, and its
   Jaccard to the survivor (the survivor's features ride along): one write of the removals, then the
   survivors of each dataset.

Why this shape: on small inputs the fixed cost of Spark jobs is the whole cost (planning, scheduling, a
stage's latency), not MinHash. Components once ran as dozens of rounds of jobs (~100 jobs a run), the
removals as three joins back to the signature rows; now a run of one dataset is ~30 jobs whatever its size
(AQE submits each shuffle stage as a job), and the independent ones (the input counts beside the edges; the
per-dataset writes and the report's statistics after the removals) run concurrently, so their fixed costs
overlap: 931 real pages take 4.5 s on 2 cores (`python -m curation.benchmarks dedup --small`).
All hashing is seeded and every choice is a minimum over ids, so clusters and outputs do not depend on the
partitioning.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np
import pyarrow as pa

from curation.components import connected_components
from curation.corpora import CorpusSpec
from curation.errors import EXIT_BAD_INPUT, BadInput, ConfigError
from curation.job import SparkJob, check_input, published_path, write_json
from curation.minhash import analyze, band_keys, hash_family, signatures
from curation.options import group, option
from curation.spark import concurrently
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
    """(exact edges, candidate edges, the persisted marked band keys for `guardrail`) from the signature rows.

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
    return exact, candidates, marked


def guardrail(marked, options: DedupOptions) -> dict:
    """The hot-bucket statistics of `candidate_edges`' marked band keys (persisted: read after the edges)."""
    from pyspark.sql import functions as F

    hot, skipped = F.col("size") > options.bucket_cap, F.col("sub_size") > options.bucket_cap
    own_bucket, own_sub = F.col("node") == F.col("rep.node"), F.col("node") == F.col("sub_rep.node")
    totals = marked.agg(
        F.coalesce(F.max("size"), F.lit(0)).alias("largest"),
        F.count(F.when(hot & own_bucket, 1)).alias("hot"),
        F.count(F.when(skipped & own_sub, 1)).alias("skipped"),
        F.coalesce(F.sum(F.when(skipped & own_sub, F.col("sub_size"))), F.lit(0)).alias("slots"),
    ).first()
    return {
        "bucket_cap": options.bucket_cap,
        "largest_bucket": int(totals["largest"]),
        "hot_buckets": int(totals["hot"]),
        "skipped_sub_buckets": int(totals["skipped"]),
        "skipped_bucket_slots": int(totals["slots"]),
    }


def sizes_for_jaccard(a: str, b: str, skip=None) -> list:
    """(`common`, `total`) columns of two sorted feature-set columns: their intersection's size (null where `skip`)
    and the sum of their sizes. Select them before `jaccard_of`: a Jaccard written in one expression computes the
    intersection three times (measured: 3-4x slower), and Spark keeps a separate projection of it."""
    from pyspark.sql import functions as F

    common = F.size(F.array_intersect(a, b))
    if skip is not None:
        common = F.when(skip, F.lit(None)).otherwise(common)
    return [common.alias("common"), (F.size(a) + F.size(b)).alias("total")]


def jaccard_of(common: str = "common", total: str = "total"):
    """The exact Jaccard from `sizes_for_jaccard`'s columns; 0 for two empty sets."""
    from pyspark.sql import functions as F

    union = F.col(total) - F.col(common)
    return F.when(union > 0, F.col(common) / union).otherwise(F.lit(0.0))


def score_pairs(pairs, sigs):
    """(src, dst) -> (src, dst, jaccard): the exact Jaccard of the two feature sets (sorted sets, so a native
    array_intersect suffices: no re-tokenizing, no Python). Both joins share one shuffle of the features."""
    from pyspark.sql import functions as F

    features = sigs.select("node", "features")
    joined = pairs.join(features.select(F.col("node").alias("src"), F.col("features").alias("a")), "src").join(
        features.select(F.col("node").alias("dst"), F.col("features").alias("b")), "dst"
    )
    sized = joined.select("src", "dst", *sizes_for_jaccard("a", "b"))
    return sized.select("src", "dst", jaccard_of().alias("jaccard"))


def deduplicate(spark, datasets: dict, output: str, options: DedupOptions, priority: list[str] | None = None) -> dict:
    """Deduplicate `datasets` ({name: DataFrame with doc_id, text}) within and across each other.

    Writes OUT/<name>/ (its input columns, survivors only), OUT/removals/ (one row per removed
    document), OUT/report.json (summary + cluster sizes + example pairs) and OUT/summary.json;
    returns the summary.
    """
    from pyspark.sql import Observation, Window
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
    exact, candidates, marked = candidate_edges(sigs, options)
    scored = score_pairs(candidates, sigs).persist()
    verified = scored.filter(F.col("jaccard") >= options.threshold).select("src", "dst")
    # the counts (and the doc_id check, before anything is written) beside the edges: both read the signature
    # rows, which Spark computes once (a cached block another task is computing is waited for, not recomputed)
    inputs, components = concurrently(
        spark,
        partial(dataset_counts, sigs),
        partial(connected_components, verified.unionByName(exact), options.driver_edges),
    )

    # only clustered documents: a document in no edge is its own cluster and survives
    members = sigs.select("dataset", "doc_id", "node", "quality_score", "priority", "exact_key", "features").join(
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
    # one window over each cluster gives every member its survivor and the survivor's features: the Jaccard to
    # the survivor needs no join back to the signature rows
    cluster = Window.partitionBy("cluster_id")
    ranked = members.select(
        "*", F.min(survivor_key).over(cluster).alias("s"), F.min_by("features", survivor_key).over(cluster).alias("b")
    )
    exact_copy = F.col("exact_key") == F.col("s.exact_key")
    removed = ranked.filter(F.col("node") != F.col("s.node")).select(
        "doc_id",
        "dataset",
        "cluster_id",
        F.col("s.doc_id").alias("survivor_doc_id"),
        F.col("s.dataset").alias("survivor_dataset"),
        F.when(exact_copy, "exact").otherwise("fuzzy").alias("cause"),
        *sizes_for_jaccard("features", "b", skip=exact_copy),
    )
    removals = removed.select(
        "doc_id",
        "dataset",
        "cluster_id",
        "survivor_doc_id",
        "survivor_dataset",
        F.when(F.col("cause") == "exact", F.lit(1.0)).otherwise(jaccard_of()).alias("jaccard"),
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

    def write_kept(name: str) -> int:
        gone = removals.filter(F.col("dataset") == name).select(F.col("doc_id").alias("_removed_doc_id"))
        frame = datasets[name]
        kept = frame.join(gone, F.col("doc_id").cast("string") == F.col("_removed_doc_id"), "left_anti")
        written = Observation(f"kept {name}")
        kept.observe(written, F.count("*").alias("kept")).write.mode("overwrite").option(
            "parquet.enable.dictionary#text", "false"
        ).parquet(f"{output}/{name}")
        return written.get["kept"]

    def cluster_sizes() -> dict:
        sizes = components.groupBy("component").agg(F.count("*").alias("size"))
        return {str(r["size"]): r["count"] for r in sizes.groupBy("size").count().orderBy("size").collect()}

    def pair_counts():
        verified = F.count(F.when(F.col("jaccard") >= options.threshold, 1)).alias("verified")
        return scored.agg(F.count("*").alias("candidates"), verified).first()

    def example_pairs() -> list[dict]:
        fuzzy = removals.filter("cause = 'fuzzy'").orderBy("jaccard", "dataset", "doc_id").limit(5)
        return [r.asDict() for r in fuzzy.collect()]

    # small independent jobs: run together, their fixed costs (planning, scheduling, a stage's latency) overlap
    *kept_counts, histogram, pairs, examples, guard = concurrently(
        spark,
        *(partial(write_kept, name) for name in names),
        cluster_sizes,
        pair_counts,
        example_pairs,
        partial(guardrail, marked, options),
    )
    per_dataset = {}
    for name, kept in zip(names, kept_counts):
        row = {"documents_in": inputs.get(name, {}).get("documents_in", 0), "kept": kept}
        for cause in CAUSES:
            row[f"removed_{cause}"] = removed_counts.get[f"{name}/{cause}"]
        row["conserved"] = row["documents_in"] == row["kept"] + row["removed_exact"] + row["removed_fuzzy"]
        per_dataset[name] = row
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
    for frame in (sigs, marked, scored, *datasets.values()):
        frame.unpersist()
    return summary


# ---------------------------------------------------------------- the job
def parse_dataset(value: str):
    """'NAME=PATH[,key=value...]' -> CorpusSpec; the name is needed, and 'removals' is taken."""
    from curation.corpora import parse_corpus_spec

    if "=" not in value.split(",")[0]:
        raise ConfigError(f"--dataset expects NAME=PATH, got {value!r}")
    spec = parse_corpus_spec(value)
    if spec.name == "removals":
        raise ConfigError("dataset name 'removals' is reserved for the removals table")
    return spec


def parse_priority(priority: tuple[str, ...], names: list[str]) -> list[str]:
    """Dataset names, highest priority first, then the others in the order of --dataset."""
    unknown = [p for p in priority if p not in names]
    if unknown:
        raise ConfigError(f"--priority names unknown dataset(s): {', '.join(unknown)}")
    if len(set(priority)) != len(priority):
        raise ConfigError("--priority names a dataset twice")
    return list(priority) + [n for n in names if n not in priority]


# the DedupOptions that are job options (flags, config keys); the others are the algorithm's tuning
FLAGGED = ("features", "ngram", "num_features", "num_hashes", "bands", "rows", "threshold", "bucket_cap", "seed")


@dataclass(frozen=True)
class DedupJobOptions:
    """The dedup job's options: its flags, and the [dedup] table of a pipeline config. The algorithm's own
    (`DedupOptions`) are options of their own name (`--threshold`)."""

    dataset: tuple[CorpusSpec, ...] = field(
        default=(),
        metadata=option(
            "a dataset: Parquet with doc_id and text, or JSON Lines(.gz) with id/text",
            metavar="NAME=PATH",
            repeatable=True,
            parse=parse_dataset,
            required=True,
        ),
    )
    priority: tuple[str, ...] = field(
        default=(), metadata=option("comma-separated names, highest first (default: --dataset order)")
    )
    output: str = field(
        default="", metadata=option("OUT/<dataset>/, OUT/removals/, report.json, summary.json", required=True)
    )
    dedup: DedupOptions = field(default_factory=DedupOptions, metadata=group("", FLAGGED))

    @property
    def datasets(self) -> dict[str, CorpusSpec]:
        return {spec.name: spec for spec in self.dataset}

    def priority_list(self) -> list[str]:
        return parse_priority(self.priority, list(self.datasets))

    def check(self) -> None:
        names = [spec.name for spec in self.dataset]
        repeated = next((name for name in names if names.count(name) > 1), None)
        if repeated:
            raise ConfigError(f"dataset {repeated!r} is given twice")
        self.priority_list()
        self.dedup.check()


class DedupJob(SparkJob):
    """`spark-submit jobs/dedup.py --dataset NAME=PATH ... --priority A,B --output DIR`."""

    name = "dedup"
    description = "Exact + MinHash LSH fuzzy deduplication within and across datasets."
    options_class = DedupJobOptions

    def validate(self, options):
        for name, spec in options.datasets.items():
            if not is_uri(spec.path) and not os.path.exists(spec.path):
                raise ConfigError(f"dataset {name}: no such file or directory: {spec.path}")
            check_input(spec)

    def run(self, spark, options):
        from curation.corpora import read_documents

        frames = {name: read_documents(spark, spec) for name, spec in options.datasets.items()}
        try:
            summary = deduplicate(spark, frames, options.output, options.dedup, options.priority_list())
        except BadInput as err:
            print(f"dedup: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(format_summary(summary, published_path(options.output)))
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
        return {"dataset": (CorpusSpec("crawl", run.crawl(self.name)), *run.reference.values()), "output": output}

    def input_files(self, options, run):
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
