"""Benchmark decontamination, the job: cut training text that shares N-grams with benchmark test sets
(GPT-3, App. C), for documents of any length (GPT-3's bug left books unfiltered; here a book is a page).

The benchmark files are read by curation.benchmark_sets and the N-gram matching and cutting are the pure
functions of curation.ngram_overlap; this module is the two passes over the training data and the report.
Each pass reads its input once and does its Python work a whole Arrow batch at a time; no training N-gram
reaches the driver.
  1. every document emits the distinct benchmark N-grams it contains (the benchmarks' sorted 64-bit hash
     arrays are broadcast once); Spark counts documents per N-gram. The driver collects these counts (at
     most one row per benchmark N-gram and dataset) and ignores N-grams in more than `max_docs` documents
     as too common.
  2. one scan writes every document. A broadcast join marks the documents that contain an N-gram to cut,
     found in pass 1's persisted hits (at most `max_docs` documents per such N-gram, so few), and those
     without a doc_id to tell; one Arrow batch function gets the text of the marked ones only and cuts
     it, and native expressions pass every other document through (a plain loop cuts every document, so
     the job saves a second tokenisation of all text, and a clean text crosses to Python once). Each
     collision's span plus `margin` chars each side is removed, pieces shorter than `min_piece` chars are
     dropped, and a document split into more than `max_pieces` pieces (or with nothing left) is dropped
     whole.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from curation.benchmark_sets import (
    DEFAULT_N,
    Benchmark,
    BenchmarkSet,
    load_benchmarks,
    parse_field_mapping,
    parse_ngram_size,
)
from curation.corpora import CorpusSpec, parse_corpus_spec
from curation.errors import ConfigError
from curation.job import SparkJob, check_input, published_path, write_json, write_text
from curation.ngram_overlap import PIECE_SEPARATOR, CutPolicy, batch_hits, decontaminate_text, in_sorted
from curation.options import option
from curation.stage import Counts, Handoff, Stage

OUTCOMES = ("unchanged", "changed", "dropped_too_many_pieces", "dropped_nothing_left", "no_text")
DROP_OUTCOMES = ("dropped_too_many_pieces", "dropped_nothing_left")


# --- report -------------------------------------------------------------------------------


def contamination(benchmarks: list[Benchmark], ngram_docs: list[tuple[int, int, str, int]], policy: CutPolicy):
    """From (N, hash, dataset, documents) rows: the N-grams to cut ({N: sorted uint64}), per-benchmark
    example counts and where dirty examples were found, and N-gram totals."""
    per_ngram: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    for n, h, dataset, docs in ngram_docs:
        per_ngram[(n, h)][dataset] = per_ngram[(n, h)].get(dataset, 0) + docs
    common = {key for key, by_dataset in per_ngram.items() if sum(by_dataset.values()) > policy.max_docs}
    cut = defaultdict(list)
    for n, h in sorted(set(per_ngram) - common):
        cut[n].append(h)
    cut_arrays = {n: np.array(hs, dtype=np.uint64) for n, hs in cut.items()}
    report = {}
    for bench in benchmarks:
        table = cut_arrays.get(bench.n, np.empty(0, np.uint64))
        dirty, found_in = 0, Counter()
        for hashes in bench.example_hashes:
            matched = hashes[np.isin(hashes, table)] if table.size else hashes[:0]
            if matched.size:
                dirty += 1
                found_in.update({d for h in matched.tolist() for d in per_ngram[(bench.n, h)]})
        examples, short = len(bench.examples), bench.too_short
        report[bench.name] = {
            "file": bench.path,
            "split": bench.split,
            "fields": str(bench.mapping),
            "ngram_size": bench.n,
            "examples": examples,
            "dirty": dirty,
            "clean": examples - dirty - short,
            "too_short": short,
            "found_in": dict(sorted(found_in.items())),
            "skipped_lines": bench.skipped,
        }
    totals = {
        "matched": len(per_ngram),
        "ignored_common": len(common),
        "cut": len(per_ngram) - len(common),
    }
    return cut_arrays, report, totals


def contamination_table(benchmarks: dict) -> list[dict]:
    """GPT-3's Table C.1 from the per-benchmark report: split, total (dirty + clean + too short), dirty, clean,
    too short and clean percentage of each benchmark, the dirtiest (largest dirty share) first."""
    rows = []
    for name, b in benchmarks.items():
        total = b["dirty"] + b["clean"] + b["too_short"]
        rows.append(
            {
                "benchmark": name,
                "split": b["split"],
                "ngram_size": b["ngram_size"],
                "total": total,
                "dirty": b["dirty"],
                "clean": b["clean"],
                "too_short": b["too_short"],
                "clean_percent": round(100 * b["clean"] / total, 1) if total else None,
                "found_in": b["found_in"],
            }
        )
    return sorted(rows, key=lambda r: (-r["dirty"] / r["total"] if r["total"] else 1, -r["dirty"], r["benchmark"]))


def format_report(summary: dict) -> str:
    """Readable tables: benchmarks (like GPT-3's Table C.1), then training datasets."""
    datasets = sorted(summary["datasets"])
    lines = ["| benchmark | split | N | total | dirty | clean | too short | clean % | found in |", "|---" * 9 + "|"]
    for row in contamination_table(summary["benchmarks"]):
        pct = "-" if row["clean_percent"] is None else f"{row['clean_percent']:.1f}"
        found = ", ".join(f"{d} {c}" for d, c in row["found_in"].items()) or "-"
        lines.append(
            f"| {row['benchmark']} | {row['split']} | {row['ngram_size']} | {row['total']} | {row['dirty']} | "
            f"{row['clean']} | {row['too_short']} | {pct} | {found} |"
        )
    lines += [
        "",
        "| dataset | documents | unchanged | changed | dropped | no text | chars removed | % chars |",
        "|---" * 8 + "|",
    ]
    for name in datasets:
        d = summary["datasets"][name]
        pct = 100 * d["chars_removed"] / d["chars_in"] if d["chars_in"] else 0.0
        lines.append(
            f"| {name} | {d['documents_in']} | {d['unchanged']} | {d['changed']} | {d['dropped']} | "
            f"{d['no_text']} | {d['chars_removed']} | {pct:.3f} |"
        )
    n = summary["ngrams"]
    lines += [
        "",
        f"N-grams: {n['benchmark']} in benchmarks, {n['matched']} found in training data, "
        f"{n['ignored_common']} ignored (in more than {summary['config']['max_docs']} documents), "
        f"{n['cut']} cut",
    ]
    return "\n".join(lines)


# --- Spark --------------------------------------------------------------------------------

HITS_SCHEMA = pa.schema([("doc_id", pa.string()), ("n", pa.int32()), ("hash", pa.int64())])
KEY_COLUMN = "_decontam_key"  # a document's doc_id as a string: how pass 1's hits name it
CUT_COLUMN = "_decontam_cut"
CUT_FIELDS = pa.struct(
    [
        ("text", pa.string()),
        ("outcome", pa.string()),
        ("chars_removed", pa.int64()),
        ("pieces", pa.int32()),
        ("pieces_kept", pa.int32()),
        ("collisions", pa.int32()),
    ]
)


def hit_batches(batches, matcher_bc):
    """mapInArrow body of pass 1: (doc_id, text) batches -> the distinct (doc_id, N, hash) of each document."""
    matcher = matcher_bc.value
    for batch in batches:
        texts = batch.column("text").to_pylist()
        hits = batch_hits([matcher.word_ids(t) if t else np.empty(0, np.int64) for t in texts], matcher)
        rows = [
            (doc_id, n, h)
            for doc_id, found in zip(batch.column("doc_id").to_pylist(), hits)
            for n, h in sorted({(n, h) for n, _, h in found})
        ]
        doc_ids, ns, hashes = zip(*rows) if rows else ((), (), ())
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(doc_ids, pa.string()),
                pa.array(ns, pa.int32()),
                pa.array(np.array(hashes, np.uint64).view(np.int64), pa.int64()),
            ],
            schema=HITS_SCHEMA,
        )


def cut_key_batches(batches, matcher_bc):
    """mapInArrow body: pass 1's hits -> the doc_id of each hit on an N-gram to cut."""
    ngrams = matcher_bc.value.ngrams
    for batch in batches:
        ns, hashes = batch.column("n").to_numpy(), batch.column("hash").to_numpy().view(np.uint64)
        to_cut = np.zeros(len(batch), bool)
        for n, table in ngrams.items():
            rows = np.flatnonzero(ns == n)
            to_cut[rows] = in_sorted(table, hashes[rows])
        yield pa.RecordBatch.from_arrays([batch.column("doc_id").filter(pa.array(to_cut))], names=[KEY_COLUMN])


def cut_texts(texts: pa.Array, matcher, policy: CutPolicy) -> pa.StructArray:
    """Pass 2's Arrow batch function: the cut of each non-null text (CUT_FIELDS: the text left, or the text
    itself when the document is dropped, and the outcome), all null where the text is null (a document the
    job passes through natively, so its text is never sent to Python)."""
    columns: list[list] = [[None] * len(texts) for _ in CUT_FIELDS]
    rows = np.flatnonzero(texts.is_valid().to_numpy(zero_copy_only=False))
    for row, text in zip(rows.tolist(), texts.take(pa.array(rows)).to_pylist()):
        cleaned, cut, hits = decontaminate_text(text, matcher, policy)
        values = (text if cleaned is None else cleaned, cut.outcome, cut.chars_removed, cut.split_into)
        for column, value in zip(columns, (*values, len(cut.pieces), hits)):
            column[row] = value
    return pa.StructArray.from_arrays(
        [pa.array(values, kind.type) for values, kind in zip(columns, CUT_FIELDS)], fields=list(CUT_FIELDS)
    )


def read_training(spark, spec):
    """A training dataset with all its columns (see curation.corpora.read_documents)."""
    from curation.corpora import read_documents

    return read_documents(spark, spec), "text"


def decontaminate(spark, inputs: dict, benchmarks: BenchmarkSet, output: str, policy: CutPolicy | None = None) -> dict:
    """Decontaminate `inputs` ({name: CorpusSpec}) against `benchmarks` with `policy` (default CutPolicy());
    write per dataset documents/, dropped/ and ledger/, then summary.json and report.md, under `output`."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from curation.corpora import spread_single_task

    policy = policy or CutPolicy()
    sc = spark.sparkContext
    frames = {}
    for name, spec in sorted(inputs.items()):
        frame, text_column = read_training(spark, spec)
        frames[name] = (spread_single_task(frame), text_column)

    # pass 1: documents per benchmark N-gram, per dataset
    all_ngrams = sc.broadcast(benchmarks.matcher)
    counts, hit_docs = None, {}
    for name, (frame, text_column) in frames.items():
        hits = (
            frame.select(F.col("doc_id").cast("string").alias("doc_id"), F.col(text_column).alias("text"))
            .mapInArrow(lambda b: hit_batches(b, all_ngrams), from_arrow_schema(HITS_SCHEMA))
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        hit_docs[name] = hits
        per_ngram = hits.groupBy("n", "hash").count().withColumn("dataset", F.lit(name))
        counts = per_ngram if counts is None else counts.unionByName(per_ngram)
    rows = counts.collect()
    ngram_docs = [(r["n"], int(np.int64(r["hash"]).view(np.uint64)), r["dataset"], r["count"]) for r in rows]
    cut_ngrams, bench_report, ngram_totals = contamination(benchmarks.benchmarks, ngram_docs, policy)
    ngram_totals["benchmark"] = int(sum(a.size for a in benchmarks.matcher.ngrams.values()))
    all_ngrams.unpersist()

    # pass 2: cut every document that has an N-gram to cut
    to_cut = sc.broadcast(benchmarks.matcher.with_ngrams(cut_ngrams))
    datasets = {}
    for name, (frame, text_column) in frames.items():
        keys = hit_docs[name].mapInArrow(lambda b: cut_key_batches(b, to_cut), f"{KEY_COLUMN} string")
        datasets[name] = cut_dataset(name, frame, text_column, keys.distinct(), to_cut, policy, output)
    to_cut.unpersist()
    for hits in hit_docs.values():
        hits.unpersist()

    summary = summarize(datasets, bench_report, ngram_totals, policy)
    write_json(spark, f"{output}/summary.json", summary)
    write_text(spark, f"{output}/report.md", format_report(summary) + "\n")
    return summary


def cut_dataset(name: str, frame, text_column: str, cut_keys, to_cut, policy: CutPolicy, output: str) -> dict:
    """Pass 2 for one dataset: write documents/, dropped/ and ledger/ (changed and dropped documents);
    return its counts. The input is read once: a broadcast join with `cut_keys` (doc_ids with an N-gram to
    cut) marks documents; only a marked document's text goes to Python (`cut_texts`, a scalar Arrow UDF of
    the text where marked, else null), and native expressions give everyone else's outcome columns."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_type

    def cut_marked(texts: pa.Array) -> pa.Array:
        return cut_texts(texts, to_cut.value, policy)

    doc_id, text = F.col("doc_id").cast("string"), F.col(text_column)
    marked = F.col(KEY_COLUMN).isNotNull() | doc_id.isNull()
    cut = frame.join(F.broadcast(cut_keys), doc_id == F.col(KEY_COLUMN), "left").withColumn(
        CUT_COLUMN, F.arrow_udf(cut_marked, from_arrow_type(CUT_FIELDS))(F.when(marked, text))
    )
    field = lambda name: F.col(CUT_COLUMN)[name]  # noqa: E731
    missing = text.isNull()
    outcome = {
        "decontam_outcome": F.coalesce(field("outcome"), F.when(missing, "no_text").otherwise("unchanged")),
        "decontam_chars_in": F.coalesce(F.length(text), F.lit(0)).cast("long"),
        "decontam_chars_removed": F.coalesce(field("chars_removed"), F.lit(0)).cast("long"),
        "decontam_pieces": F.coalesce(field("pieces"), F.when(missing, 0).otherwise(1)).cast("int"),
        "decontam_pieces_kept": F.coalesce(field("pieces_kept"), F.when(missing, 0).otherwise(1)).cast("int"),
        "decontam_collisions": F.coalesce(field("collisions"), F.lit(0)).cast("int"),
    }
    columns = [
        F.coalesce(field("text"), text).alias(name) if name == text_column else F.col(f"`{name}`")
        for name in frame.columns
    ]
    result = cut.select(*columns, *(value.alias(name) for name, value in outcome.items())).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    extra = list(outcome)
    is_dropped = F.col("decontam_outcome").isin(*DROP_OUTCOMES)
    result.filter(~is_dropped).drop(*extra).write.mode("overwrite").option(
        "parquet.enable.dictionary#text", "false"
    ).parquet(f"{output}/{name}/documents")
    result.filter(is_dropped).withColumnRenamed("decontam_outcome", "drop_reason").drop(*extra[1:]).write.mode(
        "overwrite"
    ).parquet(f"{output}/{name}/dropped")
    # text written = text read - chars removed + the separators joining kept pieces
    separators = F.when(
        F.col("decontam_outcome") == "changed", F.lit(len(PIECE_SEPARATOR)) * (F.col("decontam_pieces_kept") - 1)
    ).otherwise(0)
    stats = {
        r["outcome"]: r
        for r in result.groupBy(F.col("decontam_outcome").alias("outcome"))
        .agg(
            F.count(F.lit(1)).alias("docs"),
            F.sum("decontam_chars_in").alias("chars_in"),
            F.sum("decontam_chars_removed").alias("chars_removed"),
            F.sum("decontam_collisions").alias("collisions"),
            F.sum(F.when(~is_dropped, F.length(text_column) - separators)).alias("chars_out"),
        )
        .collect()
    }
    documents_in = frame.count()
    result.filter(~F.col("decontam_outcome").isin("unchanged", "no_text")).select(
        "doc_id",
        F.col("decontam_outcome").alias("outcome"),
        F.col("decontam_chars_in").alias("chars_in"),
        F.col("decontam_chars_removed").alias("chars_removed"),
        F.col("decontam_pieces").alias("pieces"),
        F.col("decontam_pieces_kept").alias("pieces_kept"),
        F.col("decontam_collisions").alias("collisions"),
    ).coalesce(1).write.mode("overwrite").parquet(f"{output}/{name}/ledger")
    result.unpersist()
    frame.unpersist()
    total = lambda key: int(sum(r[key] or 0 for r in stats.values()))  # noqa: E731
    docs = {o: int(stats[o]["docs"]) if o in stats else 0 for o in OUTCOMES}
    dropped = docs["dropped_too_many_pieces"] + docs["dropped_nothing_left"]
    counts = {
        "documents_in": documents_in,
        **docs,
        "dropped": dropped,
        "chars_in": total("chars_in"),
        "chars_removed": total("chars_removed"),
        "chars_out": total("chars_out"),
        "collisions": total("collisions"),
    }
    counts["conserved"] = (
        documents_in == sum(docs.values()) and counts["chars_in"] == counts["chars_out"] + counts["chars_removed"]
    )
    return counts


def summarize(datasets: dict, bench_report: dict, ngram_totals: dict, policy: CutPolicy) -> dict:
    total = {
        k: sum(d[k] for d in datasets.values())
        for k in ("documents_in", "unchanged", "changed", "dropped", "no_text", "chars_in", "chars_removed")
    }
    return {
        **total,
        "examples": sum(b["examples"] for b in bench_report.values()),
        "dirty_examples": sum(b["dirty"] for b in bench_report.values()),
        "conserved": all(d["conserved"] for d in datasets.values()),
        "datasets": datasets,
        "benchmarks": bench_report,
        "contamination_table": contamination_table(bench_report),
        "ngrams": ngram_totals,
        "config": {
            "margin": policy.margin,
            "min_piece": policy.min_piece,
            "max_pieces": policy.max_pieces,
            "max_docs": policy.max_docs,
        },
    }


# --- the job ------------------------------------------------------------------------------


def _named(option: str, value: str) -> tuple[str, str]:
    name, sep, rest = value.partition("=")
    if not sep or not name or not rest:
        raise ConfigError(f"bad {option} {value!r}: expected NAME=VALUE")
    return name, rest


@dataclass(frozen=True)
class DecontaminateJobOptions:
    """The decontaminate job's options: its flags, and the [decontaminate] table of a pipeline config."""

    input: tuple[CorpusSpec, ...] = field(
        default=(),
        metadata=option(
            "training datasets: Parquet with doc_id and text (kept with all columns), or any "
            "corpus curation.corpora reads (JSONL[.gz], txt, ...); NAME=PATH[,key=value...]",
            metavar="NAME=PATH",
            spaced=True,
            parse=parse_corpus_spec,
            required=True,
        ),
    )
    benchmarks: str = field(
        default="",
        metadata=option("directory of test sets: *.jsonl, *.json, *.csv, *.tsv[.gz]", metavar="DIR", required=True),
    )
    output: str = field(default="", metadata=option("output directory", required=True))
    ngram_size: str = field(
        default=str(DEFAULT_N),
        metadata=option(
            "N-gram size for every benchmark; 'auto' = 5th percentile of example length in [8, 13]", metavar="N|auto"
        ),
    )
    ngram: tuple[str, ...] = field(
        default=(),
        metadata=option(
            "N-gram size for one benchmark (file name without .jsonl)", metavar="NAME=N|auto", repeatable=True
        ),
    )
    benchmark_fields: tuple[str, ...] = field(
        default=(),
        metadata=option(
            "fields a model sees in one benchmark, when its layout is not a known one",
            metavar="NAME=PROMPT,...:COMPLETION,...",
            repeatable=True,
        ),
    )
    margin: int = field(default=CutPolicy.margin, metadata=option("chars removed each side of a match"))
    min_piece: int = field(default=CutPolicy.min_piece, metadata=option("shorter pieces are dropped"))
    max_pieces: int = field(
        default=CutPolicy.max_pieces, metadata=option("documents split into more pieces are dropped")
    )
    max_docs: int = field(
        default=CutPolicy.max_docs,
        metadata=option("N-grams found in more training documents are ignored as too common"),
    )

    def check(self) -> None:
        for name in ("margin", "min_piece"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must not be negative")
        for name in ("max_pieces", "max_docs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        names = [spec.name for spec in self.input]
        if len(set(names)) != len(names):
            raise ConfigError(f"--input names must be unique (got {', '.join(names)})")
        self.benchmark_set  # noqa: B018 (the benchmarks load here, before Spark starts)

    @property
    def inputs(self) -> dict[str, CorpusSpec]:
        return {spec.name: spec for spec in self.input}

    @property
    def policy(self) -> CutPolicy:
        return CutPolicy(self.margin, self.min_piece, self.max_pieces, self.max_docs)

    @cached_property
    def benchmark_set(self) -> BenchmarkSet:
        """The benchmarks, loaded once (ConfigError for a bad option or file)."""
        ngram_overrides = {name: parse_ngram_size(n) for name, n in (_named("--ngram", v) for v in self.ngram)}
        fields = {
            name: parse_field_mapping(m) for name, m in (_named("--benchmark-fields", v) for v in self.benchmark_fields)
        }
        return load_benchmarks(self.benchmarks, parse_ngram_size(self.ngram_size), ngram_overrides, fields)


class DecontaminateJob(SparkJob):
    """`spark-submit jobs/decontaminate.py --input NAME=PATH ... --benchmarks DIR --output DIR`."""

    name = "decontaminate"
    description = "Remove benchmark N-gram overlaps from training documents (GPT-3 Appendix C) and report them."
    options_class = DecontaminateJobOptions

    def validate(self, options):
        for spec in options.input:
            check_input(spec)
        for bench in options.benchmark_set.benchmarks:  # warned here, once: the pipeline checks options twice
            if not bench.examples:
                print(
                    f"decontaminate: warning: benchmark {bench.path} has no usable examples "
                    f"(skipped lines: {bench.skipped or 'none'})",
                    file=sys.stderr,
                )

    def run(self, spark, options):
        summary = decontaminate(spark, options.inputs, options.benchmark_set, options.output, options.policy)
        print(format_report(summary))
        print(
            f"decontaminate: {summary['documents_in']} documents: {summary['unchanged']} unchanged, "
            f"{summary['changed']} changed, {summary['dropped']} dropped, {summary['no_text']} without text; "
            f"{summary['dirty_examples']} of {summary['examples']} benchmark examples dirty"
        )
        print(
            f"decontaminate: wrote {published_path(options.output)}/<dataset>/{{documents,dropped,ledger}}, "
            "summary.json, report.md"
        )
        if not summary["conserved"]:
            print("decontaminate: error: counts do not add up (see summary.json datasets.*.conserved)", file=sys.stderr)
            return 1
        return 0


class DecontaminateStage(Stage):
    """Every dataset dedup passed on in; per dataset, its documents with benchmark overlaps cut out."""

    name = "decontaminate"
    job = DecontaminateJob()
    upstream = ("dedup",)
    required = ("benchmarks",)
    set_by_pipeline = ("input", "output")
    input_options = ("benchmarks",)
    funnel_label = "kept"

    def wire(self, run, output):
        datasets = ["crawl", *run.reference]
        return {"input": tuple(CorpusSpec(name, run.documents("dedup", name)) for name in datasets), "output": output}

    def counts(self, summary):
        return {
            name: Counts(
                row["documents_in"],
                row["unchanged"] + row["changed"] + row["no_text"],
                {outcome: row[outcome] for outcome in DROP_OUTCOMES},
                row["chars_out"],
            )
            for name, row in summary["datasets"].items()
        }

    def reads(self, run, counts):
        return [Handoff("dedup", name, "out", name) for name in counts]

    def kept(self, dataset):
        return (dataset, "documents")

    def rejected(self, dataset):
        return (dataset, "dropped")
