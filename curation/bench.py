"""Benchmarks: `python -m curation.bench STAGE`. Each prints a table and, last, one JSON line.

Throughput is reported per core, and each run measures its own baseline (the plain library
loop) on the same machine at the same time: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from curation.extract import EXTRACTORS, ExtractOptions, extract_text, extract_to_parquet, process_archive
from curation.sample import generate_sample
from curation.settings import shared_data_dir

WORD = re.compile(r"\w+", re.UNICODE)
GOLD_MARKUP = re.compile(r"<[^>]{0,20}>")


def gold_text(gold: str) -> str:
    """Gold text without CleanEval's `URL:` line and <p>/<h>/<l> markers."""
    if gold.startswith("URL:"):
        gold = gold.split("\n", 1)[1] if "\n" in gold else ""
    return GOLD_MARKUP.sub(" ", gold)


def bag_of_words_f1(predicted: str, gold: str) -> float:
    """F1 of the word multisets (lower-cased), the usual extraction score."""
    pred, ref = Counter(WORD.findall(predicted.lower())), Counter(WORD.findall(gold.lower()))
    if not pred or not ref:
        return float(pred == ref)
    overlap = sum((pred & ref).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


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
            results[extractor][name] = {"pages": len(pages), "f1": round(sum(f1) / len(f1), 3),
                                        "pages_per_s": round(len(pages) / seconds, 1)}
    return results


def overall(per_set: dict) -> dict:
    pages = sum(r["pages"] for r in per_set.values())
    return {
        "f1": round(sum(r["f1"] * r["pages"] for r in per_set.values()) / pages, 3),
        "pages_per_s": round(pages / sum(r["pages"] / r["pages_per_s"] for r in per_set.values()), 1),
    }


def best_of(repeat: int, run) -> tuple[float, object]:
    """(fastest wall time, result) over `repeat` runs: the least disturbed measurement."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
    return min(timings), result


def bench_extract(args) -> dict:
    from curation.spark import get_spark

    workdir = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    generate_sample(workdir / "sample", pages=args.pages, seed=args.seed, shards=args.shards)
    shards = sorted(str(p) for p in (workdir / "sample" / "crawl").glob("sample-0*.warc.gz"))
    options = ExtractOptions(extractor=args.extractor)
    cores = args.cores

    spark = get_spark("bench-extract", master=f"local[{cores}]", conf={"spark.ui.showConsoleProgress": "false"})
    extract_to_parquet(spark, shards, str(workdir / "warmup"), options)  # JVM, JIT and Python workers warm up
    spark_seconds, summary = best_of(args.repeat, lambda: extract_to_parquet(spark, shards, str(workdir / "spark"), options))
    spark.stop()
    loop_seconds, loop_docs = best_of(args.repeat, lambda: sum(len(process_archive(p, options)[0]) for p in shards))

    docs = summary["documents"]
    result = {
        "bench": "extract",
        "extractor": args.extractor,
        "docs": docs,
        "files": len(shards),
        "cores": cores,
        "spark_docs_per_s_per_core": round(docs / spark_seconds / cores, 1),
        "loop_docs_per_s_per_core": round(loop_docs / loop_seconds, 1),
    }
    result["ratio"] = round(result["spark_docs_per_s_per_core"] / result["loop_docs_per_s_per_core"], 3)
    html_dir = shared_data_dir() / "html"
    if args.html_pages != 0 and html_dir.is_dir():
        quality = evaluate_extractors(html_dir, args.html_pages)
        print_f1_table(quality)
        for extractor, per_set in quality.items():
            result[f"{extractor}_f1"] = overall(per_set)["f1"]
            result[f"{extractor}_pages_per_s"] = overall(per_set)["pages_per_s"]
    elif args.html_pages != 0:
        print(f"(no {html_dir}: extractor F1 skipped; set CURATION_SHARED_DATA)", file=sys.stderr)
    return result


def print_f1_table(quality: dict) -> None:
    sets = sorted(next(iter(quality.values())))
    print("| extractor | " + " | ".join(sets) + " | all: F1 | all: pages/s |")
    print("|---" * (len(sets) + 3) + "|")
    for extractor, per_set in quality.items():
        cells = " | ".join(f"{per_set[s]['f1']:.3f}" for s in sets)
        total = overall(per_set)
        print(f"| {extractor} | {cells} | {total['f1']:.3f} | {total['pages_per_s']} |")


STAGE_BENCHES = {  # stage -> module whose bench(argv) -> dict runs Spark and the plain loop
    "classifier": "curation.classify",
    "dedup": "curation.dedup",
    "decontam": "curation.decontaminate",
    "mixture": "curation.mixture",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in STAGE_BENCHES:
        import importlib

        result = importlib.import_module(STAGE_BENCHES[argv[0]]).bench(argv[1:])
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(prog="python -m curation.bench", description=f"stages: extract, {', '.join(STAGE_BENCHES)}")
    sub = parser.add_subparsers(dest="stage", required=True)
    extract = sub.add_parser("extract", help="Spark extraction job vs a plain loop; extractor F1")
    extract.add_argument("--pages", type=int, default=int(os.environ.get("BENCH_PAGES", "32000")))
    extract.add_argument("--shards", type=int, default=4, help="input files (one Spark task each)")
    extract.add_argument("--repeat", type=int, default=2)
    extract.add_argument("--seed", type=int, default=0)
    extract.add_argument("--cores", type=int, default=min(2, os.cpu_count() or 1))
    extract.add_argument("--extractor", choices=sorted(EXTRACTORS), default=ExtractOptions.extractor)
    extract.add_argument("--html-pages", type=int, default=None, help="pages per gold set (default: all; 0: skip the F1 evaluation)")
    args = parser.parse_args(argv)
    print(json.dumps(bench_extract(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
