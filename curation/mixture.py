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
                                `empty_text` (""), `null_text` (a record read whole, its text null) or
                                `parse_error` (unreadable input record); characters tokenized

Shards are written by Spark tasks straight to OUTPUT, which must therefore be a local or shared
filesystem (the trainer memory-maps the files anyway). A document goes to shard
pmod(xxhash64(doc_id), n) and documents are sorted by doc_id within a shard, so the same input
gives the same shards, byte for byte, however it is partitioned; each file is named by the
sha256 of its tokens, and is never rewritten. `load_manifest` checks every checksum and hands
out memory-mapped arrays.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
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
from curation.errors import EXIT_BAD_INPUT, EXIT_CONFIG, ConfigError
from curation.job import SparkJob, check_input, published_path, write_json
from curation.manifest import (
    DATASET_NAME,
    DROP_REASONS,
    MANIFEST_SCHEMA,
    MANIFEST_SCHEMA_NAME,
    MANIFEST_VERSION,
    epochs_at_budget,
    file_sha256,
    validate_manifest,
)
from curation.settings import PROJECT_ROOT
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

DEFAULT_WEIGHTS = PROJECT_ROOT / "curation" / "weights" / "gpt3.json"
HASH_NAME_CHARS = 20  # hex digits of the sha256 in a shard's file name

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
    return WeightsFile(
        path, weights, int(budget) if budget is not None else None, data.get("n_ctx"), data.get("max_epochs")
    )


def resolve_mixture(
    dataset_args: list[str], weights_file: WeightsFile | None, check_paths: bool = True
) -> tuple[list[DatasetSpec], list[str]]:
    """The datasets to tokenize, with renormalized weights, and the names left out for weight 0.

    Without a weights file every --dataset carries its weight; with one, --dataset supplies the
    paths (and may override a weight), and every dataset the file weights above 0 needs a path.
    `check_paths=False` leaves out checking that the paths exist: another stage may not have written them yet.
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
                raise ConfigError(
                    f"dataset {name!r} has no weight: write --dataset {name}=PATH:WEIGHT or give --weights FILE"
                )
        weights = {name: weight for name, (_, weight) in given.items()}
    else:
        unknown = sorted(set(given) - set(weights_file.weights))
        if unknown:
            raise ConfigError(
                f"unknown dataset {unknown[0]!r}: not in weights file {weights_file.path} "
                f"(it has {', '.join(weights_file.weights)})"
            )
        weights = {
            name: given[name][1] if name in given and given[name][1] is not None else weight
            for name, weight in weights_file.weights.items()
        }
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
            raise ConfigError(
                f"dataset {name!r} has weight {weight} in {weights_file.path} but no path: "
                f"give --dataset {name}=PATH (or {name}=PATH:0 to leave it out)"
            )
        corpus = parse_corpus_spec(f"{name}={given[name][0]}")
        if check_paths and "://" not in corpus.path and not os.path.exists(corpus.path):
            raise ConfigError(f"dataset {name!r}: input path does not exist: {corpus.path}")
        specs.append(DatasetSpec(name, corpus, weight / total, weight))
    return specs, zero_weight


def reader_options(corpus: CorpusSpec) -> dict:
    return {
        "format": corpus.fmt,
        "text_field": corpus.text_field,
        "id_field": corpus.id_field,
        "strip_gutenberg": corpus.strip_gutenberg,
    }


def epoch_warnings(datasets: list[dict], token_budget: int, max_epochs: float) -> list[str]:
    return [
        f"dataset {d['name']!r} would be repeated {d['epochs']:.2f} epochs at a budget of {token_budget:,} tokens "
        f"(more than the limit of {max_epochs}; GPT-3's most was 3.4)"
        for d in datasets
        if d["epochs"] > max_epochs
    ]


# --- shards ---------------------------------------------------------------------------------

SHARD_META_SCHEMA = pa.schema(
    [
        ("shard", pa.int64()),
        ("tokens_file", pa.string()),
        ("index_file", pa.string()),
        ("documents", pa.int64()),
        ("tokens", pa.int64()),
        ("bytes", pa.int64()),
        ("sha256", pa.string()),
        ("index_bytes", pa.int64()),
        ("index_sha256", pa.string()),
    ]
)


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
        rows = (
            frames[spec.name]
            .where(F.length("text") > 0)
            .orderBy(F.xxhash64(F.lit(options.seed), "doc_id"), "doc_id", "text")
            .select(F.substring("text", 1, options.tokenizer_sample_chars).alias("text"))
            .limit(take)
            .collect()
        )
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
    return tokenizer, {
        "source": "trained",
        "training": {
            "documents": len(sample),
            "characters": sum(map(len, sample)),
            "seed": options.seed,
            "sample_docs": options.tokenizer_sample_docs,
            "sample_chars": options.tokenizer_sample_chars,
            "vocab_size_requested": options.vocab_size,
        },
    }


def tokenize_dataset(
    spark, frame, spec: DatasetSpec, output: str, tokenizer_json: str, dtype: np.dtype, shard_text_bytes: int
) -> dict:
    """Write one dataset's shards; its counts and shard list (sorted by shard number)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    empty = F.col("text").isNull() | (F.length("text") == 0)
    unreadable = empty & F.col("parse_error").isNotNull() & (F.col("parse_error") != "null_text")
    null_text = F.col("text").isNull() & ~unreadable
    counts = frame.agg(
        F.count(F.lit(1)).alias("documents"),
        F.count(F.when(unreadable, 1)).alias("parse_error"),
        F.count(F.when(null_text, 1)).alias("null_text"),
        F.count(F.when(empty & ~unreadable & ~null_text, 1)).alias("empty"),
        F.sum(F.octet_length("text")).alias("text_bytes"),
        F.sum(F.length("text")).alias("chars"),
    ).first()
    shards = shard_count(counts.text_bytes or 0, shard_text_bytes)
    shard_dir = os.path.join(output, "shards", spec.name)
    os.makedirs(shard_dir, exist_ok=True)
    body = partial(write_shard_batches, shard_dir=shard_dir, tokenizer_json=tokenizer_json, dtype=dtype.str)
    routes = F.array(*[F.lit(route).cast("bigint") for route in shard_routes(spark, shards)])
    keyed = (
        frame.where(~empty)
        .withColumn("shard", F.pmod(F.xxhash64("doc_id"), F.lit(shards)))
        .withColumn("route", F.element_at(routes, (F.col("shard") + 1).cast("int")))
        .repartition(shards, "route")
        .sortWithinPartitions("shard", "doc_id", "text")
        .select("shard", "doc_id", "text")
    )
    rows = keyed.mapInArrow(body, from_arrow_schema(SHARD_META_SCHEMA)).collect()
    for name in os.listdir(shard_dir):  # left by failed task attempts
        if ".tmp-" in name:
            os.remove(os.path.join(shard_dir, name))
    shard_rows = sorted((row.asDict() for row in rows), key=lambda r: r["shard"])
    for row in shard_rows:
        row["tokens_file"] = f"shards/{spec.name}/{row['tokens_file']}"
        row["index_file"] = f"shards/{spec.name}/{row['index_file']}"
    return {
        "documents_in": counts.documents,
        "empty_text": counts.empty,
        "null_text": counts.null_text,
        "parse_error": counts.parse_error,
        "chars": counts.chars or 0,
        "shard_rows": shard_rows,
    }


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
    return {
        stage: json.loads((stage_dir.parent / stage / "summary.json").read_text())
        for stage in STAGES
        if stage != "mixture" and (stage_dir.parent / stage / "summary.json").exists()
    }


def git_commit() -> tuple[str | None, bool | None]:
    """(HEAD commit of the project checkout, whether the tree has uncommitted changes), or Nones."""
    try:
        head = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30
        )
        status = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain"], capture_output=True, text=True, timeout=30
        )
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
        result = tokenize_dataset(
            spark, frames[spec.name], spec, output, tokenizer_json, dtype, options.shard_text_bytes
        )
        shards = result["shard_rows"]
        documents, tokens = sum(s["documents"] for s in shards), sum(s["tokens"] for s in shards)
        dropped = {reason: result[reason] for reason in DROP_REASONS}
        outcomes[spec.name] = {
            "documents_in": result["documents_in"],
            "tokenized": documents,
            **dropped,
            "chars": result["chars"],
        }
        if documents + sum(dropped.values()) != result["documents_in"]:
            raise ValueError(
                f"dataset {spec.name!r}: {result['documents_in']} documents read but "
                f"{documents} tokenized + {dropped} dropped"
            )
        if tokens == 0:
            raise ValueError(
                f"dataset {spec.name!r} ({spec.path}) has no non-empty documents but weight {spec.weight_given}"
            )
        datasets.append(
            {
                "name": spec.name,
                "weight": spec.weight,
                "weight_given": spec.weight_given,
                "documents": documents,
                "tokens": tokens,
                "tokens_at_budget": round(spec.weight * options.token_budget),
                "epochs": epochs_at_budget(spec.weight, options.token_budget, tokens),
                "dropped": dropped,
                "shards": [{k: s[k] for k in SHARD_META_SCHEMA.names if k != "shard"} for s in shards],
                "provenance": {
                    "inputs": [spec.path],
                    "reader": reader_options(spec.corpus),
                    "upstream": upstream_summaries(spec.path),
                    "given": options.provenance.get(spec.name, {}),
                },
            }
        )

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
        "chars": sum(o["chars"] for o in outcomes.values()),
        "tokens": manifest["tokens"],
        "shards": sum(len(d["shards"]) for d in datasets),
        "token_budget": options.token_budget,
        "vocab_size": size,
        "warnings": len(warnings),
        "conserved": all(
            o["documents_in"] == o["tokenized"] + sum(o[r] for r in DROP_REASONS) for o in outcomes.values()
        ),
        "outcomes": outcomes,
        "epochs": {d["name"]: round(d["epochs"], 4) for d in datasets},
        "warning_messages": warnings,
    }
    write_json(spark, f"file://{output}/summary.json", summary)
    return summary


def format_summary(summary: dict, output: str) -> str:
    lines = [
        f"mixture: {summary['datasets']} datasets, {summary['documents_in']} documents -> "
        f"{summary['documents']} tokenized ({', '.join(f'{summary[r]} {r}' for r in DROP_REASONS)}), "
        f"{summary['tokens']:,} tokens "
        f"in {summary['shards']} shards (vocabulary {summary['vocab_size']})"
    ]
    for name, epochs in summary["epochs"].items():
        lines.append(
            f"mixture:   {name:<16} {summary['outcomes'][name]['tokenized']:>10} documents  "
            f"{epochs:10.4f} epochs at {summary['token_budget']:,} tokens"
        )
    lines.append(f"mixture: wrote {output}/manifest.json, {output}/tokenizer.json, {output}/shards/")
    return "\n".join(lines)


class MixtureJob(SparkJob):
    """`spark-submit jobs/mixture.py --dataset NAME=PATH:WEIGHT ... --token-budget T --output DIR`."""

    name = "mixture"
    description = "Curated datasets -> tokenized shards + manifest.json stating the weighted training mixture."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dataset",
            action="append",
            default=[],
            metavar="NAME=PATH[,key=value...][:WEIGHT]",
            help="a dataset: Parquet with doc_id and text (a stage's documents/), or JSONL(.gz) or "
            "text files with curation.corpora's reader options (format, text_field, id_field, "
            "strip_gutenberg); WEIGHT may come from --weights",
        )
        parser.add_argument("--weights", help=f"JSON weights file, e.g. {DEFAULT_WEIGHTS.relative_to(PROJECT_ROOT)}")
        parser.add_argument(
            "--output", required=True, help="local or shared directory (the trainer memory-maps shards)"
        )
        parser.add_argument(
            "--token-budget", type=float, help="training tokens (e.g. 300e9); default: the weights file's"
        )
        parser.add_argument("--n-ctx", type=int, help="trainer context length recorded in the manifest (default 2048)")
        parser.add_argument("--max-epochs", type=float, help="warn when a dataset repeats more (default 3.4)")
        parser.add_argument("--vocab-size", type=int, default=GPT2_VOCAB_SIZE, help="of the trained BPE")
        parser.add_argument("--gpt2-vocab", help="GPT-2 vocab.json (with --gpt2-merges) instead of training a BPE")
        parser.add_argument("--gpt2-merges", help="GPT-2 merges.txt")
        parser.add_argument("--tokenizer-sample-docs", type=int, default=MixtureOptions.tokenizer_sample_docs)
        parser.add_argument(
            "--tokenizer-sample-chars",
            type=int,
            default=MixtureOptions.tokenizer_sample_chars,
            help="characters kept from the start of each sampled document",
        )
        parser.add_argument("--seed", type=int, default=0, help="of the tokenizer training sample")
        parser.add_argument("--shard-text-mb", type=float, default=512.0, help="text (MiB) per shard, roughly")
        parser.add_argument(
            "--provenance",
            action="append",
            default=[],
            metavar="NAME=JSONFILE",
            help="extra provenance for a dataset (classifier, dedup settings, ...)",
        )

    def check_options(self, args):
        if "://" in args.output and not args.output.startswith("file://"):
            raise ConfigError("--output must be a local or shared filesystem path: the trainer memory-maps the shards")
        args.output = os.path.abspath(args.output.removeprefix("file://"))
        weights = read_weights_file(args.weights) if args.weights else None
        args.specs, args.zero_weight = resolve_mixture(args.dataset, weights, check_paths=False)
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

    def validate(self, args):
        for spec in args.specs:
            check_input(spec.corpus)

    def run(self, spark, args):
        if args.overwrite:  # shards are content-named: without this, stale ones would stay beside new ones
            shutil.rmtree(os.path.join(args.output, "shards"), ignore_errors=True)
        options = MixtureOptions(
            token_budget=args.token_budget,
            n_ctx=args.n_ctx,
            max_epochs=args.max_epochs,
            vocab_size=args.vocab_size,
            tokenizer_sample_docs=args.tokenizer_sample_docs,
            tokenizer_sample_chars=args.tokenizer_sample_chars,
            seed=args.seed,
            shard_text_bytes=max(1, int(args.shard_text_mb * (1 << 20))),
            gpt2_files=(args.gpt2_vocab, args.gpt2_merges) if args.gpt2_vocab else None,
            weights_file=args.weights,
            zero_weight=tuple(args.zero_weight),
            provenance=args.provenance_by_name,
        )
        try:
            summary = build_mixture(spark, args.specs, args.output, options)
        except ConfigError as err:  # found only once the input is opened, e.g. a missing text column
            print(f"mixture: error: {err}", file=sys.stderr)
            return EXIT_CONFIG
        except ValueError as err:
            print(f"mixture: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(format_summary(summary, published_path(args.output)))
        for warning in summary["warning_messages"]:
            print(f"mixture: warning: {warning}", file=sys.stderr)
        return 0
