"""`make bench-mixture`: the mixture job (tokenize, write shards and manifest) vs a plain tokenize-and-write
loop over the same documents, tokens/s per core; real pages' extracted text when the shared data is there."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.benchmarks.harness import (
    bench_parser,
    best_of,
    local_spark,
    scratch_dir,
)
from curation.benchmarks.realpages import (
    CRAWL_SHARDS,
    bench_crawl,
    corpus_label,
    extracted_documents,
    generated_documents,
)
from curation.corpora import parse_corpus_spec
from curation.manifest import load_manifest
from curation.mixture import DatasetSpec, MixtureOptions, build_mixture
from curation.tokenizer import (
    EOT,
    document_encoder,
    encode_documents,
    eot_id,
    load_gpt2,
    token_dtype,
    train_bpe,
    vocab_size,
)


def bench_documents(spark, docs: int, workdir: Path, seed: int) -> list[tuple[str, str]]:
    """(doc_id, text) of `docs` documents extracted from the real-page crawl, else of the generated sample."""
    if corpus_label() == "real":
        path = extracted_documents(spark, bench_crawl(25_000, CRAWL_SHARDS, seed), "resiliparse")
    else:
        path = generated_documents(spark, workdir / "sample", pages=max(600, docs * 2), seed=seed)
    table = pq.read_table(path, columns=["doc_id", "text"])
    rows = sorted(zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist()))
    return [(doc_id, text) for doc_id, text in rows if text][:docs]


def loop_baseline(rows: list[tuple[str, str]], tokenizer, out: Path) -> tuple[float, float, int]:
    """The plain single-process library loop: (seconds tokenizing, seconds writing + hashing, tokens)."""
    encoder, eot = document_encoder(tokenizer), eot_id(tokenizer)
    dtype = token_dtype(vocab_size(tokenizer))
    texts = [text for _, text in sorted(rows)]
    started = time.perf_counter()
    chunks = [encode_documents(encoder, texts[i : i + 1024], eot, dtype) for i in range(0, len(texts), 1024)]
    tokenized = time.perf_counter()
    digest = hashlib.sha256()
    with open(out, "wb") as stream:
        for tokens, _ in chunks:
            data = tokens.tobytes()
            stream.write(data)
            digest.update(data)
    np.save(out.with_suffix(".idx"), np.cumsum(np.concatenate([[0]] + [lengths for _, lengths in chunks])))
    return tokenized - started, time.perf_counter() - tokenized, sum(len(tokens) for tokens, _ in chunks)


def bench(argv: list[str] | None = None) -> dict:
    """`make bench-mixture`: the Spark mixture job vs a plain tokenize-and-write loop, tokens/s per core."""
    parser = bench_parser("bench-mixture", repeat=2)
    parser.add_argument("--docs", type=int, default=int(os.environ.get("BENCH_DOCS", "10000")))
    parser.add_argument("--vocab-size", type=int, default=8192)
    args = parser.parse_args(argv)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the loop baseline runs on one core

    workdir = scratch_dir("mixture")
    spark = local_spark("mixture", args.cores)
    rows = bench_documents(spark, args.docs, workdir, args.seed)
    table = pa.table({"doc_id": [r[0] for r in rows], "text": [r[1] for r in rows]})
    (workdir / "input").mkdir()
    files = args.cores * 2
    cuts = [i * len(rows) // files for i in range(files + 1)]
    for i in range(files):
        pq.write_table(table.slice(cuts[i], cuts[i + 1] - cuts[i]), workdir / "input" / f"part-{i}.parquet")
    text_bytes = sum(len(text.encode("utf-8")) for _, text in rows)
    tokenizer = train_bpe([text[:4000] for _, text in rows[:: max(1, len(rows) // 1000)]], args.vocab_size)
    vocab, merges = tokenizer.model.save(str(workdir))
    loaded = load_gpt2(vocab, merges)  # what the job will load: compare like with like

    specs = [DatasetSpec("bench", parse_corpus_spec(f"bench={workdir / 'input'}"), 1.0, 1.0)]
    options = MixtureOptions(
        token_budget=max(1, text_bytes // 4),
        gpt2_files=(vocab, merges),
        shard_text_bytes=max(1, text_bytes // (args.cores * 4)),
    )
    build_mixture(spark, specs, str(workdir / "warmup"), options)  # JVM, JIT and Python workers warm up
    spark_runs, runs = [], []
    for _ in range(max(1, args.repeat)):  # alternated, so that a change in the machine's load hits both paths
        spark_runs.append(best_of(1, lambda: build_mixture(spark, specs, str(workdir / "spark"), options)))
        runs.append(loop_baseline(rows, loaded, workdir / "loop.bin"))
    spark.stop()
    spark_seconds, summary = min(spark_runs, key=lambda run: run[0])  # the fastest, with its phases
    tokenize_s, write_s, loop_tokens = min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]
    loop_seconds = tokenize_s + write_s

    mixture = load_manifest(workdir / "spark")
    decoder = mixture.tokenizer()
    decoded = Counter(
        decoder.decode(shard.document(i).tolist(), skip_special_tokens=False).removesuffix(EOT)
        for shard in mixture.datasets["bench"].shards
        for i in range(shard.documents)
    )
    round_trip = decoded == Counter(text.replace("\r\n", "\n").replace("\r", "\n") for _, text in rows)
    shutil.rmtree(workdir, ignore_errors=True)
    docs, tokens, cores = summary["documents"], summary["tokens"], args.cores
    spark_seconds_total = round(spark_seconds, 3)
    result = {
        "bench": "mixture",
        "corpus": corpus_label(),
        "docs": docs,
        "tokens": tokens,
        "shards": summary["shards"],
        "cores": cores,
        "vocab_size": summary["vocab_size"],
        "spark_docs_per_s_per_core": round(docs / spark_seconds / cores, 1),
        "loop_docs_per_s_per_core": round(len(rows) / loop_seconds, 1),
        "spark_tokens_per_s_per_core": round(tokens / spark_seconds / cores),
        "loop_tokens_per_s_per_core": round(loop_tokens / loop_seconds),
        "loop_tokenize_tokens_per_s": round(loop_tokens / tokenize_s),
        "loop_write_tokens_per_s": round(loop_tokens / write_s),
        "bytes_per_token": round(text_bytes / tokens, 3),
        "same_tokens_as_loop": tokens == loop_tokens,
        "round_trip_ok": round_trip,
        "spark_seconds": spark_seconds_total,
        "spark_phases_s": summary["seconds"],  # where the fastest Spark run's time went
    }
    result["ratio"] = round(result["spark_tokens_per_s_per_core"] / result["loop_tokens_per_s_per_core"], 3)
    print("| path | tokens/s per core | docs/s per core |")
    print("|---|---|---|")
    print(
        f"| Spark job (tokenize + write shards + manifest) | {result['spark_tokens_per_s_per_core']:,} | "
        f"{result['spark_docs_per_s_per_core']} |"
    )
    print(f"| loop: tokenize | {result['loop_tokenize_tokens_per_s']:,} | |")
    print(f"| loop: write + sha256 | {result['loop_write_tokens_per_s']:,} | |")
    print(f"| loop: both | {result['loop_tokens_per_s_per_core']:,} | {result['loop_docs_per_s_per_core']} |")
    return result
