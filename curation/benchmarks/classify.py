"""`make bench-classify`: train the quality classifier on the shared reference corpora against real crawl
text only (the shared html/ pages and the shared WARC files' pages), report its site-grouped held-out metrics,
then time the filter job against a plain Python loop scoring the same real pages."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np

from curation.classifier import HOLDOUT_UNITS, UNIT_53, score_column, train_classifier
from curation.classify import filter_documents, lomax_draw
from curation.corpora import CorpusSpec, read_documents
from curation.features import murmur3_x86_32, spark_tokens
from curation.urls import declared_url


def loop_filter(
    input_dir: str, output: str, coefficients: np.ndarray, intercept: float, alpha: float, seed: int
) -> dict:
    """The single-process baseline: pyarrow in, a Python loop over documents computing the same score as the
    Spark pipeline (Spark's tokenizer rule, murmur3 feature hashing with a per-term cache, dot product,
    sigmoid) and a hashed Pareto draw (blake2b in place of xxhash64), pyarrow out."""
    import hashlib

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(input_dir)
    num_features = len(coefficients)
    buckets_of: dict[str, int] = {}
    scores, keep = [], []
    for doc_id, text in zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist()):
        if text is None or not text.strip():
            scores.append(None)
            keep.append(False)
            continue
        logit = intercept
        for token in spark_tokens(text):
            bucket = buckets_of.get(token)
            if bucket is None:
                bucket = buckets_of[token] = murmur3_x86_32(token.encode("utf-8")) % num_features
            logit += coefficients[bucket]
        score = 1.0 / (1.0 + math.exp(-logit)) if logit > -700 else 0.0
        digest = hashlib.blake2b(f"{seed}\0{doc_id}".encode(), digest_size=8).digest()
        u = ((int.from_bytes(digest, "big") >> 11) + 0.5) / UNIT_53
        scores.append(score)
        keep.append(bool(lomax_draw(u, alpha) > 1.0 - score))
    table = table.append_column("quality_score", pa.array(scores, pa.float64()))
    mask = pa.array(keep)
    os.makedirs(output, exist_ok=True)
    pq.write_table(table.filter(mask), f"{output}/kept.parquet")
    pq.write_table(table.filter(pc.invert(mask)), f"{output}/rejects.parquet")
    return {
        "documents_in": table.num_rows,
        "kept": int(sum(keep)),
        "scores": dict(zip(table.column("doc_id").to_pylist(), scores)),
    }


def html_pages_to_documents(html_dir: Path, output: Path) -> dict:
    """The shared html/ pages as crawl documents, one Parquet file per page set: main text by the project's
    extractor (resiliparse), `url` the page's own, else the one it declares; a page with neither is grouped by
    its set (its file) in a site-grouped split. Every page is a row (an empty text counts as no_tokens in
    training). Returns per set: pages, and how many had their URL given, declared or none."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    from curation.html_text import extract_resiliparse, parse_html

    output.mkdir(parents=True, exist_ok=True)
    counts = {}
    for path in sorted(html_dir.glob("*.jsonl.gz")):
        name, rows, tally = path.name.removesuffix(".jsonl.gz"), {"doc_id": [], "url": [], "text": []}, Counter()
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                page = json.loads(line)
                parsed = parse_html(page["html"])
                url = page.get("url") or declared_url(page["html"])
                tally["pages"] += 1
                tally["url_given" if page.get("url") else "url_declared" if url else "no_url"] += 1
                for column, value in (
                    ("doc_id", f"{name}/{page['id']}"),
                    ("url", url),
                    ("text", extract_resiliparse(parsed)),
                ):
                    rows[column].append(value)
        pq.write_table(pa.table(rows), output / f"{name}.parquet")
        counts[name] = dict(tally)
    return counts


def bench(argv: list[str] | None = None) -> dict:
    """Train on the shared reference corpora (webtext, wikipedia, books) against REAL crawl text only: the
    shared html/ pages and the shared WARC files' pages, extracted by the project's extractor; report the
    site-grouped held-out metrics; then time the filter job against `loop_filter` on the real extracted
    pages, replicated for a steady state. Without the shared data: the generated sample, `"corpus":
    "generated"`."""
    import argparse

    import pyarrow.parquet as pq

    from curation.benchmarks.harness import best_of, local_spark, per_core, scratch_dir, with_ratio
    from curation.extract import extract_to_parquet
    from curation.settings import shared_data_dir
    from curation.warc_records import ExtractOptions

    parser = argparse.ArgumentParser(prog="bench-classify")
    parser.add_argument(
        "--pages",
        type=int,
        default=int(os.environ.get("BENCH_PAGES", "2000")),
        help="generated pages, without the shared data only",
    )
    parser.add_argument("--cores", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--copies",
        type=int,
        default=12,
        help="copies of the real pages in the filter input "
        "(fixed per-job costs of a few seconds, e.g. loading the model, are amortized)",
    )
    parser.add_argument("--alpha", type=float, default=9.0)
    parser.add_argument("--num-features", type=int, default=1 << 18)
    parser.add_argument("--max-iter", type=int, default=50)
    parser.add_argument("--holdout-by", choices=HOLDOUT_UNITS, default="site")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    workdir, shared = scratch_dir("classify"), shared_data_dir()
    real = (shared / "html").is_dir() and (shared / "reference").is_dir()
    spark = local_spark("classify", args.cores)
    if real:
        reference = shared / "reference"
        pages = html_pages_to_documents(shared / "html", workdir / "html_pages")
        warcs = sorted(str(p) for p in (shared / "warc").glob("*.warc.gz"))
        extract_to_parquet(spark, warcs, str(workdir / "warc"), ExtractOptions(extractor="resiliparse"))
        negatives = [
            CorpusSpec("html_pages", str(workdir / "html_pages")),
            CorpusSpec("warc_pages", str(workdir / "warc" / "documents")),
        ]
    else:
        from curation.sample import generate_sample

        generate_sample(workdir / "sample", pages=args.pages, seed=args.seed)
        reference, pages = workdir / "sample" / "reference", {}
        crawl = sorted(str(p) for p in (workdir / "sample" / "crawl").glob("*.warc.gz"))
        extract_to_parquet(spark, crawl, str(workdir / "crawl"), ExtractOptions(extractor="resiliparse"))
        negatives = [CorpusSpec("sample_crawl", str(workdir / "crawl" / "documents"))]
    positives = [
        CorpusSpec("webtext", str(reference / "webtext.jsonl.gz")),
        CorpusSpec("wikipedia", str(reference / "wikipedia.jsonl.gz")),
        CorpusSpec("books", str(reference / "books.jsonl.gz"), strip_gutenberg=True),
    ]
    model_dir = str(workdir / "classifier")
    train_seconds, metrics = best_of(
        1,
        lambda: train_classifier(
            spark,
            positives,
            negatives,
            model_dir,
            num_features=args.num_features,
            max_iter=args.max_iter,
            holdout_by=args.holdout_by,
            seed=args.seed,
        ),
    )

    # the input to filter: the crawl pages only (what the filter meets), the same texts again under new ids
    from pyspark.sql import functions as F

    frames = [read_documents(spark, spec).select("doc_id", "text") for spec in negatives]
    frames = [
        frame.withColumn("doc_id", F.concat_ws("#", "doc_id", F.lit(str(copy))))
        for copy in range(args.copies)
        for frame in frames
    ]
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    input_dir = str(workdir / "filter_input")
    union.repartition(4 * args.cores).write.mode("overwrite").parquet(input_dir)
    documents = spark.read.parquet(input_dir)
    quiet = lambda _: None  # noqa: E731
    filter_documents(spark, model_dir, documents, str(workdir / "warmup"), alpha=args.alpha, seed=args.seed, log=quiet)
    spark_seconds, summary = best_of(
        args.repeat,
        lambda: filter_documents(
            spark, model_dir, documents, str(workdir / "spark"), alpha=args.alpha, seed=args.seed, log=quiet
        ),
    )
    from pyspark.ml import PipelineModel

    pipeline = PipelineModel.load(model_dir)  # context: scoring alone with Spark ML's own transform
    transform_seconds, _ = best_of(
        args.repeat,
        lambda: pipeline.transform(documents).select(score_column()).write.format("noop").mode("overwrite").save(),
    )
    written = (
        spark.read.parquet(str(workdir / "spark" / "kept"))
        .select("doc_id", "quality_score")
        .unionByName(spark.read.parquet(str(workdir / "spark" / "rejects")).select("doc_id", "quality_score"))
    )
    spark_scores = {r.doc_id: r.quality_score for r in written.collect()}  # bench only: ~3 x 10^4 small rows
    lr = pipeline.stages[-1]
    coefficients, intercept = lr.coefficients.toArray(), float(lr.intercept)
    spark.stop()
    loop_seconds, loop = best_of(
        args.repeat,
        lambda: loop_filter(input_dir, str(workdir / "loop"), coefficients, intercept, args.alpha, args.seed),
    )

    docs = summary["documents_in"]
    held, unseen = metrics["held_out"], metrics["held_out_unseen_sites"]
    result = {
        "bench": "classify",
        "corpus": "real" if real else "generated",
        "negatives": {spec.name: metrics["holdout"]["sides"][spec.name] for spec in negatives},
        "html_pages": pages,
        "holdout_by": args.holdout_by,
        "split_units": metrics["holdout"]["units"],
        "held_out_roc_auc": held.get("roc_auc"),
        "held_out_pr_auc": held.get("pr_auc"),
        "held_out_balanced_roc_auc": held.get("roc_auc_balanced"),
        "held_out_accuracy_at_0.5": held.get("accuracy_at_0.5"),
        "roc_auc_pairs": {
            p: {n: pair.get("roc_auc") for n, pair in pairs.items()} for p, pairs in metrics["held_out_pairs"].items()
        },
        "pr_auc_pairs": {
            p: {n: pair.get("pr_auc") for n, pair in pairs.items()} for p, pairs in metrics["held_out_pairs"].items()
        },
        "unseen_sites": {name: {k: v for k, v in part.items() if k != "positives"} for name, part in unseen.items()},
        "median_score": {name: s["score_quantiles"].get("0.5") for name, s in metrics["sources"].items()},
        "train_seconds": round(train_seconds, 1),
        "docs": docs,
        "input_chars": int(
            pq.read_table(input_dir, columns=["text"]).column("text").combine_chunks().to_pandas().str.len().sum()
        ),
        "cores": args.cores,
        "spark_docs_per_s_per_core": per_core(docs, spark_seconds, args.cores),
        "loop_docs_per_s_per_core": per_core(loop["documents_in"], loop_seconds),
        "spark_ml_transform_score_only_docs_per_s_per_core": per_core(docs, transform_seconds, args.cores),
        "alpha": args.alpha,
        "kept": summary["kept"],
        "expected_keep_rate": summary["expected_keep_rate"],
        "loop_kept": loop["kept"],
        "loop_vs_spark_max_score_diff": round(
            max(
                (abs(spark_scores[d] - s) for d, s in loop["scores"].items() if s is not None and d in spark_scores),
                default=0.0,
            ),
            6,
        ),
        "reference": str(reference),
        "workdir": str(workdir),
    }
    return with_ratio(result)
