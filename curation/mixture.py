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
filesystem (the trainer memory-maps the files anyway). The text is read and tokenized once, with no
shuffle and no global sort: each input task writes a run of tokens, and each shard is merged from
the runs by a hash of (seed, dataset, doc_id) (curation.token_shards says how), so the same input
gives the same shards, byte for byte, however it is partitioned and on however many executors;
each file is named by the sha256 of its tokens, and is never rewritten. `load_manifest` checks
every checksum and hands out memory-mapped arrays.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path

import numpy as np

import curation
from curation.corpora import CorpusSpec, read_spec
from curation.errors import EXIT_BAD_INPUT, EXIT_CONFIG, ConfigError
from curation.job import SparkJob, check_input, published_path, write_json
from curation.manifest import (
    DROP_REASONS,
    MANIFEST_SCHEMA,
    MANIFEST_SCHEMA_NAME,
    MANIFEST_VERSION,
    epochs_at_budget,
    file_sha256,
    validate_manifest,
)
from curation.mixture_weights import DatasetSpec, MixtureInput, parse_dataset_arg, read_weights_file, resolve_mixture
from curation.options import option
from curation.settings import PROJECT_ROOT
from curation.stage import Counts, Handoff, Stage
from curation.storage import local_path
from curation.token_shards import (
    OUTCOMES,
    RUN_META_SCHEMA,
    SHARD_META_SCHEMA,
    merge_runs,
    shard_count,
    tokenize_to_runs,
)
from curation.tokenizer import (
    EOT,
    GPT2_VOCAB_SIZE,
    MIN_VOCAB_SIZE,
    eot_id,
    load_gpt2,
    token_dtype,
    train_bpe,
    vocab_size,
)

DEFAULT_WEIGHTS = PROJECT_ROOT / "curation" / "weights" / "gpt3.json"


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


# --- the Spark side -------------------------------------------------------------------------


@dataclass(frozen=True)
class MixtureOptions:
    token_budget: int
    n_ctx: int = 2048
    max_epochs: float = 3.4
    vocab_size: int = GPT2_VOCAB_SIZE
    tokenizer_sample_docs: int = 20_000
    tokenizer_sample_chars: int = 4_000
    seed: int = 0  # of the tokenizer sample and of the documents' order in the shards
    shard_text_bytes: int = 512 << 20
    gpt2_files: tuple[str, str] | None = None  # (vocab.json, merges.txt)
    weights_file: str | None = None
    zero_weight: tuple[str, ...] = ()
    provenance: dict = field(default_factory=dict)  # dataset name -> extra provenance (--provenance)


def read_documents(spark, corpus: CorpusSpec):
    """(doc_id, text, parse_error) of a dataset: Parquet, JSONL(.gz), text files, via curation.corpora."""
    return read_spec(spark, corpus).select("doc_id", "text", "parse_error")


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
    spark, frame, spec: DatasetSpec, output: str, tokenizer_json: str, dtype: np.dtype, options: MixtureOptions
) -> dict:
    """Write one dataset's shards in two Spark jobs, one reading the text (tokenize into runs) and one
    reading the runs (merge into shards); its counts, shard list (by shard number) and seconds per job."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    empty = F.col("text").isNull() | (F.length("text") == 0)
    unreadable = empty & F.col("parse_error").isNotNull() & (F.col("parse_error") != "null_text")
    null_text = F.col("text").isNull() & ~unreadable
    outcome = (
        F.when(unreadable, OUTCOMES.index("parse_error"))
        .when(null_text, OUTCOMES.index("null_text"))
        .when(empty, OUTCOMES.index("empty_text"))
        .otherwise(OUTCOMES.index("tokenized"))
    )
    keyed = frame.select(
        F.xxhash64(F.lit(options.seed), F.lit(spec.name), "doc_id").alias("key"),
        F.xxhash64("text").alias("text_key"),
        outcome.cast("tinyint").alias("outcome"),
        F.when(~empty, F.col("text")).alias("text"),
    )
    shard_dir = os.path.join(output, "shards", spec.name)
    run_dir = os.path.join(shard_dir, f".tmp-runs-{os.getpid()}-{time.time_ns()}")
    os.makedirs(run_dir)
    started = time.perf_counter()
    tokenize = partial(tokenize_to_runs, run_dir=run_dir, tokenizer_json=tokenizer_json, dtype=dtype.str)
    runs = [row.asDict() for row in keyed.mapInArrow(tokenize, from_arrow_schema(RUN_META_SCHEMA)).collect()]
    tokenized = time.perf_counter()
    shards = shard_count(sum(r["text_bytes"] for r in runs), options.shard_text_bytes)
    merge = partial(
        merge_runs, runs=sorted(r["run"] for r in runs if r["run"]), shards=shards, shard_dir=shard_dir, dtype=dtype.str
    )
    numbers = spark.range(0, shards, numPartitions=shards)
    rows = numbers.mapInArrow(merge, from_arrow_schema(SHARD_META_SCHEMA)).collect()
    for name in os.listdir(shard_dir):  # the runs, and what failed task attempts left
        if ".tmp-" in name:
            path = os.path.join(shard_dir, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    shard_rows = sorted((row.asDict() for row in rows), key=lambda r: r["shard"])
    for row in shard_rows:
        row["tokens_file"] = f"shards/{spec.name}/{row['tokens_file']}"
        row["index_file"] = f"shards/{spec.name}/{row['index_file']}"
    return {
        "documents_in": sum(r[outcome] for r in runs for outcome in OUTCOMES),
        **{reason: sum(r[reason] for r in runs) for reason in DROP_REASONS},
        "chars": sum(r["chars"] for r in runs),
        "shard_rows": shard_rows,
        "seconds": {
            "tokenize": tokenized - started,
            "tokenize_in_tasks": sum(r["tokenize_seconds"] for r in runs),
            "merge": time.perf_counter() - tokenized,
        },
    }


def upstream_summaries(path: str) -> dict:
    """summary.json of every earlier stage of the pipeline run that produced `path`, found by
    walking up from it to a stage directory (RUN/STAGE/[NAME/]documents): classifier, dedup and
    decontamination settings and reports travel into the manifest."""
    from curation.stages import STAGE_NAMES

    local = local_path(path)
    if local is None:
        return {}
    here = Path(local).resolve()
    stage_dir = next(
        (d for d in [here, *here.parents][:4] if d.name in STAGE_NAMES and (d / "summary.json").exists()), None
    )
    if stage_dir is None:
        return {}
    return {
        stage: json.loads((stage_dir.parent / stage / "summary.json").read_text())
        for stage in STAGE_NAMES
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
    started = time.perf_counter()
    output = os.path.abspath(output)
    os.makedirs(output, exist_ok=True)
    frames = {spec.name: read_documents(spark, spec.corpus) for spec in specs}
    tokenizer, tokenizer_info = make_tokenizer(frames, specs, options)
    seconds = {"tokenizer": time.perf_counter() - started, "tokenize": 0.0, "tokenize_in_tasks": 0.0, "merge": 0.0}
    size, eot = vocab_size(tokenizer), eot_id(tokenizer)
    dtype = token_dtype(size)
    tokenizer.save(os.path.join(output, "tokenizer.json"))
    tokenizer.model.save(output)  # vocab.json + merges.txt, for GPT-2-style loaders
    tokenizer_json = tokenizer.to_str()

    datasets, outcomes = [], {}
    for spec in specs:
        result = tokenize_dataset(spark, frames[spec.name], spec, output, tokenizer_json, dtype, options)
        seconds |= {phase: seconds[phase] + spent for phase, spent in result["seconds"].items()}
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
    seconds["total"] = time.perf_counter() - started
    summary["seconds"] = {phase: round(spent, 3) for phase, spent in seconds.items()}  # wall, but tokenize_in_tasks
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


@dataclass(frozen=True)
class MixtureJobOptions:
    """The mixture job's options: its flags, and the [mixture] table of a pipeline config."""

    dataset: tuple[MixtureInput, ...] = field(
        default=(),
        metadata=option(
            "a dataset: Parquet with doc_id and text (a stage's documents/), or JSONL(.gz) or "
            "text files with curation.corpora's reader options (format, text_field, id_field, "
            "strip_gutenberg); WEIGHT may come from --weights",
            metavar="NAME=PATH[,key=value...][:WEIGHT]",
            repeatable=True,
            parse=parse_dataset_arg,
        ),
    )
    weights: str | None = field(
        default=None, metadata=option(f"JSON weights file, e.g. {DEFAULT_WEIGHTS.relative_to(PROJECT_ROOT)}")
    )
    output: str = field(
        default="", metadata=option("local or shared directory (the trainer memory-maps shards)", required=True)
    )
    token_budget: float | None = field(
        default=None, metadata=option("training tokens (e.g. 300e9); default: the weights file's")
    )
    n_ctx: int | None = field(
        default=None, metadata=option("trainer context length recorded in the manifest (default 2048)")
    )
    max_epochs: float | None = field(default=None, metadata=option("warn when a dataset repeats more (default 3.4)"))
    vocab_size: int = field(default=GPT2_VOCAB_SIZE, metadata=option("of the trained BPE"))
    gpt2_vocab: str | None = field(
        default=None, metadata=option("GPT-2 vocab.json (with --gpt2-merges) instead of training a BPE")
    )
    gpt2_merges: str | None = field(default=None, metadata=option("GPT-2 merges.txt"))
    tokenizer_sample_docs: int = MixtureOptions.tokenizer_sample_docs
    tokenizer_sample_chars: int = field(
        default=MixtureOptions.tokenizer_sample_chars,
        metadata=option("characters kept from the start of each sampled document"),
    )
    seed: int = field(default=0, metadata=option("of the tokenizer training sample"))
    shard_text_mb: float = field(default=512.0, metadata=option("text (MiB) per shard, roughly"))
    provenance: tuple[str, ...] = field(
        default=(),
        metadata=option(
            "extra provenance for a dataset (classifier, dedup settings, ...)", metavar="NAME=JSONFILE", repeatable=True
        ),
    )

    def check(self) -> None:
        if local_path(self.output) is None:
            raise ConfigError("--output must be a local or shared filesystem path: the trainer memory-maps the shards")
        self.mixture  # noqa: B018 (resolved here, before Spark starts)

    @property
    def directory(self) -> str:
        """The output as an absolute local path (the manifest names its shards under it)."""
        return os.path.abspath(local_path(self.output))

    @cached_property
    def mixture(self) -> tuple[list[DatasetSpec], MixtureOptions]:
        """The datasets with their weights, and what build_mixture reads: the weights file's budget, context and
        epochs where these options leave them out, the provenance files read (ConfigError for a mistake)."""
        weights = read_weights_file(self.weights) if self.weights else None
        specs, zero_weight = resolve_mixture(list(self.dataset), weights, check_paths=False)
        budget = self.token_budget if self.token_budget is not None else (weights and weights.token_budget)
        if not budget or budget < 1 or not math.isfinite(budget):
            raise ConfigError("--token-budget must be a positive number of tokens (or set token_budget in --weights)")
        n_ctx = self.n_ctx or (weights and weights.n_ctx) or 2048
        max_epochs = self.max_epochs or (weights and weights.max_epochs) or 3.4
        if n_ctx < 1 or max_epochs <= 0:
            raise ConfigError("--n-ctx and --max-epochs must be positive")
        if bool(self.gpt2_vocab) != bool(self.gpt2_merges):
            raise ConfigError("--gpt2-vocab and --gpt2-merges go together")
        for path in filter(None, (self.gpt2_vocab, self.gpt2_merges)):
            if not os.path.isfile(path):
                raise ConfigError(f"tokenizer file not found: {path}")
        if not self.gpt2_vocab and self.vocab_size < MIN_VOCAB_SIZE:
            raise ConfigError(f"--vocab-size must be at least {MIN_VOCAB_SIZE} (256 bytes + {EOT})")
        if self.tokenizer_sample_docs < 1 or self.tokenizer_sample_chars < 1 or self.shard_text_mb <= 0:
            raise ConfigError("--tokenizer-sample-docs, --tokenizer-sample-chars and --shard-text-mb must be positive")
        provenance = {}
        names = {spec.name for spec in specs}
        for entry in self.provenance:
            name, _, path = entry.partition("=")
            if name not in names:
                raise ConfigError(f"--provenance {entry}: no dataset named {name!r} in the mixture")
            try:
                provenance[name] = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as err:
                raise ConfigError(f"--provenance {entry}: not a readable JSON file ({err})") from None
        return specs, MixtureOptions(
            token_budget=int(budget),
            n_ctx=n_ctx,
            max_epochs=max_epochs,
            vocab_size=self.vocab_size,
            tokenizer_sample_docs=self.tokenizer_sample_docs,
            tokenizer_sample_chars=self.tokenizer_sample_chars,
            seed=self.seed,
            shard_text_bytes=max(1, int(self.shard_text_mb * (1 << 20))),
            gpt2_files=(self.gpt2_vocab, self.gpt2_merges) if self.gpt2_vocab else None,
            weights_file=self.weights,
            zero_weight=tuple(zero_weight),
            provenance=provenance,
        )


class MixtureJob(SparkJob):
    """`spark-submit jobs/mixture.py --dataset NAME=PATH:WEIGHT ... --token-budget T --output DIR`."""

    name = "mixture"
    description = "Curated datasets -> tokenized shards + manifest.json stating the weighted training mixture."
    options_class = MixtureJobOptions

    def validate(self, options):
        for spec in options.mixture[0]:
            check_input(spec.corpus)

    def run(self, spark, options):
        specs, mixture = options.mixture
        try:
            summary = build_mixture(spark, specs, options.directory, mixture)
        except ConfigError as err:  # found only once the input is opened, e.g. a missing text column
            print(f"mixture: error: {err}", file=sys.stderr)
            return EXIT_CONFIG
        except ValueError as err:
            print(f"mixture: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(format_summary(summary, published_path(options.directory)))
        for warning in summary["warning_messages"]:
            print(f"mixture: warning: {warning}", file=sys.stderr)
        return 0


class MixtureStage(Stage):
    """The last stage: the decontaminated datasets the config's [mixture.datasets] name in, tokenized shards and
    their manifest out. Its funnel rows and written counts come from the manifest, in the mixture's order."""

    name = "mixture"
    job = MixtureJob()
    upstream = ("decontaminate",)
    seeded = True
    required = ("datasets",)
    set_by_pipeline = ("dataset", "output")
    input_options = ("weights", "gpt2_vocab", "gpt2_merges")
    funnel_label = "tokenized"

    def wire(self, run, output):
        datasets = tuple(
            MixtureInput(CorpusSpec(name, run.documents("decontaminate", source)), weight)
            for name, (source, weight) in run.mixture_sources.items()
        )
        return {"dataset": datasets, "output": output}

    def counts(self, summary):
        return {
            name: Counts(
                row["documents_in"], row["tokenized"], {k: row.get(k, 0) for k in DROP_REASONS}, row.get("chars")
            )
            for name, row in summary["outcomes"].items()
        }

    def reads(self, run, counts):  # a dataset of weight 0 is not in the mixture
        return [
            Handoff("decontaminate", source, "out", name)
            for name, (source, _) in run.mixture_sources.items()
            if name in counts
        ]

    def manifest(self, directory) -> dict:
        with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as stream:
            return json.load(stream)

    def written(self, spark, directory, counts):
        datasets = self.manifest(directory)["datasets"]
        return {d["name"]: {"out": sum(shard["documents"] for shard in d["shards"])} for d in datasets}

    def funnel_rows(self, directory, counts):
        return [
            {
                "stage": f"{self.name}: {self.funnel_label}",
                "dataset": row["name"],
                "documents": row["documents"],
                "chars": counts[row["name"]].chars_out if row["name"] in counts else None,
                "tokens": row["tokens"],
            }
            for row in self.manifest(directory)["datasets"]
        ]
