"""`make bench-rules`: the rules stage (jobs/rules.py) against a plain loop of the same pure functions, on
real extracted pages; the share of documents each rule drops; language-ID accuracy on labelled real pages.

The pages: the shared WARC files (extracted with `process_archive`) and the gold-annotated HTML sets
(extracted with `extract_text`): 2,315 real documents, replicated `--copies` times (default 8: 18,520
documents) so that the job's fixed costs (starting the Python workers, the write's commit, renaming the
outcome partitions) are amortized as on a real crawl. The workers are started on one input file before
the timed run, as a long job's would have been.

Labels for language ID: Common Crawl's own metadata records (CLD2's language per page) for the CC excerpt,
Japanese for the ClueWeb09 Japanese crawl, Aragonese for the one CC-MAIN-2024-22 page, English for the
English crawls (wget samples, data.gov.uk) and the English HTML sets, and for WebText and Wikipedia.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

from curation.html_text import extract_text
from curation.warc_records import ExtractOptions, process_archive

# language of every page of a shared WARC file, where one language is known for the whole file
FILE_LANGUAGES = {
    "clueweb09-ja-warc018-quirk.warc.gz": "ja",
    "cc-main-2024-22-one-page.warc.gz": "an",
    "wget-sample-0000.warc.gz": "en",
    "wget-sample-0001.warc.gz": "en",
    "heritrix-BL-20140325121225068-00000-32090-opera-8443.warc.gz": "en",
    "heritrix-BL-20140325122341434-00000-32090-opera-8443.warc.gz": "en",
}
ENGLISH_HTML_SETS = ("dragnet", "cleaneval-final")
ENGLISH_REFERENCE = ("webtext", "wikipedia")


def cc_metadata_languages(warc_path: Path) -> dict[str, str]:
    """{target URI: CLD2's top language} from Common Crawl's metadata records (`languages-cld2`)."""
    from warcio.archiveiterator import ArchiveIterator

    languages = {}
    with open(warc_path, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "metadata":
                continue
            for line in record.content_stream().read().decode("utf-8", "replace").splitlines():
                if line.startswith("languages-cld2:"):
                    found = json.loads(line.split(":", 1)[1])["languages"]
                    if found:
                        languages[record.rec_headers.get_header("WARC-Target-URI")] = found[0]["code"]
    return languages


def real_pages(shared: Path, html_per_set: int | None = None) -> list[dict]:
    """Real documents {doc_id, url, text, label} (label: the language when known, else None): every page
    extracted from the shared WARC files and `html_per_set` pages of each HTML set (default: all)."""
    pages = []
    options = ExtractOptions(extractor="resiliparse")
    for path in sorted((shared / "warc").glob("*.warc.gz")):
        cc_labels = cc_metadata_languages(path) if path.name.startswith("cc-main-2020") else {}
        documents, _ = process_archive(str(path), options)
        for doc in documents:
            label = cc_labels.get(doc["url"]) or FILE_LANGUAGES.get(path.name)
            pages.append({"doc_id": doc["doc_id"], "url": doc["url"], "text": doc["text"], "label": label})
    for path in sorted((shared / "html").glob("*.jsonl.gz")):
        name = path.name.removesuffix(".jsonl.gz")
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines):
                if html_per_set is not None and number >= html_per_set:
                    break
                page = json.loads(line)
                try:
                    text = extract_text(page["html"], "resiliparse")
                except Exception:  # noqa: BLE001 - a page the extractor fails on is not a document
                    continue
                pages.append(
                    {
                        "doc_id": f"{name}/{page['id']}",
                        "url": page.get("url"),
                        "text": text,
                        "label": "en" if name in ENGLISH_HTML_SETS else None,
                    }
                )
    return pages


def reference_pages(shared: Path, per_corpus: int) -> list[dict]:
    """The first `per_corpus` documents of each English reference corpus, labelled English."""
    pages = []
    for name in ENGLISH_REFERENCE:
        with gzip.open(shared / "reference" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as lines:
            for number, line in zip(range(per_corpus), lines):
                doc = json.loads(line)
                pages.append(
                    {
                        "doc_id": f"{name}/{doc.get('id', number)}",
                        "url": doc.get("url"),
                        "text": doc["text"],
                        "label": "en",
                    }
                )
    return pages


def language_accuracy(pages: list[dict]) -> dict:
    """Share of labelled pages whose CLD2 language is the label, overall and per label."""
    from curation.rules.language import identify_language

    right, total = Counter(), Counter()
    for page in pages:
        if page["label"] and page["text"].strip():
            total[page["label"]] += 1
            right[page["label"]] += identify_language(page["text"])[0] == page["label"]
    return {
        "pages": sum(total.values()),
        "accuracy": round(sum(right.values()) / max(sum(total.values()), 1), 4),
        "per_language": {label: f"{right[label]}/{total[label]}" for label, _ in total.most_common()},
    }


def bench(argv: list[str] | None = None) -> dict:
    """Time the rules stage in Spark and a plain loop of `decide` over the same real pages."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curation.benchmarks.harness import bench_parser, best_of, local_spark, per_core, scratch_dir, with_ratio
    from curation.rules.stage import RulesOptions, decide, rules_documents
    from curation.settings import shared_data_dir

    parser = bench_parser("bench-rules")
    parser.add_argument(
        "--copies", type=int, default=8, help="copies of the real pages (steady state; 8: 18,520 documents)"
    )
    parser.add_argument("--html-pages", type=int, default=None, help="pages per HTML set (default: all)")
    args = parser.parse_args(argv)
    shared = shared_data_dir()
    if not (shared / "warc").is_dir():
        raise SystemExit(f"bench-rules needs the real pages in {shared} (set CURATION_SHARED_DATA)")
    pages = real_pages(shared, args.html_pages)
    workdir = scratch_dir("rules")
    table = pa.table(
        {
            "doc_id": [f"{p['doc_id']}#{copy}" for copy in range(args.copies) for p in pages],
            "url": [p["url"] for _ in range(args.copies) for p in pages],
            "text": [p["text"] for _ in range(args.copies) for p in pages],
        }
    )
    input_dir = workdir / "input"
    input_dir.mkdir()
    for part in range(4 * args.cores):  # several files: one Spark task each
        pq.write_table(
            table.slice(
                part * len(table) // (4 * args.cores),
                (part + 1) * len(table) // (4 * args.cores) - part * len(table) // (4 * args.cores),
            ),
            input_dir / f"part-{part:03d}.parquet",
        )
    options = RulesOptions()
    spark = local_spark("rules", args.cores)
    documents = spark.read.parquet(str(input_dir))
    rules_documents(spark, spark.read.parquet(str(input_dir / "part-000.parquet")), str(workdir / "warmup"), options)
    spark_seconds, summary = best_of(
        args.repeat, lambda: rules_documents(spark, documents, str(workdir / "spark"), options)
    )
    spark.stop()
    texts, urls = table.column("text").to_pylist(), table.column("url").to_pylist()
    loop_seconds, loop = best_of(
        args.repeat, lambda: Counter(decide(text, url, options).reason for text, url in zip(texts, urls))
    )
    docs = summary["documents_in"]
    result = {
        "bench": "rules",
        "corpus": "real",
        "docs": docs,
        "distinct_pages": len(pages),
        "copies": args.copies,
        "cores": args.cores,
        "spark_seconds": round(spark_seconds, 1),
        "loop_seconds": round(loop_seconds, 1),
        "spark_docs_per_s_per_core": per_core(docs, spark_seconds, args.cores),
        "loop_docs_per_s_per_core": per_core(docs, loop_seconds),
        "loop_agrees": dict(loop) == {**summary["rejected_by_reason"], "kept": summary["kept"]},
        "keep_rate": summary["keep_rate"],
        "dropped_share_by_reason": {reason: round(n / docs, 4) for reason, n in summary["rejected_by_reason"].items()},
        "c4_lines_removed_per_kept_doc": round(summary["c4"]["lines_removed"] / max(summary["kept"], 1), 2),
        "pii": summary["pii"],
        "language_id": language_accuracy(pages + reference_pages(shared, 300)),
    }
    return with_ratio(result)
