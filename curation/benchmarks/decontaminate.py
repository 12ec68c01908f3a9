"""`make bench-decontaminate`: the decontamination job vs the same two passes as a plain loop, against the
real benchmark sets: on the real reference corpora (dirty counts per benchmark, which the loop must
reproduce) and on real web pages (the real-page crawl's extracted documents)."""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from collections import Counter

from curation.benchmark_sets import BenchmarkSet, load_benchmarks
from curation.benchmarks.harness import (
    bench_parser,
    best_of,
    local_spark,
    per_core,
    scratch_dir,
    with_ratio,
)
from curation.benchmarks.realpages import (
    CRAWL_SHARDS,
    bench_crawl,
    corpus_label,
    extracted_documents,
    generated_documents,
)
from curation.decontaminate import contamination, decontaminate, format_report
from curation.ngram_overlap import CutPolicy, decontaminate_text, find_hits
from curation.settings import shared_data_dir

REFERENCE_SETS = ("webtext", "wikipedia", "books")


def loop_decontaminate(corpora: dict[str, list[str]], benchmarks: BenchmarkSet, policy: CutPolicy) -> dict:
    """The same two passes as a plain single-process loop: {dataset: outcome counts}, dirty per benchmark."""
    matcher = benchmarks.matcher
    docs_per_ngram: Counter = Counter()
    for name, texts in corpora.items():
        for text in texts:
            docs_per_ngram.update(
                (n, h, name) for n, h in {(n, h) for n, _, h in find_hits(matcher.word_ids(text), matcher)}
            )
    rows = [(n, h, name, docs) for (n, h, name), docs in docs_per_ngram.items()]
    cut_ngrams, report, _ = contamination(benchmarks.benchmarks, rows, policy)
    to_cut = matcher.with_ngrams(cut_ngrams)
    outcomes = {
        name: Counter(decontaminate_text(t, to_cut, policy)[1].outcome for t in texts)
        for name, texts in corpora.items()
    }
    return {"outcomes": outcomes, "dirty": {name: b["dirty"] for name, b in report.items()}}


def read_texts(path: str) -> list[str]:
    """Texts of a JSONL(.gz) corpus, line ends normalised as curation.corpora does."""
    from curation.corpora import normalize_newlines

    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as lines:
        return [normalize_newlines(json.loads(line)["text"]) for line in lines if line.strip()]


def parquet_texts(path: str) -> list[str]:
    """The `text` column of a Parquet dataset (the loop's input), nulls left out as the job counts them apart."""
    import pyarrow.parquet as pq

    return [t for t in pq.read_table(path, columns=["text"]).column("text").to_pylist() if t is not None]


def bench(argv: list[str] | None = None) -> dict:
    """Spark job vs a plain loop on the reference corpora (dirty counts per benchmark) and on web pages."""
    from curation.corpora import CorpusSpec

    parser = bench_parser("bench-decontaminate")
    parser.add_argument(
        "--web-responses",
        type=int,
        default=int(os.environ.get("BENCH_RESPONSES", "25000")),
        help="responses of the real-page crawl whose extracted documents are the web workload",
    )
    args = parser.parse_args(argv)
    policy, cores = CutPolicy(), args.cores
    workdir = scratch_dir("decontaminate")
    spark = local_spark("decontaminate", cores)
    if corpus_label() == "real":
        data = shared_data_dir()
        reference_dir, benchmark_dir = data / "reference", data / "benchmarks"
        web_path = extracted_documents(spark, bench_crawl(args.web_responses, CRAWL_SHARDS, args.seed), "resiliparse")
    else:
        reference_dir, benchmark_dir, web_path = generated_inputs(spark, workdir, args.seed)
    started = time.perf_counter()
    benchmarks = load_benchmarks(str(benchmark_dir))
    load_seconds = time.perf_counter() - started
    paths = {name: str(reference_dir / f"{name}.jsonl.gz") for name in REFERENCE_SETS}
    reference = {name: CorpusSpec(name, path) for name, path in paths.items()}
    web = {"web": CorpusSpec("web", web_path)}

    decontaminate(spark, {"webtext": reference["webtext"]}, benchmarks, f"{workdir}/warmup", policy)  # JVM, workers
    spark_seconds, summary = best_of(
        args.repeat, lambda: decontaminate(spark, reference, benchmarks, f"{workdir}/reference", policy)
    )
    web_seconds, web_summary = best_of(
        args.repeat, lambda: decontaminate(spark, web, benchmarks, f"{workdir}/web-out", policy)
    )
    spark.stop()

    texts = {name: read_texts(path) for name, path in paths.items()}
    loop_seconds, loop_result = best_of(args.repeat, lambda: loop_decontaminate(texts, benchmarks, policy))
    web_texts = {"web": parquet_texts(web_path)}
    web_loop_seconds, web_loop = best_of(args.repeat, lambda: loop_decontaminate(web_texts, benchmarks, policy))

    docs, web_docs = summary["documents_in"], web_summary["documents_in"]
    dirty = {name: b["dirty"] for name, b in summary["benchmarks"].items()}
    result = {
        "bench": "decontaminate",
        "corpus": corpus_label(),
        "docs": docs,
        "chars": summary["chars_in"],
        "cores": cores,
        "spark_docs_per_s_per_core": per_core(docs, spark_seconds, cores),
        "loop_docs_per_s_per_core": per_core(docs, loop_seconds),
        "web_docs": web_docs,
        "web_chars": web_summary["chars_in"],
        "web_spark_docs_per_s_per_core": per_core(web_docs, web_seconds, cores),
        "web_loop_docs_per_s_per_core": per_core(web_docs, web_loop_seconds),
        "benchmark_load_s": round(load_seconds, 1),
        "dirty": dirty,
        "dirty_examples": summary["dirty_examples"],
        "examples": summary["examples"],
        "changed": summary["changed"],
        "dropped": summary["dropped"],
        "chars_removed": summary["chars_removed"],
        "web_changed": web_summary["changed"],
        "web_dropped": web_summary["dropped"],
        "loop_agrees": loop_result["dirty"] == dirty
        and all(
            loop_result["outcomes"][n]["changed"] == d["changed"]
            and loop_result["outcomes"][n]["unchanged"] == d["unchanged"]
            for n, d in summary["datasets"].items()
        )
        and web_loop["outcomes"]["web"]["changed"] == web_summary["datasets"]["web"]["changed"],
        "conserved": summary["conserved"] and web_summary["conserved"],
    }
    with_ratio(result)
    with_ratio(result, "web_spark_docs_per_s_per_core", "web_loop_docs_per_s_per_core", "web_ratio")
    print(format_report(summary), file=sys.stderr)
    return result


def generated_inputs(spark, workdir, seed: int):
    """Without the shared data: the generated sample's reference corpora, benchmark file and extracted crawl."""
    root = workdir / "sample"
    documents = generated_documents(spark, root, pages=2000, seed=seed, reference_docs=1000)
    return root / "reference", root / "benchmarks", documents
