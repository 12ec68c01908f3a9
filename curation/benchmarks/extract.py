"""`make bench-extract`: the extraction job vs the plain `process_archive` loop over the same WARC files,
and, from the Spark run's own output, the bag-of-words F1 of the extracted text against the gold text
of every real page in the crawl; then every extractor's F1 and speed on the gold pages themselves."""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from pathlib import Path

from curation.benchmarks.harness import (
    bench_parser,
    best_of,
    local_spark,
    per_core,
    scratch_dir,
    with_ratio,
)
from curation.benchmarks.realpages import (
    bag_of_words_f1,
    bench_crawl,
    corpus_label,
    crawl_shards,
    gold_pages,
    read_truth,
    real_data_present,
)
from curation.extract import extract_to_parquet
from curation.gold_pages import gold_text
from curation.html_text import EXTRACTORS, extract_text
from curation.settings import shared_data_dir
from curation.warc_records import ExtractOptions, process_archive


def evaluate_extractors(html_dir: Path, per_set: int | None = None) -> dict:
    """{extractor: {set: {pages, f1, pages_per_s}}} over the gold-annotated pages in `html_dir`."""
    results: dict = {name: {} for name in sorted(EXTRACTORS)}
    for path in sorted(html_dir.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            pages = [json.loads(line) for line in lines][:per_set]
        name = path.name.removesuffix(".jsonl.gz")
        for extractor in results:
            started = time.perf_counter()
            predicted = []
            for page in pages:
                try:
                    predicted.append(extract_text(page["html"], extractor))
                except Exception:  # noqa: BLE001 - a failing page scores 0, as it would in the pipeline
                    predicted.append("")
            seconds = time.perf_counter() - started
            f1 = [bag_of_words_f1(p, gold_text(page["gold"])) for p, page in zip(predicted, pages)]
            results[extractor][name] = {
                "pages": len(pages),
                "f1": round(sum(f1) / len(f1), 3),
                "pages_per_s": round(len(pages) / seconds, 1),
            }
    return results


def overall(per_set: dict) -> dict:
    pages = sum(r["pages"] for r in per_set.values())
    return {
        "f1": round(sum(r["f1"] * r["pages"] for r in per_set.values()) / pages, 3),
        "pages_per_s": round(pages / sum(r["pages"] / r["pages_per_s"] for r in per_set.values()), 1),
    }


def print_f1_table(quality: dict) -> None:
    sets = sorted(next(iter(quality.values())))
    print("| extractor | " + " | ".join(sets) + " | all: F1 | all: pages/s |")
    print("|---" * (len(sets) + 3) + "|")
    for extractor, per_set in quality.items():
        cells = " | ".join(f"{per_set[s]['f1']:.3f}" for s in sets)
        total = overall(per_set)
        print(f"| {extractor} | {cells} | {total['f1']:.3f} | {total['pages_per_s']} |")


def crawl_f1(spark, documents: str, root: Path) -> dict:
    """Mean F1 of the extracted text of every original real page in the crawl (a page with no document
    scores 0), overall and per gold set: the extraction quality of the very run that was timed."""
    text_of_url = {row["url"]: row["text"] for row in spark.read.parquet(documents).select("url", "text").collect()}
    gold = gold_pages()
    scores: dict[str, list[float]] = {}
    for record in read_truth(root):
        if record["category"] == "original":
            page = gold[(record["page"]["set"], str(record["page"]["id"]))]
            scores.setdefault(page["set"], []).append(
                bag_of_words_f1(text_of_url.get(record["url"]) or "", gold_text(page["gold"]))
            )
    every = [f1 for per_set in scores.values() for f1 in per_set]
    return {
        "f1": round(sum(every) / len(every), 3),
        "f1_pages": len(every),
        "f1_per_set": {name: round(sum(f1) / len(f1), 3) for name, f1 in sorted(scores.items())},
    }


def generated_shards(pages: int, cores: int, seed: int) -> list[str]:
    from curation.sample import generate_sample

    root = scratch_dir("extract-sample")
    generate_sample(root, pages=pages, seed=seed, shards=2 * cores)
    return sorted(str(p) for p in (root / "crawl").glob("sample-0*.warc.gz"))


def bench(argv: list[str] | None = None) -> dict:
    parser = bench_parser("bench-extract", repeat=2)
    parser.add_argument(
        "--responses",
        type=int,
        default=int(os.environ.get("BENCH_RESPONSES", "4000")),
        help="responses in the real-page crawl (pages generated, without the shared data)",
    )
    parser.add_argument("--extractor", choices=sorted(EXTRACTORS), default=ExtractOptions.extractor)
    parser.add_argument(
        "--compare-pages",
        type=int,
        default=None,
        help="gold pages per set for the table of every extractor (default: all; 0: skip)",
    )
    args = parser.parse_args(argv)
    cores, options, real = args.cores, ExtractOptions(extractor=args.extractor), real_data_present()
    root = bench_crawl(args.responses, 2 * cores, args.seed) if real else None
    shards = crawl_shards(root) if real else generated_shards(args.responses, cores, args.seed)
    workdir = scratch_dir("extract")

    spark = local_spark("extract", cores)
    extract_to_parquet(spark, shards[:1], str(workdir / "warmup"), options)  # JVM, JIT and Python workers warm up
    spark_seconds, summary = best_of(
        args.repeat, lambda: extract_to_parquet(spark, shards, str(workdir / "spark"), options)
    )
    quality = crawl_f1(spark, str(workdir / "spark" / "documents"), root) if real else {}
    spark.stop()
    loop_seconds, loop_docs = best_of(args.repeat, lambda: sum(len(process_archive(p, options)[0]) for p in shards))

    docs = summary["documents"]
    result = with_ratio(
        {
            "bench": "extract",
            "corpus": corpus_label(),
            "extractor": args.extractor,
            "docs": docs,
            "records": summary["records"],
            "files": len(shards),
            "cores": cores,
            "spark_docs_per_s_per_core": per_core(docs, spark_seconds, cores),
            "loop_docs_per_s_per_core": per_core(loop_docs, loop_seconds),
            "same_docs_as_loop": docs == loop_docs,
            **quality,
        }
    )
    html_dir = shared_data_dir() / "html"
    if args.compare_pages != 0 and html_dir.is_dir():
        comparison = evaluate_extractors(html_dir, args.compare_pages)
        print_f1_table(comparison)
        for extractor, per_set in comparison.items():
            result[f"gold_pages_{extractor}_f1"] = overall(per_set)["f1"]
            result[f"gold_pages_{extractor}_pages_per_s"] = overall(per_set)["pages_per_s"]
    elif args.compare_pages != 0:
        print(f"(no {html_dir}: extractor F1 skipped; set CURATION_SHARED_DATA)", file=sys.stderr)
    return result
