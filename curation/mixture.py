"""The weighted training mixture: tokenized shards per dataset and a manifest the trainer reads.

GPT-3 sampled its datasets by weight, not by size (Table 2.2): Common Crawl 60% of 300B tokens
is 0.44 epochs of it, Wikipedia 3% is 3.4 epochs. This stage states that mixture precisely:

  OUTPUT/manifest.json          versioned (MANIFEST_SCHEMA); per dataset its weight, documents,
                                tokens, epochs at the budget, shard files with sizes and sha256,
                                and where it came from; top level the tokenizer, EOT id, budget, n_ctx
  OUTPUT/manifest.schema.json   the JSON Schema the manifest validates against
  OUTPUT/tokenizer.json         the byte-level BPE (HF `tokenizers` format), + vocab.json/merges.txt
  OUTPUT/shards/NAME/HASH.bin   flat little-endian token ids (uint16, or uint32 for vocabularies
                                over 65,536), `<|endoftext|>` after every document
  OUTPUT/shards/NAME/HASH.idx   .npy uint64 document offsets into the .bin (n_docs + 1 values)
  OUTPUT/summary.json           headline counts; every input document is tokenized or dropped as
                                `empty_text` (null or "") or `parse_error` (unreadable input record)

Shards are written by Spark tasks straight to OUTPUT, which must therefore be a local or shared
filesystem (the trainer memory-maps the files anyway). A document goes to shard
pmod(xxhash64(doc_id), n) and documents are sorted by doc_id within a shard, so the same input
gives the same shards, byte for byte, however it is partitioned; each file is named by the
sha256 of its tokens, and is never rewritten. `load_manifest` checks every checksum and hands
out memory-mapped arrays.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa

import curation
from curation.corpora import CorpusSpec, parse_corpus_spec, read_spec
from curation.job import EXIT_BAD_INPUT, EXIT_CONFIG, SparkJob, write_json
from curation.settings import PROJECT_ROOT
from curation.spark import ConfigError
from curation.tokenizer import (
    EOT,
    GPT2_VOCAB_SIZE,
    MIN_VOCAB_SIZE,
    document_encoder,
    encode_documents,
    eot_id,
    load_gpt2,
    token_dtype,
    train_bpe,
    vocab_size,
)

MANIFEST_SCHEMA_NAME = "curation.mixture.manifest"
MANIFEST_VERSION = 1
DEFAULT_WEIGHTS = PROJECT_ROOT / "curation" / "weights" / "gpt3.json"
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
HASH_NAME_CHARS = 20  # hex digits of the sha256 in a shard's file name
READ_CHUNK = 1 << 24
DROP_REASONS = ("empty_text", "parse_error")  # why an input document is not in the shards

# --- weights --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    corpus: CorpusSpec  # where and how to read it (Parquet, JSONL, text; Gutenberg stripping, ...)
    weight: float  # renormalized: the weights of a mixture sum to 1
    weight_given: float  # as written in the weights file or on the command line

    @property
    def path(self) -> str:
        return self.corpus.path


@dataclass(frozen=True)
class WeightsFile:
    path: str
    weights: dict[str, float]
    token_budget: int | None = None
    n_ctx: int | None = None
    max_epochs: float | None = None


def parse_dataset_arg(spec: str) -> tuple[str, str, float | None]:
    """`NAME=PATH[,key=value...][:WEIGHT]` -> (name, path with its reader options, weight or None).

    PATH may itself hold colons (s3a://...); the reader options are curation.corpora's."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise ConfigError(f"--dataset must look like NAME=PATH:WEIGHT, got {spec!r}")
    path, weight = rest, None
    head, colon, tail = rest.rpartition(":")
    if colon and head and not tail.startswith("//"):
        try:
            weight = float(tail)
        except ValueError:
            pass
        else:
            path = head
    return name, path, weight


def read_weights_file(path: str) -> WeightsFile:
    """A JSON weights file: {"datasets": {NAME: WEIGHT or {"weight": W, ...}}, "token_budget": ...}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"weights file not found: {path}") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"weights file {path} is not readable JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict) or not data["datasets"]:
        raise ConfigError(f'weights file {path} needs a non-empty "datasets" object of NAME: WEIGHT')
    weights = {}
    for name, entry in data["datasets"].items():
        weight = entry.get("weight") if isinstance(entry, dict) else entry
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ConfigError(f"weights file {path}: dataset {name!r} has no numeric weight")
        weights[name] = float(weight)
    budget = data.get("token_budget")
    return WeightsFile(path, weights, int(budget) if budget is not None else None, data.get("n_ctx"),
                       data.get("max_epochs"))


def resolve_mixture(dataset_args: list[str], weights_file: WeightsFile | None) -> tuple[list[DatasetSpec], list[str]]:
    """The datasets to tokenize, with renormalized weights, and the names left out for weight 0.

    Without a weights file every --dataset carries its weight; with one, --dataset supplies the
    paths (and may override a weight), and every dataset the file weights above 0 needs a path.
    """
    given: dict[str, tuple[str, float | None]] = {}
    for spec in dataset_args:
        name, path, weight = parse_dataset_arg(spec)
        if not DATASET_NAME.match(name):
            raise ConfigError(f"dataset name {name!r} must be letters, digits, '_', '.' or '-'")
        if name in given:
            raise ConfigError(f"dataset {name!r} is given twice")
        given[name] = (path, weight)
    if weights_file is None:
        if not given:
            raise ConfigError("no datasets: give --dataset NAME=PATH:WEIGHT (one or more) or --weights FILE")
        for name, (_, weight) in given.items():
            if weight is None:
                raise ConfigError(f"dataset {name!r} has no weight: write --dataset {name}=PATH:WEIGHT or give --weights FILE")
        weights = {name: weight for name, (_, weight) in given.items()}
    else:
        unknown = sorted(set(given) - set(weights_file.weights))
        if unknown:
            raise ConfigError(f"unknown dataset {unknown[0]!r}: not in weights file {weights_file.path} "
                              f"(it has {', '.join(weights_file.weights)})")
        weights = {name: given[name][1] if name in given and given[name][1] is not None else weight
                   for name, weight in weights_file.weights.items()}
    for name, weight in weights.items():
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"dataset {name!r} has weight {weight}: weights must be finite and not negative")
    total = sum(weights.values())
    if total <= 0:
        raise ConfigError("all dataset weights are zero: at least one must be positive")
    specs, zero_weight = [], []
    for name, weight in weights.items():
        if weight == 0:
            zero_weight.append(name)
            continue
        if name not in given:
            raise ConfigError(f"dataset {name!r} has weight {weight} in {weights_file.path} but no path: "
                              f"give --dataset {name}=PATH (or {name}=PATH:0 to leave it out)")
        corpus = parse_corpus_spec(f"{name}={given[name][0]}")
        if "://" not in corpus.path and not os.path.exists(corpus.path):
            raise ConfigError(f"dataset {name!r}: input path does not exist: {corpus.path}")
        specs.append(DatasetSpec(name, corpus, weight / total, weight))
    return specs, zero_weight


def reader_options(corpus: CorpusSpec) -> dict:
    return {"format": corpus.fmt, "text_field": corpus.text_field, "id_field": corpus.id_field,
            "strip_gutenberg": corpus.strip_gutenberg}


def epochs_at_budget(weight: float, token_budget: int, tokens: int) -> float:
    """How many times the trainer goes through a dataset: its share of the budget over its size."""
    return weight * token_budget / tokens


def epoch_warnings(datasets: list[dict], token_budget: int, max_epochs: float) -> list[str]:
    return [
        f"dataset {d['name']!r} would be repeated {d['epochs']:.2f} epochs at a budget of {token_budget:,} tokens "
        f"(more than the limit of {max_epochs}; GPT-3's most was 3.4)"
        for d in datasets if d["epochs"] > max_epochs
    ]


# --- shards ---------------------------------------------------------------------------------

SHARD_META_SCHEMA = pa.schema([
    ("shard", pa.int64()),
    ("tokens_file", pa.string()),
    ("index_file", pa.string()),
    ("documents", pa.int64()),
    ("tokens", pa.int64()),
    ("bytes", pa.int64()),
    ("sha256", pa.string()),
    ("index_bytes", pa.int64()),
    ("index_sha256", pa.string()),
])


class ShardWriter:
    """One shard: tokens stream to a temporary file while hashed, then both files take the hash's name."""

    def __init__(self, shard_dir: str, shard: int, dtype: np.dtype):
        self.shard_dir, self.shard, self.dtype = shard_dir, shard, dtype
        self.temp = os.path.join(shard_dir, f".tmp-{shard:05d}-{uuid.uuid4().hex}.bin")
        self.stream = open(self.temp, "wb")
        self.digest = hashlib.sha256()
        self.lengths: list[np.ndarray] = []

    def add(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        data = tokens.astype(self.dtype, copy=False).tobytes()
        self.stream.write(data)
        self.digest.update(data)
        self.lengths.append(lengths)

    def finish(self) -> dict:
        self.stream.close()
        lengths = np.concatenate(self.lengths)
        offsets = np.zeros(len(lengths) + 1, dtype="<u8")
        np.cumsum(lengths, out=offsets[1:])
        sha = self.digest.hexdigest()
        stem = os.path.join(self.shard_dir, sha[:HASH_NAME_CHARS])
        os.replace(self.temp, stem + ".bin")  # same content, same name: a retried task is harmless
        buffer = io.BytesIO()
        np.save(buffer, offsets, allow_pickle=False)
        index = buffer.getvalue()
        with open(stem + ".idx.tmp-" + uuid.uuid4().hex, "wb") as out:
            out.write(index)
        os.replace(out.name, stem + ".idx")
        return {
            "shard": self.shard,
            "tokens_file": os.path.basename(stem) + ".bin",
            "index_file": os.path.basename(stem) + ".idx",
            "documents": len(lengths),
            "tokens": int(offsets[-1]),
            "bytes": int(offsets[-1]) * self.dtype.itemsize,
            "sha256": sha,
            "index_bytes": len(index),
            "index_sha256": hashlib.sha256(index).hexdigest(),
        }


def write_shard_batches(batches, *, shard_dir: str, tokenizer_json: str, dtype: str):
    """mapInArrow body: (shard, doc_id, text) sorted by shard then doc_id -> one metadata row per shard."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core per Spark task
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    encoder, eot, token_type = document_encoder(tokenizer), eot_id(tokenizer), np.dtype(dtype)
    writer = None
    for batch in batches:
        shards = batch.column("shard").to_numpy()
        texts = batch.column("text").to_pylist()
        cuts = [0, *(np.flatnonzero(np.diff(shards)) + 1).tolist(), len(shards)]
        for start, end in zip(cuts, cuts[1:]):
            if start == end:
                continue
            shard = int(shards[start])
            if writer is not None and writer.shard != shard:
                yield pa.RecordBatch.from_pylist([writer.finish()], schema=SHARD_META_SCHEMA)
                writer = None
            if writer is None:
                writer = ShardWriter(shard_dir, shard, token_type)
            writer.add(*encode_documents(encoder, texts[start:end], eot, token_type))
    if writer is not None:
        yield pa.RecordBatch.from_pylist([writer.finish()], schema=SHARD_META_SCHEMA)


def shard_count(text_bytes: int, shard_text_bytes: int) -> int:
    return max(1, math.ceil(text_bytes / shard_text_bytes))


# --- the Spark side -------------------------------------------------------------------------


@dataclass(frozen=True)
class MixtureOptions:
    token_budget: int
    n_ctx: int = 2048
    max_epochs: float = 3.4
    vocab_size: int = GPT2_VOCAB_SIZE
    tokenizer_sample_docs: int = 20_000
    tokenizer_sample_chars: int = 4_000
    seed: int = 0
    shard_text_bytes: int = 512 << 20
    gpt2_files: tuple[str, str] | None = None  # (vocab.json, merges.txt)
    weights_file: str | None = None
    zero_weight: tuple[str, ...] = ()
    provenance: dict = field(default_factory=dict)  # dataset name -> extra provenance (--provenance)


def read_documents(spark, corpus: CorpusSpec):
    """(doc_id, text, parse_error) of a dataset: Parquet, JSONL(.gz), text files, via curation.corpora."""
    return read_spec(spark, corpus).select("doc_id", "text", "parse_error")


def shard_routes(spark, shards: int) -> list[int]:
    """For each shard k, a key that Spark's hash partitioning sends to partition k, so that every
    shard gets a task of its own (hashing the shard numbers themselves would pile some together)."""
    from pyspark.sql import functions as F

    routes: dict[int, int] = {}
    start = 0
    while len(routes) < shards:  # 64 candidates a shard leave one unrouted with odds ~ shards * e^-64
        candidates = spark.range(start, start + 64 * shards, numPartitions=1)
        for row in candidates.select("id", F.pmod(F.hash("id"), F.lit(shards)).alias("partition")).collect():
            routes.setdefault(row.partition, row.id)
        start += 64 * shards
    return [routes[k] for k in range(shards)]


def tokenizer_sample(frames: dict, specs: list[DatasetSpec], options: MixtureOptions) -> list[str]:
    """A deterministic sample for BPE training: per dataset, its weight's share of the documents
    with the smallest xxhash64(seed, doc_id), each cut to its first characters."""
    from pyspark.sql import functions as F

    texts = []
    for spec in specs:
        take = max(1, round(options.tokenizer_sample_docs * spec.weight))
        rows = (frames[spec.name].where(F.length("text") > 0)
                .orderBy(F.xxhash64(F.lit(options.seed), "doc_id"), "doc_id", "text")
                .select(F.substring("text", 1, options.tokenizer_sample_chars).alias("text"))
                .limit(take).collect())
        texts.extend(row.text for row in rows)
    return texts


def make_tokenizer(frames: dict, specs: list[DatasetSpec], options: MixtureOptions):
    """(tokenizer, its manifest description)."""
    if options.gpt2_files:
        vocab, merges = options.gpt2_files
        tokenizer = load_gpt2(vocab, merges)
        return tokenizer, {"source": "gpt2-files", "files": {"vocab": vocab, "merges": merges}}
    sample = tokenizer_sample(frames, specs, options)
    tokenizer = train_bpe(sample, options.vocab_size)
    return tokenizer, {"source": "trained", "training": {
        "documents": len(sample), "characters": sum(map(len, sample)), "seed": options.seed,
        "sample_docs": options.tokenizer_sample_docs, "sample_chars": options.tokenizer_sample_chars,
        "vocab_size_requested": options.vocab_size}}


def tokenize_dataset(spark, frame, spec: DatasetSpec, output: str, tokenizer_json: str, dtype: np.dtype,
                     shard_text_bytes: int) -> dict:
    """Write one dataset's shards; its counts and shard list (sorted by shard number)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    empty = F.col("text").isNull() | (F.length("text") == 0)
    unreadable = empty & F.col("parse_error").isNotNull()
    counts = frame.agg(F.count(F.lit(1)).alias("documents"), F.count(F.when(unreadable, 1)).alias("parse_error"),
                       F.count(F.when(empty & ~unreadable, 1)).alias("empty"),
                       F.sum(F.octet_length("text")).alias("text_bytes")).first()
    shards = shard_count(counts.text_bytes or 0, shard_text_bytes)
    shard_dir = os.path.join(output, "shards", spec.name)
    os.makedirs(shard_dir, exist_ok=True)
    body = partial(write_shard_batches, shard_dir=shard_dir, tokenizer_json=tokenizer_json, dtype=dtype.str)
    routes = F.array(*[F.lit(route).cast("bigint") for route in shard_routes(spark, shards)])
    keyed = (frame.where(~empty)
             .withColumn("shard", F.pmod(F.xxhash64("doc_id"), F.lit(shards)))
             .withColumn("route", F.element_at(routes, (F.col("shard") + 1).cast("int")))
             .repartition(shards, "route")
             .sortWithinPartitions("shard", "doc_id", "text")
             .select("shard", "doc_id", "text"))
    rows = keyed.mapInArrow(body, from_arrow_schema(SHARD_META_SCHEMA)).collect()
    for name in os.listdir(shard_dir):  # left by failed task attempts
        if ".tmp-" in name:
            os.remove(os.path.join(shard_dir, name))
    shard_rows = sorted((row.asDict() for row in rows), key=lambda r: r["shard"])
    for row in shard_rows:
        row["tokens_file"] = f"shards/{spec.name}/{row['tokens_file']}"
        row["index_file"] = f"shards/{spec.name}/{row['index_file']}"
    return {"documents_in": counts.documents, "empty_text": counts.empty, "parse_error": counts.parse_error,
            "shard_rows": shard_rows}


def upstream_summaries(path: str) -> dict:
    """summary.json of every earlier stage of the pipeline run that produced `path`, found by
    walking up from it to a stage directory (RUN/STAGE/[NAME/]documents): classifier, dedup and
    decontamination settings and reports travel into the manifest."""
    from curation.report import STAGES

    if "://" in path.removeprefix("file://"):
        return {}
    here = Path(path.removeprefix("file://")).resolve()
    stage_dir = next((d for d in [here, *here.parents][:4] if d.name in STAGES and (d / "summary.json").exists()), None)
    if stage_dir is None:
        return {}
    return {stage: json.loads((stage_dir.parent / stage / "summary.json").read_text())
            for stage in STAGES if stage != "mixture" and (stage_dir.parent / stage / "summary.json").exists()}


def git_commit() -> tuple[str | None, bool | None]:
    """(HEAD commit of the project checkout, whether the tree has uncommitted changes), or Nones."""
    try:
        head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=30)
        status = subprocess.run(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain"], capture_output=True,
                                text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None, None
    if head.returncode != 0:
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip())


def build_mixture(spark, specs: list[DatasetSpec], output: str, options: MixtureOptions) -> dict:
    """Tokenize every dataset into shards under `output`; write the manifest, schema and summary.

    Returns the summary; raises ValueError when a dataset has no tokens or the counts do not add up.
    """
    output = os.path.abspath(output)
    os.makedirs(output, exist_ok=True)
    frames = {spec.name: read_documents(spark, spec.corpus) for spec in specs}
    tokenizer, tokenizer_info = make_tokenizer(frames, specs, options)
    size, eot = vocab_size(tokenizer), eot_id(tokenizer)
    dtype = token_dtype(size)
    tokenizer.save(os.path.join(output, "tokenizer.json"))
    tokenizer.model.save(output)  # vocab.json + merges.txt, for GPT-2-style loaders
    tokenizer_json = tokenizer.to_str()

    datasets, outcomes = [], {}
    for spec in specs:
        result = tokenize_dataset(spark, frames[spec.name], spec, output, tokenizer_json, dtype,
                                  options.shard_text_bytes)
        shards = result["shard_rows"]
        documents, tokens = sum(s["documents"] for s in shards), sum(s["tokens"] for s in shards)
        dropped = {reason: result[reason] for reason in DROP_REASONS}
        outcomes[spec.name] = {"documents_in": result["documents_in"], "tokenized": documents, **dropped}
        if documents + sum(dropped.values()) != result["documents_in"]:
            raise ValueError(f"dataset {spec.name!r}: {result['documents_in']} documents read but "
                             f"{documents} tokenized + {dropped} dropped")
        if tokens == 0:
            raise ValueError(f"dataset {spec.name!r} ({spec.path}) has no non-empty documents but weight {spec.weight_given}")
        datasets.append({
            "name": spec.name,
            "weight": spec.weight,
            "weight_given": spec.weight_given,
            "documents": documents,
            "tokens": tokens,
            "tokens_at_budget": round(spec.weight * options.token_budget),
            "epochs": epochs_at_budget(spec.weight, options.token_budget, tokens),
            "dropped": dropped,
            "shards": [{k: s[k] for k in SHARD_META_SCHEMA.names if k != "shard"} for s in shards],
            "provenance": {"inputs": [spec.path], "reader": reader_options(spec.corpus),
                           "upstream": upstream_summaries(spec.path),
                           "given": options.provenance.get(spec.name, {})},
        })

    warnings = epoch_warnings(datasets, options.token_budget, options.max_epochs)
    commit, dirty = git_commit()
    manifest = {
        "schema": MANIFEST_SCHEMA_NAME,
        "schema_version": MANIFEST_VERSION,
        "project": {"name": "curation", "version": curation.__version__, "git_commit": commit, "git_dirty": dirty},
        "tokenizer": {
            "file": "tokenizer.json",
            "sha256": file_sha256(os.path.join(output, "tokenizer.json")),
            "kind": "byte-level-bpe",
            **tokenizer_info,
            "vocab_size": size,
            "eot_token": EOT,
            "eot_id": eot,
            "dtype": dtype.name,
        },
        "token_budget": options.token_budget,
        "n_ctx": options.n_ctx,
        "max_epochs": options.max_epochs,
        "weights_file": options.weights_file,
        "zero_weight_datasets": list(options.zero_weight),
        "documents": sum(d["documents"] for d in datasets),
        "tokens": sum(d["tokens"] for d in datasets),
        "datasets": datasets,
        "warnings": warnings,
    }
    validate_manifest(manifest)
    with open(os.path.join(output, "manifest.json"), "w", encoding="utf-8") as out:
        json.dump(manifest, out, indent=2, sort_keys=False)
        out.write("\n")
    with open(os.path.join(output, "manifest.schema.json"), "w", encoding="utf-8") as out:
        json.dump(MANIFEST_SCHEMA, out, indent=2)
        out.write("\n")

    documents_in = sum(o["documents_in"] for o in outcomes.values())
    summary = {
        "datasets": len(datasets),
        "documents_in": documents_in,
        "documents": manifest["documents"],
        **{reason: sum(o[reason] for o in outcomes.values()) for reason in DROP_REASONS},
        "tokens": manifest["tokens"],
        "shards": sum(len(d["shards"]) for d in datasets),
        "token_budget": options.token_budget,
        "vocab_size": size,
        "warnings": len(warnings),
        "conserved": all(o["documents_in"] == o["tokenized"] + sum(o[r] for r in DROP_REASONS) for o in outcomes.values()),
        "outcomes": outcomes,
        "epochs": {d["name"]: round(d["epochs"], 4) for d in datasets},
        "warning_messages": warnings,
    }
    write_json(spark, f"file://{output}/summary.json", summary)
    return summary


def format_summary(summary: dict, output: str) -> str:
    lines = [f"mixture: {summary['datasets']} datasets, {summary['documents_in']} documents -> "
             f"{summary['documents']} tokenized ({summary['empty_text']} empty_text, {summary['parse_error']} parse_error), "
             f"{summary['tokens']:,} tokens "
             f"in {summary['shards']} shards (vocabulary {summary['vocab_size']})"]
    for name, epochs in summary["epochs"].items():
        lines.append(f"mixture:   {name:<16} {summary['outcomes'][name]['tokenized']:>10} documents  "
                     f"{epochs:10.4f} epochs at {summary['token_budget']:,} tokens")
    lines.append(f"mixture: wrote {output}/manifest.json, {output}/tokenizer.json, {output}/shards/")
    return "\n".join(lines)


class MixtureJob(SparkJob):
    """`spark-submit jobs/mixture.py --dataset NAME=PATH:WEIGHT ... --token-budget T --output DIR`."""

    name = "mixture"
    description = "Curated datasets -> tokenized shards + manifest.json stating the weighted training mixture."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", action="append", default=[], metavar="NAME=PATH[,key=value...][:WEIGHT]",
                            help="a dataset: Parquet with doc_id and text (a stage's documents/), or JSONL(.gz) or "
                                 "text files with curation.corpora's reader options (format, text_field, id_field, "
                                 "strip_gutenberg); WEIGHT may come from --weights")
        parser.add_argument("--weights", help=f"JSON weights file, e.g. {DEFAULT_WEIGHTS.relative_to(PROJECT_ROOT)}")
        parser.add_argument("--output", required=True, help="local or shared directory (the trainer memory-maps shards)")
        parser.add_argument("--token-budget", type=float, help="training tokens (e.g. 300e9); default: the weights file's")
        parser.add_argument("--n-ctx", type=int, help="trainer context length recorded in the manifest (default 2048)")
        parser.add_argument("--max-epochs", type=float, help="warn when a dataset repeats more (default 3.4)")
        parser.add_argument("--vocab-size", type=int, default=GPT2_VOCAB_SIZE, help="of the trained BPE")
        parser.add_argument("--gpt2-vocab", help="GPT-2 vocab.json (with --gpt2-merges) instead of training a BPE")
        parser.add_argument("--gpt2-merges", help="GPT-2 merges.txt")
        parser.add_argument("--tokenizer-sample-docs", type=int, default=MixtureOptions.tokenizer_sample_docs)
        parser.add_argument("--tokenizer-sample-chars", type=int, default=MixtureOptions.tokenizer_sample_chars,
                            help="characters kept from the start of each sampled document")
        parser.add_argument("--seed", type=int, default=0, help="of the tokenizer training sample")
        parser.add_argument("--shard-text-mb", type=float, default=512.0, help="text (MiB) per shard, roughly")
        parser.add_argument("--provenance", action="append", default=[], metavar="NAME=JSONFILE",
                            help="extra provenance for a dataset (classifier, dedup settings, ...)")

    def validate(self, args):
        if "://" in args.output and not args.output.startswith("file://"):
            raise ConfigError("--output must be a local or shared filesystem path: the trainer memory-maps the shards")
        args.output = os.path.abspath(args.output.removeprefix("file://"))
        weights = read_weights_file(args.weights) if args.weights else None
        args.specs, args.zero_weight = resolve_mixture(args.dataset, weights)
        budget = args.token_budget if args.token_budget is not None else (weights and weights.token_budget)
        if not budget or budget < 1 or not math.isfinite(budget):
            raise ConfigError("--token-budget must be a positive number of tokens (or set token_budget in --weights)")
        args.token_budget = int(budget)
        args.n_ctx = args.n_ctx or (weights and weights.n_ctx) or 2048
        args.max_epochs = args.max_epochs or (weights and weights.max_epochs) or 3.4
        if args.n_ctx < 1 or args.max_epochs <= 0:
            raise ConfigError("--n-ctx and --max-epochs must be positive")
        if bool(args.gpt2_vocab) != bool(args.gpt2_merges):
            raise ConfigError("--gpt2-vocab and --gpt2-merges go together")
        for path in filter(None, (args.gpt2_vocab, args.gpt2_merges)):
            if not os.path.isfile(path):
                raise ConfigError(f"tokenizer file not found: {path}")
        if not args.gpt2_vocab and args.vocab_size < MIN_VOCAB_SIZE:
            raise ConfigError(f"--vocab-size must be at least {MIN_VOCAB_SIZE} (256 bytes + {EOT})")
        if args.tokenizer_sample_docs < 1 or args.tokenizer_sample_chars < 1 or args.shard_text_mb <= 0:
            raise ConfigError("--tokenizer-sample-docs, --tokenizer-sample-chars and --shard-text-mb must be positive")
        args.provenance_by_name = {}
        names = {spec.name for spec in args.specs}
        for spec in args.provenance:
            name, _, path = spec.partition("=")
            if name not in names:
                raise ConfigError(f"--provenance {spec}: no dataset named {name!r} in the mixture")
            try:
                args.provenance_by_name[name] = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as err:
                raise ConfigError(f"--provenance {spec}: not a readable JSON file ({err})") from None

    def run(self, spark, args):
        if args.overwrite:  # shards are content-named: without this, stale ones would stay beside new ones
            shutil.rmtree(os.path.join(args.output, "shards"), ignore_errors=True)
        options = MixtureOptions(
            token_budget=args.token_budget, n_ctx=args.n_ctx, max_epochs=args.max_epochs, vocab_size=args.vocab_size,
            tokenizer_sample_docs=args.tokenizer_sample_docs, tokenizer_sample_chars=args.tokenizer_sample_chars,
            seed=args.seed, shard_text_bytes=max(1, int(args.shard_text_mb * (1 << 20))),
            gpt2_files=(args.gpt2_vocab, args.gpt2_merges) if args.gpt2_vocab else None,
            weights_file=args.weights, zero_weight=tuple(args.zero_weight), provenance=args.provenance_by_name)
        try:
            summary = build_mixture(spark, args.specs, args.output, options)
        except ConfigError as err:  # found only once the input is opened, e.g. a missing text column
            print(f"mixture: error: {err}", file=sys.stderr)
            return EXIT_CONFIG
        except ValueError as err:
            print(f"mixture: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(format_summary(summary, args.output))
        for warning in summary["warning_messages"]:
            print(f"mixture: warning: {warning}", file=sys.stderr)
        return 0


# --- the manifest: schema, validation, reader -------------------------------------------------

_COUNT = {"type": "integer", "minimum": 0}
_SHA = {"type": "string", "pattern": SHA256.pattern}
_SHARD = {
    "type": "object",
    "required": ["tokens_file", "index_file", "documents", "tokens", "bytes", "sha256", "index_bytes", "index_sha256"],
    "additionalProperties": False,
    "properties": {
        "tokens_file": {"type": "string"}, "index_file": {"type": "string"},
        "documents": {"type": "integer", "minimum": 1}, "tokens": {"type": "integer", "minimum": 1},
        "bytes": _COUNT, "sha256": _SHA, "index_bytes": _COUNT, "index_sha256": _SHA,
    },
}
_DATASET = {
    "type": "object",
    "required": ["name", "weight", "weight_given", "documents", "tokens", "tokens_at_budget", "epochs", "dropped",
                 "shards", "provenance"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": DATASET_NAME.pattern},
        "weight": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "weight_given": {"type": "number", "exclusiveMinimum": 0},
        "documents": {"type": "integer", "minimum": 1},
        "tokens": {"type": "integer", "minimum": 1},
        "tokens_at_budget": _COUNT,
        "epochs": {"type": "number", "exclusiveMinimum": 0},
        "dropped": {"type": "object", "required": list(DROP_REASONS), "additionalProperties": False,
                    "properties": {reason: _COUNT for reason in DROP_REASONS}},
        "shards": {"type": "array", "minItems": 1, "items": _SHARD},
        "provenance": {"type": "object", "required": ["inputs"],
                       "properties": {"inputs": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                                      "upstream": {"type": "object"}, "given": {"type": "object"}}},
    },
}
MANIFEST_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"{MANIFEST_SCHEMA_NAME}/v{MANIFEST_VERSION}",
    "title": "Training mixture manifest: tokenized shards per dataset with sampling weights",
    "type": "object",
    "required": ["schema", "schema_version", "project", "tokenizer", "token_budget", "n_ctx", "max_epochs",
                 "datasets", "documents", "tokens", "warnings"],
    "properties": {
        "schema": {"const": MANIFEST_SCHEMA_NAME},
        "schema_version": {"const": MANIFEST_VERSION},
        "project": {"type": "object", "required": ["name", "version", "git_commit"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                   "git_commit": {"type": ["string", "null"]},
                                   "git_dirty": {"type": ["boolean", "null"]}}},
        "tokenizer": {"type": "object", "required": ["file", "sha256", "kind", "source", "vocab_size", "eot_token",
                                                     "eot_id", "dtype"],
                      "properties": {"file": {"type": "string"}, "sha256": _SHA, "kind": {"const": "byte-level-bpe"},
                                     "source": {"enum": ["trained", "gpt2-files"]},
                                     "vocab_size": {"type": "integer", "minimum": MIN_VOCAB_SIZE},
                                     "eot_token": {"const": EOT}, "eot_id": _COUNT,
                                     "dtype": {"enum": ["uint16", "uint32"]}}},
        "token_budget": {"type": "integer", "minimum": 1},
        "n_ctx": {"type": "integer", "minimum": 1},
        "max_epochs": {"type": "number", "exclusiveMinimum": 0},
        "weights_file": {"type": ["string", "null"]},
        "zero_weight_datasets": {"type": "array", "items": {"type": "string"}},
        "documents": _COUNT,
        "tokens": _COUNT,
        "datasets": {"type": "array", "minItems": 1, "items": _DATASET},
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
}

_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
               "integer": int, "number": (int, float)}


class ManifestError(ValueError):
    """A manifest that does not match its schema or whose numbers do not add up."""


class ChecksumError(ManifestError):
    """A shard whose bytes are not the ones the manifest describes."""


def schema_errors(value, schema: dict, where: str = "$") -> list[str]:
    """Violations of the JSON Schema keywords MANIFEST_SCHEMA uses (a subset of draft 2020-12)."""
    errors = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: must be {schema['const']!r}, not {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: must be one of {schema['enum']}, not {value!r}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        is_bool = isinstance(value, bool)
        if not any(isinstance(value, _JSON_TYPES[t]) and (t == "boolean" or not is_bool) for t in types):
            return errors + [f"{where}: must be of type {' or '.join(types)}, not {type(value).__name__}"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} is below the minimum {schema['minimum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: {value} must be above {schema['exclusiveMinimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: needs at least {schema['minItems']} items")
        for i, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), f"{where}[{i}]")
    if isinstance(value, dict):
        errors += [f"{where}: missing {key!r}" for key in schema.get("required", []) if key not in value]
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected {key!r}")
    return errors


def validate_manifest(manifest: dict) -> None:
    """Raise ManifestError unless `manifest` matches MANIFEST_SCHEMA and its numbers agree."""
    errors = schema_errors(manifest, MANIFEST_SCHEMA)
    if errors:
        raise ManifestError("manifest does not match its schema: " + "; ".join(errors[:10]))
    problems = []
    tokenizer = manifest["tokenizer"]
    if tokenizer["eot_id"] >= tokenizer["vocab_size"]:
        problems.append("tokenizer.eot_id is outside the vocabulary")
    if tokenizer["dtype"] != token_dtype(tokenizer["vocab_size"]).name:
        problems.append(f"tokenizer.dtype {tokenizer['dtype']} does not fit vocab_size {tokenizer['vocab_size']}")
    datasets = manifest["datasets"]
    if len({d["name"] for d in datasets}) != len(datasets):
        problems.append("dataset names repeat")
    if not math.isclose(sum(d["weight"] for d in datasets), 1.0, rel_tol=1e-9):
        problems.append("dataset weights do not sum to 1")
    itemsize = np.dtype(tokenizer["dtype"]).itemsize
    for d in datasets:
        shards = d["shards"]
        if d["tokens"] != sum(s["tokens"] for s in shards) or d["documents"] != sum(s["documents"] for s in shards):
            problems.append(f"dataset {d['name']!r}: tokens or documents differ from the sum over its shards")
        if any(s["bytes"] != s["tokens"] * itemsize for s in shards):
            problems.append(f"dataset {d['name']!r}: a shard's bytes are not tokens x {itemsize}")
        if not math.isclose(d["epochs"], epochs_at_budget(d["weight"], manifest["token_budget"], d["tokens"]),
                            rel_tol=1e-9):
            problems.append(f"dataset {d['name']!r}: epochs is not weight x token_budget / tokens")
    if manifest["tokens"] != sum(d["tokens"] for d in datasets):
        problems.append("tokens is not the sum over datasets")
    if problems:
        raise ManifestError("manifest is inconsistent: " + "; ".join(problems))


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class TokenShard:
    """A shard's tokens (memory-mapped) and document offsets: document i is tokens[offsets[i]:offsets[i+1]],
    ending in EOT."""

    path: Path
    tokens: np.memmap
    offsets: np.ndarray

    @property
    def documents(self) -> int:
        return len(self.offsets) - 1

    def document(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]


@dataclass(frozen=True)
class MixtureDataset:
    name: str
    weight: float
    epochs: float
    documents: int
    tokens: int
    shards: list[TokenShard]


@dataclass(frozen=True)
class Mixture:
    """What the trainer needs: per dataset its sampling weight and memory-mapped shards."""

    root: Path
    manifest: dict
    datasets: dict[str, MixtureDataset]

    @property
    def eot_id(self) -> int:
        return self.manifest["tokenizer"]["eot_id"]

    @property
    def n_ctx(self) -> int:
        return self.manifest["n_ctx"]

    @property
    def token_budget(self) -> int:
        return self.manifest["token_budget"]

    def tokenizer(self):
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(self.root / self.manifest["tokenizer"]["file"]))


def _check_file(path: Path, size: int, sha256: str | None, shard_name: str) -> None:
    if not path.is_file():
        raise ChecksumError(f"shard {shard_name}: file missing: {path}")
    actual = path.stat().st_size
    if actual != size:
        raise ChecksumError(f"shard {shard_name}: {path} is {actual} bytes, the manifest says {size} (corrupt or truncated)")
    if sha256 is not None:
        found = file_sha256(path)
        if found != sha256:
            raise ChecksumError(f"shard {shard_name}: checksum mismatch for {path}: sha256 {found}, "
                                f"the manifest says {sha256} (the file is corrupt or was changed)")


def load_manifest(path: str | os.PathLike, verify: bool = True) -> Mixture:
    """Read OUTPUT/manifest.json (or OUTPUT), validate it, check every shard's size and (with
    `verify`) sha256, and memory-map the token arrays. ManifestError / ChecksumError otherwise."""
    manifest_path = Path(path)
    if manifest_path.is_dir():
        manifest_path = manifest_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    validate_manifest(manifest)
    root = manifest_path.parent
    dtype = np.dtype(manifest["tokenizer"]["dtype"]).newbyteorder("<")
    tokenizer_path = root / manifest["tokenizer"]["file"]
    if verify and (not tokenizer_path.is_file() or file_sha256(tokenizer_path) != manifest["tokenizer"]["sha256"]):
        raise ChecksumError(f"tokenizer {tokenizer_path}: missing, or its sha256 differs from the manifest's")
    datasets = {}
    for d in manifest["datasets"]:
        shards = []
        for s in d["shards"]:
            tokens_path, index_path = root / s["tokens_file"], root / s["index_file"]
            _check_file(tokens_path, s["bytes"], s["sha256"] if verify else None, s["tokens_file"])
            _check_file(index_path, s["index_bytes"], s["index_sha256"] if verify else None, s["index_file"])
            offsets = np.load(index_path, mmap_mode="r", allow_pickle=False)
            if len(offsets) != s["documents"] + 1 or int(offsets[-1]) != s["tokens"]:
                raise ChecksumError(f"shard {s['index_file']}: index does not match the manifest's counts")
            tokens = np.memmap(tokens_path, dtype=dtype, mode="r")
            shards.append(TokenShard(tokens_path, tokens, offsets))
        datasets[d["name"]] = MixtureDataset(d["name"], d["weight"], d["epochs"], d["documents"], d["tokens"], shards)
    return Mixture(root, manifest, datasets)


# --- benchmark --------------------------------------------------------------------------------


def bench_corpus(docs: int, workdir: Path) -> list[tuple[str, str]]:
    """(doc_id, text) of real WebText and Wikipedia documents (../shared/data), else generated ones."""
    import gzip

    from curation.settings import shared_data_dir

    reference = shared_data_dir() / "reference"
    if not (reference / "webtext.jsonl.gz").exists():
        from curation.sample import generate_sample

        print(f"(no {reference}: benchmarking on generated reference documents)", file=sys.stderr)
        generate_sample(workdir / "sample", pages=10, seed=0, shards=1, reference_docs=docs)
        reference = workdir / "sample" / "reference"
    rows = []
    for name in ("webtext", "wikipedia"):
        with gzip.open(reference / f"{name}.jsonl.gz", "rt", encoding="utf-8") as lines:
            rows += [(f"{name}-{i}", json.loads(line)["text"]) for i, line in enumerate(lines)]
    return rows[:docs]


def loop_baseline(rows: list[tuple[str, str]], tokenizer, out: Path) -> tuple[float, float, int]:
    """The plain single-process library loop: (seconds tokenizing, seconds writing + hashing, tokens)."""
    import time

    encoder, eot = document_encoder(tokenizer), eot_id(tokenizer)
    dtype = token_dtype(vocab_size(tokenizer))
    texts = [text for _, text in sorted(rows)]
    started = time.perf_counter()
    chunks = [encode_documents(encoder, texts[i:i + 1024], eot, dtype) for i in range(0, len(texts), 1024)]
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
    import tempfile

    from collections import Counter

    from curation.bench import best_of
    from curation.spark import get_spark

    parser = argparse.ArgumentParser(prog="bench-mixture")
    parser.add_argument("--docs", type=int, default=int(os.environ.get("BENCH_DOCS", "2000")))
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cores", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the loop baseline runs on one core

    workdir = Path(tempfile.mkdtemp(prefix="bench-mixture-"))
    rows = bench_corpus(args.docs, workdir)
    table = pa.table({"doc_id": [r[0] for r in rows], "text": [r[1] for r in rows]})
    (workdir / "input").mkdir()
    import pyarrow.parquet as pq

    files = args.cores * 2
    cuts = [i * len(rows) // files for i in range(files + 1)]
    for i in range(files):
        pq.write_table(table.slice(cuts[i], cuts[i + 1] - cuts[i]), workdir / "input" / f"part-{i}.parquet")
    text_bytes = sum(len(text.encode("utf-8")) for _, text in rows)
    tokenizer = train_bpe([text[:4000] for _, text in rows[:: max(1, len(rows) // 1000)]], args.vocab_size)
    vocab, merges = tokenizer.model.save(str(workdir))
    loaded = load_gpt2(vocab, merges)  # what the job will load: compare like with like

    specs = [DatasetSpec("bench", parse_corpus_spec(f"bench={workdir / 'input'}"), 1.0, 1.0)]
    options = MixtureOptions(token_budget=max(1, text_bytes // 4), gpt2_files=(vocab, merges),
                             shard_text_bytes=max(1, text_bytes // (args.cores * 4)))
    spark = get_spark("bench-mixture", master=f"local[{args.cores}]", conf={"spark.ui.showConsoleProgress": "false"})
    build_mixture(spark, specs, str(workdir / "warmup"), options)  # JVM, JIT and Python workers warm up
    spark_seconds, summary = best_of(args.repeat, lambda: build_mixture(spark, specs, str(workdir / "spark"), options))
    spark.stop()
    runs = [loop_baseline(rows, loaded, workdir / "loop.bin") for _ in range(args.repeat)]
    tokenize_s, write_s, loop_tokens = min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]
    loop_seconds = tokenize_s + write_s

    mixture = load_manifest(workdir / "spark")
    decoder = mixture.tokenizer()
    decoded = Counter(decoder.decode(shard.document(i).tolist(), skip_special_tokens=False).removesuffix(EOT)
                      for shard in mixture.datasets["bench"].shards for i in range(shard.documents))
    round_trip = decoded == Counter(text.replace("\r\n", "\n").replace("\r", "\n") for _, text in rows)
    shutil.rmtree(workdir, ignore_errors=True)
    docs, tokens, cores = summary["documents"], summary["tokens"], args.cores
    result = {
        "bench": "mixture",
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
    }
    result["ratio"] = round(result["spark_tokens_per_s_per_core"] / result["loop_tokens_per_s_per_core"], 3)
    print("| path | tokens/s per core | docs/s per core |")
    print("|---|---|---|")
    print(f"| Spark job (tokenize + write shards + manifest) | {result['spark_tokens_per_s_per_core']:,} | "
          f"{result['spark_docs_per_s_per_core']} |")
    print(f"| loop: tokenize | {result['loop_tokenize_tokens_per_s']:,} | |")
    print(f"| loop: write + sha256 | {result['loop_write_tokens_per_s']:,} | |")
    print(f"| loop: both | {result['loop_tokens_per_s_per_core']:,} | {result['loop_docs_per_s_per_core']} |")
    return result
