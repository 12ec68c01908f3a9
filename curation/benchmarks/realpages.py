"""The real data every benchmark measures: the real-page crawl, its extracted documents, gold text.

`curation.realcrawl` wraps the ~2,200 real pages of ../shared/data/html (with planted copies) into
Common-Crawl-like WARC shards. Builds and their extractions are cached under data/bench/ by their
parameters, so the dedup benchmark's 100,000 responses are built and extracted once, not per run.
Without the shared data the benchmarks fall back to the generated sample and say so in their
JSON line (`"corpus": "generated"`).
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

from curation.settings import PROJECT_ROOT, shared_data_dir

BENCH_DATA = PROJECT_ROOT / "data" / "bench"
CRAWL_SHARDS = 16  # WARC files per throughput crawl: every size splits into as many tasks, and builds are shared
WORD = re.compile(r"\w+", re.UNICODE)


def real_data_present() -> bool:
    return (shared_data_dir() / "html").is_dir() and (shared_data_dir() / "reference").is_dir()


def corpus_label() -> str:
    """What a benchmark measured: "real" (../shared/data) or "generated" (the sample generator)."""
    return "real" if real_data_present() else "generated"


def bench_crawl(responses: int, shards: int, seed: int = 0) -> Path:
    """The real-page crawl of `responses` responses in `shards` WARC files (built once, then reused)."""
    from curation.realcrawl import build_realcrawl

    root = BENCH_DATA / f"realcrawl-{responses}-{shards}-{seed}"
    build_realcrawl(root, responses=responses, shards=shards, seed=seed)
    return root


def crawl_shards(root: Path) -> list[str]:
    return sorted(str(p) for p in (root / "crawl").glob("*.warc.gz"))


def extracted_documents(spark, root: Path, extractor: str) -> str:
    """Documents extracted from the crawl at `root` (Parquet), extracted once per extractor."""
    from curation.extract import extract_to_parquet
    from curation.warc_records import ExtractOptions

    output = root / f"extract-{extractor}"
    if not (output / "summary.json").exists():
        extract_to_parquet(spark, crawl_shards(root), str(output), ExtractOptions(extractor=extractor))
    return str(output / "documents")


def generated_documents(spark, root: Path, pages: int, seed: int, shards: int = 4, reference_docs: int = 300) -> str:
    """Without the shared data: the generated sample under `root` (with its reference/ and benchmarks/) and its
    crawl's documents, extracted with resiliparse into `root`/extract; returns the documents' path."""
    from curation.extract import extract_to_parquet
    from curation.sample import generate_sample
    from curation.warc_records import ExtractOptions

    generate_sample(root, pages=pages, seed=seed, shards=shards, reference_docs=reference_docs)
    crawl = sorted(str(p) for p in (root / "crawl").glob("sample-0*.warc.gz"))
    extract_to_parquet(spark, crawl, str(root / "extract"), ExtractOptions(extractor="resiliparse"))
    return str(root / "extract" / "documents")


def read_truth(root: Path) -> list[dict]:
    with open(root / "truth.jsonl", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def gold_pages() -> dict[tuple[str, str], dict]:
    """The gold-annotated real pages of ../shared/data/html by (set, id), as the crawl's truth names them."""
    pages = {}
    for path in sorted((shared_data_dir() / "html").glob("*.jsonl.gz")):
        name = path.name.removesuffix(".jsonl.gz")
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                page = json.loads(line)
                pages[(name, str(page["id"]))] = {**page, "set": name}
    return pages


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
