"""Mixture: weights, tokenizer, shards written by Spark, the manifest's schema and the checksummed reader."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.errors import ConfigError
from curation.manifest import (
    MANIFEST_SCHEMA,
    ChecksumError,
    ManifestError,
    epochs_at_budget,
    load_manifest,
    schema_errors,
    validate_manifest,
)
from curation.mixture import (
    DEFAULT_WEIGHTS,
    MixtureJob,
    MixtureOptions,
    build_mixture,
    epoch_warnings,
    upstream_summaries,
)
from curation.mixture_weights import parse_dataset_arg, read_weights_file, resolve_mixture
from curation.token_shards import KEY_SPACE, OUTCOMES, key_range, shard_bounds, tokenize_to_runs, write_shard
from curation.tokenizer import EOT, document_encoder, encode_documents, eot_id, load_gpt2, token_dtype, train_bpe

VOCAB = 1024
EDGE_DOCS = [  # (doc_id, text): the awkward cases every shard writer must survive
    ("edge-empty", ""),
    ("edge-null", None),
    ("edge-eot", f"A document that quotes the separator {EOT} in its own text."),
    ("edge-unicode", "Zürich, 東京, Москва, emoji 🙂 a tab\tand\n\n  indented lines."),
    ("edge-dup", "The first of two documents that share one doc_id."),
    ("edge-dup", "The second of two documents that share one doc_id."),
]


def reference_rows(sample_dir: Path, name: str) -> list[tuple[str, str]]:
    with gzip.open(sample_dir / "reference" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as lines:
        return [(str(row["id"]), row["text"]) for row in map(json.loads, lines)]  # the id read_corpus gives


def write_parquet(rows: list[tuple[str, str | None]], out: Path, files: int) -> str:
    """`rows` as `files` Parquet files, in a different order than given, so that partitioning varies."""
    out.mkdir(parents=True)
    ordered = rows[::-1] if files > 1 else rows
    for i in range(files):
        part = ordered[i::files]
        table = pa.table({"doc_id": [r[0] for r in part], "text": [r[1] for r in part]})
        pq.write_table(table, out / f"part-{i}.parquet")
    return str(out)


@pytest.fixture(scope="module")
def corpora(sample_dir, tmp_path_factory) -> dict[str, list]:
    return {"web": reference_rows(sample_dir, "webtext") + EDGE_DOCS, "wiki": reference_rows(sample_dir, "wikipedia")}


@pytest.fixture(scope="module")
def built(spark, sample_dir, corpora, tmp_path_factory) -> Path:
    """One mixture, built through the library call: web from one Parquet file, wiki straight from JSONL."""
    base = tmp_path_factory.mktemp("mixture")
    web = write_parquet(corpora["web"], base / "in" / "web", 1)
    specs, _ = resolved([f"web={web}:3", f"wiki={sample_dir / 'reference' / 'wikipedia.jsonl.gz'}:1"], None)
    options = MixtureOptions(token_budget=200_000, vocab_size=VOCAB, shard_text_bytes=16_000)
    build_mixture(spark, specs, str(base / "out"), options)
    return base / "out"


# --- weights ----------------------------------------------------------------------------------


def resolved(args: list[str], weights_file):
    """resolve_mixture of `--dataset` words."""
    return resolve_mixture([parse_dataset_arg(arg) for arg in args], weights_file)


def test_parse_dataset_arg_keeps_colons_in_paths():
    for arg, path, weight in (
        ("cc=/data/cc:0.6", "/data/cc", 0.6),
        ("cc=s3a://bucket/cc:1e-2", "s3a://bucket/cc", 0.01),
        ("cc=s3a://bucket/cc", "s3a://bucket/cc", None),
        ("cc=/data/cc", "/data/cc", None),
    ):
        dataset = parse_dataset_arg(arg)
        assert (dataset.name, dataset.corpus.path, dataset.weight) == ("cc", path, weight)
    with pytest.raises(ConfigError, match="NAME=PATH:WEIGHT"):
        parse_dataset_arg("/data/cc:0.6")


def test_default_weights_are_gpt3_table_2_2():
    weights = read_weights_file(str(DEFAULT_WEIGHTS))
    assert weights.weights == {
        "common_crawl": 0.60,
        "webtext2": 0.22,
        "books1": 0.08,
        "books2": 0.08,
        "wikipedia": 0.03,
    }
    assert (weights.token_budget, weights.n_ctx, weights.max_epochs) == (300_000_000_000, 2048, 3.4)
    # Common Crawl: 60% of 300B tokens over 410B tokens is the paper's 0.44 epochs
    assert round(epochs_at_budget(0.60, weights.token_budget, 410_000_000_000), 2) == 0.44


def test_weights_are_validated_and_renormalized(tmp_path):
    paths = {}
    for name in ("common_crawl", "webtext2", "books1", "books2", "wikipedia"):
        paths[name] = tmp_path / name
        paths[name].mkdir()
    table = read_weights_file(str(DEFAULT_WEIGHTS))
    every = [f"{name}={path}" for name, path in paths.items()]
    specs, zero = resolved(every, table)
    weights = {s.name: s.weight for s in specs}
    assert sum(weights.values()) == pytest.approx(1.0) and zero == []
    assert weights["common_crawl"] == pytest.approx(0.60 / 1.01)  # the table's weights sum to 1.01
    assert {s.name: s.weight_given for s in specs}["wikipedia"] == 0.03

    specs, zero = resolved([*every[:3], f"books2={paths['books2']}:0", every[4]], table)
    assert zero == ["books2"] and "books2" not in {s.name for s in specs}

    (books,), _ = resolved([f"books={paths['books1']},strip_gutenberg=true,format=jsonl:0.5"], None)
    assert (books.path, books.corpus.strip_gutenberg, books.corpus.fmt, books.weight) == (
        str(paths["books1"]),
        True,
        "jsonl",
        1.0,
    )

    errors = {
        "bad corpus option": ([f"a={paths['books1']},gutenberg=yes:1"], None),
        "must be finite and not negative": ([f"a={paths['books1']}:-1", f"b={paths['books2']}:1"], None),
        "all dataset weights are zero": ([f"a={paths['books1']}:0"], None),
        "has no weight": ([f"a={paths['books1']}"], None),
        "unknown dataset 'books3'": ([*every, f"books3={paths['books1']}"], table),
        "'books2' has weight 0.08 .* but no path": ([*every[:3], every[4]], table),
        "input path does not exist": ([f"a={tmp_path / 'missing'}:1"], None),
        "given twice": ([f"a={paths['books1']}:1", f"a={paths['books2']}:1"], None),
    }
    for message, (args, weights_file) in errors.items():
        with pytest.raises(ConfigError, match=message):
            resolved(args, weights_file)


def test_config_mistakes_fail_before_spark_with_status_2(tmp_path, capsys):
    existing = tmp_path / "cc"
    existing.mkdir()
    out = str(tmp_path / "out")
    assert MixtureJob().main(["--dataset", f"cc={existing}:-0.5", "--token-budget", "1e6", "--output", out]) == 2
    assert "weights must be finite and not negative" in capsys.readouterr().err
    assert MixtureJob().main(["--weights", str(DEFAULT_WEIGHTS), "--dataset", f"cc={existing}", "--output", out]) == 2
    assert "unknown dataset 'cc'" in capsys.readouterr().err
    assert MixtureJob().main(["--dataset", f"cc={existing}:1", "--output", out]) == 2
    assert "--token-budget" in capsys.readouterr().err


def test_provenance_comes_from_the_upstream_stage_summaries(tmp_path):
    run = tmp_path / "run"
    for stage, summary in (("extract", {"documents": 10}), ("decontaminate", {"documents_in": 9, "dropped": 1})):
        (run / stage).mkdir(parents=True)
        (run / stage / "summary.json").write_text(json.dumps(summary))
    (run / "decontaminate" / "common_crawl" / "documents").mkdir(parents=True)
    found = upstream_summaries(str(run / "decontaminate" / "common_crawl" / "documents"))
    assert found == {"extract": {"documents": 10}, "decontaminate": {"documents_in": 9, "dropped": 1}}
    assert upstream_summaries(str(tmp_path)) == {}


def test_epoch_warning_above_the_limit():
    datasets = [{"name": "wiki", "epochs": 3.5}, {"name": "cc", "epochs": 0.44}]
    warnings = epoch_warnings(datasets, 300_000_000_000, 3.4)
    assert len(warnings) == 1 and "'wiki' would be repeated 3.50 epochs" in warnings[0]


# --- tokenizer --------------------------------------------------------------------------------


def test_bpe_is_deterministic_lossless_and_keeps_literal_eot_inside_documents(corpora):
    texts = [t for _, t in corpora["web"] if t]
    tokenizer = train_bpe(texts, VOCAB)
    assert tokenizer.to_str() == train_bpe(texts, VOCAB).to_str()
    eot = eot_id(tokenizer)
    tokens, lengths = encode_documents(document_encoder(tokenizer), texts, eot, token_dtype(VOCAB))
    assert tokens.dtype == np.uint16 and int((tokens == eot).sum()) == len(texts)  # only the boundaries
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for i, text in enumerate(texts):
        assert tokenizer.decode(tokens[offsets[i] : offsets[i + 1]].tolist(), skip_special_tokens=False) == text + EOT


def test_gpt2_vocab_and_merges_files_load(corpora, tmp_path):
    trained = train_bpe([t for _, t in corpora["wiki"]], VOCAB)
    vocab, merges = trained.model.save(str(tmp_path))
    loaded = load_gpt2(vocab, merges)
    text = corpora["web"][0][1]
    assert loaded.encode(text).ids == trained.encode(text).ids
    assert eot_id(loaded) == eot_id(trained)


def test_token_dtype_is_uint16_when_the_vocabulary_fits():
    assert token_dtype(50_257) == np.uint16 and token_dtype(65_536) == np.uint16 and token_dtype(65_537) == np.uint32


def key_batches(rows: list[tuple[int, str]], tasks: int, seed: int) -> list[list[pa.RecordBatch]]:
    """(key, text) rows as `tasks` Spark-like partitions of shuffled batches of (key, text_key, outcome, text)."""
    order = np.random.default_rng(seed).permutation(len(rows))
    parts = np.array_split(order, tasks)
    batches = []
    for part in parts:
        chunk = [rows[i] for i in part]
        batch = pa.record_batch(
            {
                "key": pa.array(np.array([k for k, _ in chunk], dtype=np.uint64).view(np.int64)),
                "text_key": pa.array(
                    [int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little", signed=True) for _, t in chunk],
                    pa.int64(),
                ),
                "outcome": pa.array([OUTCOMES.index("tokenized" if t else "empty_text") for _, t in chunk], pa.int8()),
                "text": pa.array([t for _, t in chunk], pa.string()),
            }
        )
        batches.append([batch.slice(0, len(chunk) // 2), batch.slice(len(chunk) // 2)])
    return batches


def test_shard_bounds_cover_the_key_space_and_key_range_finds_the_edges():
    assert shard_bounds(1) == [0, KEY_SPACE] and shard_bounds(4)[2] == 1 << 63
    keys = np.array([0, 5, 1 << 63, KEY_SPACE - 1], dtype=np.uint64)
    assert [key_range(keys, low, high) for low, high in zip(shard_bounds(2), shard_bounds(2)[1:])] == [(0, 2), (2, 4)]
    assert key_range(keys, 1, 5) == (1, 1) and key_range(keys, 0, KEY_SPACE) == (0, 4)


def test_shards_are_the_same_bytes_however_the_documents_are_split_into_tasks(corpora, tmp_path):
    """Runs from 1, 3 or 7 tasks (documents in other orders, other batches) merge into the same shard files;
    uint32 shards hold the same ids as uint16 ones, and every file is named by its content."""
    texts = [t for _, t in corpora["wiki"]]
    tokenizer = train_bpe(texts, VOCAB)
    keys = np.random.default_rng(0).integers(0, 2**64, len(texts), dtype=np.uint64, endpoint=False).tolist()
    rows = [*zip(keys, texts), (keys[0], texts[1]), (keys[1], "")]  # a shared key, and an empty text
    shards = 3
    written = {}
    for tasks, dtype in ((1, "<u2"), (3, "<u2"), (7, "<u2"), (2, "<u4")):
        out = tmp_path / f"{tasks}-{dtype}"
        (out / "runs").mkdir(parents=True)
        metas = [
            row
            for batches in key_batches(rows, tasks, seed=tasks)
            for result in tokenize_to_runs(
                batches, run_dir=str(out / "runs"), tokenizer_json=tokenizer.to_str(), dtype=dtype
            )
            for row in result.to_pylist()
        ]
        assert sum(m["tokenized"] for m in metas) == len(texts) + 1 and sum(m["empty_text"] for m in metas) == 1
        runs = sorted(m["run"] for m in metas if m["run"])
        shard_rows = [write_shard(runs, k, shards, str(out), np.dtype(dtype)) for k in range(shards)]
        assert sum(r["documents"] for r in shard_rows) == len(texts) + 1
        for row in shard_rows:
            data = (out / row["tokens_file"]).read_bytes()
            assert row["tokens_file"] == row["sha256"][:20] + ".bin"
            assert hashlib.sha256(data).hexdigest() == row["sha256"]
            assert len(data) == row["bytes"] == row["tokens"] * np.dtype(dtype).itemsize
            offsets = np.load(out / row["index_file"])
            assert offsets[0] == 0 and offsets[-1] == row["tokens"] and len(offsets) == row["documents"] + 1
        written[(tasks, dtype)] = (shard_rows, [np.fromfile(out / r["tokens_file"], dtype=dtype) for r in shard_rows])
        assert not list(out.glob(".tmp-*"))
    first_rows, first_tokens = written[(1, "<u2")]
    for tasks in (3, 7):
        assert written[(tasks, "<u2")][0] == first_rows
    assert all(np.array_equal(a, b) for a, b in zip(first_tokens, written[(2, "<u4")][1]))


def test_real_text_round_trips(shared_data):
    texts = []
    for name, count in (("wikipedia", 100), ("webtext", 100), ("books", 2)):
        with gzip.open(shared_data / "reference" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as lines:
            texts += [json.loads(line)["text"] for _, line in zip(range(count), lines)]
    tokenizer = train_bpe(texts[:50], 2048)
    tokens, lengths = encode_documents(document_encoder(tokenizer), texts, eot_id(tokenizer), np.dtype("<u2"))
    decoded = tokenizer.decode(tokens.tolist(), skip_special_tokens=False)
    assert decoded == "".join(text + EOT for text in texts)
    assert tokens.size > sum(map(len, texts)) / 8  # a 2k vocabulary cannot compress 8 characters a token


# --- the Spark job and the manifest -----------------------------------------------------------


def test_manifest_validates_against_its_schema(built):
    manifest = json.loads((built / "manifest.json").read_text())
    written_schema = json.loads((built / "manifest.schema.json").read_text())
    assert written_schema == MANIFEST_SCHEMA
    assert schema_errors(manifest, written_schema) == []
    validate_manifest(manifest)
    assert manifest["tokenizer"]["vocab_size"] == VOCAB and manifest["tokenizer"]["dtype"] == "uint16"
    assert [d["name"] for d in manifest["datasets"]] == ["web", "wiki"]
    assert [d["weight"] for d in manifest["datasets"]] == [0.75, 0.25]
    assert all(len(d["shards"]) > 1 for d in manifest["datasets"])

    broken = json.loads(json.dumps(manifest))
    del broken["n_ctx"]
    broken["datasets"][0]["shards"][0]["sha256"] = "not-a-hash"
    broken["tokenizer"]["dtype"] = "int8"
    errors = " ".join(schema_errors(broken, MANIFEST_SCHEMA))
    assert "missing 'n_ctx'" in errors and "sha256" in errors and "tokenizer.dtype" in errors
    inconsistent = json.loads(json.dumps(manifest))
    inconsistent["datasets"][0]["tokens"] += 1
    with pytest.raises(ManifestError, match="'web': tokens or documents differ"):
        validate_manifest(inconsistent)


def test_token_counts_recomputed_from_shards_equal_the_manifest(built, corpora):
    mixture = load_manifest(built)
    summary = json.loads((built / "summary.json").read_text())
    assert summary["conserved"] and (summary["empty_text"], summary["null_text"], summary["parse_error"]) == (1, 1, 0)
    assert summary["documents_in"] == sum(len(rows) for rows in corpora.values())
    for name, dataset in mixture.datasets.items():
        shards = dataset.shards
        assert all(isinstance(s.tokens, np.memmap) and s.tokens.dtype == np.uint16 for s in shards)
        assert sum(s.path.stat().st_size // 2 for s in shards) == dataset.tokens
        assert sum(int((s.tokens == mixture.eot_id).sum()) for s in shards) == dataset.documents
        assert all(s.tokens[-1] == mixture.eot_id for s in shards)
        expected = sum(1 for _, text in corpora[name] if text)
        assert dataset.documents == expected
        assert dataset.epochs == pytest.approx(dataset.weight * mixture.token_budget / dataset.tokens)


def test_decoded_shards_give_back_the_documents_separated_by_eot(built, corpora):
    mixture = load_manifest(built)
    tokenizer = mixture.tokenizer()
    for name, dataset in mixture.datasets.items():
        decoded_docs = []
        for shard in dataset.shards:
            whole = tokenizer.decode(shard.tokens.tolist(), skip_special_tokens=False)
            docs = [
                tokenizer.decode(shard.document(i).tolist(), skip_special_tokens=False) for i in range(shard.documents)
            ]
            assert all(doc.endswith(EOT) for doc in docs) and whole == "".join(docs)
            decoded_docs += [doc.removesuffix(EOT) for doc in docs]
        assert Counter(decoded_docs) == Counter(text for _, text in corpora[name] if text)


def test_same_shards_whatever_the_input_partitioning(spark, built, corpora, tmp_path):
    """Four input files in another order, split into many more tasks, through the CLI entry point:
    byte-identical shards, the same checksums in the manifest and the same counts."""
    args = [
        "--dataset",
        f"web={write_parquet(corpora['web'], tmp_path / 'in' / 'web', 4)}:3",
        "--dataset",
        f"wiki={write_parquet(corpora['wiki'], tmp_path / 'in' / 'wiki', 4)}:1",
    ]
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4096")
    try:
        assert spark.read.parquet(str(tmp_path / "in" / "web")).rdd.getNumPartitions() >= 4
        status = MixtureJob().main(
            [
                *args,
                "--token-budget",
                "2e5",
                "--vocab-size",
                str(VOCAB),
                "--shard-text-mb",
                str(16_000 / (1 << 20)),
                "--output",
                str(tmp_path / "out"),
            ]
        )
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert status == 0
    first = json.loads((built / "manifest.json").read_text())
    again = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert again["tokenizer"]["sha256"] == first["tokenizer"]["sha256"]
    assert [d["shards"] for d in again["datasets"]] == [d["shards"] for d in first["datasets"]]
    outcomes = [json.loads((out / "summary.json").read_text())["outcomes"] for out in (built, tmp_path / "out")]
    assert outcomes[0] == outcomes[1]  # the same documents, drops and characters


def test_corrupted_shard_fails_checksum_verification(built, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    shard = json.loads((copy / "manifest.json").read_text())["datasets"][1]["shards"][0]
    path = copy / shard["tokens_file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=f"shard {shard['tokens_file']}: checksum mismatch"):
        load_manifest(copy)
    load_manifest(copy, verify=False)  # sizes still match: only the sha256 catches a flipped byte
    path.write_bytes(bytes(data[:-2]))
    with pytest.raises(ChecksumError, match="corrupt or truncated"):
        load_manifest(copy, verify=False)


def test_null_text_is_its_own_reason_and_characters_are_counted(built, corpora):
    """A null text (a record read whole) is `null_text`, not a parse error; the summary counts the characters
    tokenized, which are the input's non-empty texts."""
    import re

    summary = json.loads((built / "summary.json").read_text())
    web = summary["outcomes"]["web"]
    assert (web["empty_text"], web["null_text"], web["parse_error"]) == (1, 1, 0)
    for name, rows in corpora.items():
        expected = sum(len(re.sub("\r\n?", "\n", text)) for _, text in rows if text)
        assert summary["outcomes"][name]["chars"] == expected
    assert summary["chars"] == sum(o["chars"] for o in summary["outcomes"].values())
    manifest = json.loads((built / "manifest.json").read_text())
    assert {d["name"]: d["dropped"]["null_text"] for d in manifest["datasets"]} == {"web": 1, "wiki": 0}
