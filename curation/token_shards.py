"""Token shards: every document tokenized once into a sorted run, runs merged into content-named shards.

A dataset's shards must be the same bytes for the same documents however the input is split into
tasks, and how many shards it gets depends on its total text, known only once it has been read.
Counting the text, shuffling it and sorting it by doc_id before tokenizing (the first design) cost
more than tokenizing itself. Here the text is read once and never shuffled:

1. `tokenize_to_runs`, the body of one Spark task per input partition, tokenizes each document
   and appends its tokens to the task's run file in arrival order; when the task ends, the run's
   index (key, text key, offset, length) is written sorted by key. The key is
   xxhash64(seed, dataset, doc_id) read as an unsigned 64-bit number, the text key xxhash64(text)
   (which breaks ties between documents sharing a doc_id). The task also counts every document's
   outcome (OUTCOMES) and the characters and bytes it tokenized.
2. With the totals known the dataset gets `shard_count` shards; shard k holds the keys in
   [k * 2^64 / n, (k + 1) * 2^64 / n) (`shard_bounds`). `merge_runs`, the body of one task a shard,
   finds that key range in every run by binary search, orders those documents by (key, text key)
   and copies their tokens into the shard, hashing as it writes.

So a shard depends only on the set of documents, in a pseudo-random order that mixes sites and
sources, and the only sort is of one shard's index. Runs are read back as tokens (2 or 4 bytes a
token, about half the text's bytes), not text. They live beside the shards, on the output
filesystem, which must therefore be shared when executors run on several machines.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import time
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.manifest import DROP_REASONS
from curation.tokenizer import document_encoder, encode_documents, eot_id

HASH_NAME_CHARS = 20  # hex digits of the sha256 in a shard's file name
KEY_SPACE = 1 << 64
OUTCOMES = ("tokenized", *DROP_REASONS)  # the `outcome` column tokenize_to_runs reads: an index into this
COPY_CHUNK_TOKENS = 1 << 22  # tokens gathered from the runs before each write into a shard

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
RUN_META_SCHEMA = pa.schema(
    [
        ("run", pa.string()),  # path stem of the run's files; null when the task tokenized nothing
        *((outcome, pa.int64()) for outcome in OUTCOMES),
        ("chars", pa.int64()),
        ("text_bytes", pa.int64()),
        ("tokens", pa.int64()),
        ("tokenize_seconds", pa.float64()),  # in the tokenizer, for the profile in the summary
    ]
)


def shard_count(text_bytes: int, shard_text_bytes: int) -> int:
    return max(1, math.ceil(text_bytes / shard_text_bytes))


def shard_bounds(shards: int) -> list[int]:
    """Shard k holds the keys in [bounds[k], bounds[k + 1]); the last bound is 2^64."""
    return [k * KEY_SPACE // shards for k in range(shards + 1)]


def key_range(keys: np.ndarray, low: int, high: int) -> tuple[int, int]:
    """The slice of the sorted uint64 `keys` that falls in [low, high), high up to 2^64."""
    start = int(np.searchsorted(keys, np.uint64(low), side="left"))
    end = len(keys) if high >= KEY_SPACE else int(np.searchsorted(keys, np.uint64(high), side="left"))
    return start, end


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


class RunWriter:
    """One task's run: STEM.bin (tokens in arrival order), STEM.keys.npy (sorted uint64 keys) and
    STEM.rows.npy (text key, offset, length per key, uint64). Files appear only once a document does."""

    def __init__(self, run_dir: str, dtype: np.dtype):
        self.stem = os.path.join(run_dir, uuid.uuid4().hex)  # a retried attempt writes beside, never over
        self.dtype, self.stream = dtype, None
        self.keys: list[np.ndarray] = []
        self.text_keys: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []

    def add(self, keys: np.ndarray, text_keys: np.ndarray, tokens: np.ndarray, lengths: np.ndarray) -> None:
        if self.stream is None:
            self.stream = open(self.stem + ".bin", "wb")
        self.stream.write(tokens.astype(self.dtype, copy=False).tobytes())
        self.keys.append(keys)
        self.text_keys.append(text_keys)
        self.lengths.append(lengths)

    def finish(self) -> str | None:
        if self.stream is None:
            return None
        self.stream.close()
        keys, lengths = np.concatenate(self.keys), np.concatenate(self.lengths).astype(np.uint64)
        offsets = np.zeros(len(lengths), dtype=np.uint64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        order = np.argsort(keys, kind="stable")
        rows = np.stack([np.concatenate(self.text_keys)[order], offsets[order], lengths[order]], axis=1)
        np.save(self.stem + ".keys.npy", keys[order], allow_pickle=False)
        np.save(self.stem + ".rows.npy", rows, allow_pickle=False)
        return self.stem


def tokenize_to_runs(batches, *, run_dir: str, tokenizer_json: str, dtype: str):
    """mapInArrow body: (key, text_key, outcome, text) batches of one partition -> one RUN_META_SCHEMA row.

    `outcome` indexes OUTCOMES; only "tokenized" rows need their text (the others are counted)."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core per Spark task
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    encoder, eot, token_type = document_encoder(tokenizer), eot_id(tokenizer), np.dtype(dtype)
    run = RunWriter(run_dir, token_type)
    counts = np.zeros(len(OUTCOMES), dtype=np.int64)
    chars = text_bytes = tokens_total = 0
    seconds = 0.0
    for batch in batches:
        outcome = batch.column("outcome").to_numpy(zero_copy_only=False)
        counts += np.bincount(outcome, minlength=len(OUTCOMES))
        kept = batch.filter(pa.array(outcome == 0))
        if kept.num_rows == 0:
            continue
        texts = kept.column("text")
        chars += pc.sum(pc.utf8_length(texts)).as_py()
        text_bytes += pc.sum(pc.binary_length(texts)).as_py()
        started = time.perf_counter()
        tokens, lengths = encode_documents(encoder, texts.to_pylist(), eot, token_type)
        seconds += time.perf_counter() - started
        tokens_total += len(tokens)
        keys = kept.column("key").to_numpy().view(np.uint64)
        run.add(keys, kept.column("text_key").to_numpy().view(np.uint64), tokens, lengths)
    row = {"run": run.finish(), **dict(zip(OUTCOMES, counts.tolist()))}
    row |= {"chars": chars, "text_bytes": text_bytes, "tokens": tokens_total, "tokenize_seconds": seconds}
    yield pa.RecordBatch.from_pylist([row], schema=RUN_META_SCHEMA)


def write_shard(runs: list[str], shard: int, shards: int, shard_dir: str, dtype: np.dtype) -> dict | None:
    """Shard `shard` of `shards` from the runs (their stems): its metadata, or None when no key falls in it."""
    low, high = shard_bounds(shards)[shard : shard + 2]
    keys, rows, run_of = [], [], []
    for number, stem in enumerate(runs):
        run_keys = np.load(stem + ".keys.npy", mmap_mode="r")
        start, end = key_range(run_keys, low, high)
        if start < end:
            keys.append(np.asarray(run_keys[start:end]))
            rows.append(np.asarray(np.load(stem + ".rows.npy", mmap_mode="r")[start:end]))
            run_of.append(np.full(end - start, number))
    if not keys:
        return None
    keys, rows, run_of = np.concatenate(keys), np.concatenate(rows), np.concatenate(run_of)
    order = np.lexsort((rows[:, 0], keys))
    offsets, lengths, run_of = rows[order, 1].astype(np.int64), rows[order, 2].astype(np.int64), run_of[order]
    tokens = {number: np.memmap(runs[number] + ".bin", dtype=dtype, mode="r") for number in np.unique(run_of)}
    writer = ShardWriter(shard_dir, shard, dtype)
    ends = np.cumsum(lengths)
    first = 0
    while first < len(order):  # copy about COPY_CHUNK_TOKENS at a time, at least one document
        last = max(first + 1, int(np.searchsorted(ends, ends[first] - lengths[first] + COPY_CHUNK_TOKENS, "right")))
        pieces = [tokens[r][o : o + n] for r, o, n in zip(run_of[first:last], offsets[first:last], lengths[first:last])]
        writer.add(np.concatenate(pieces), lengths[first:last])
        first = last
    return writer.finish()


def merge_runs(batches, *, runs: list[str], shards: int, shard_dir: str, dtype: str):
    """mapInArrow body: shard numbers (column `id`) -> one SHARD_META_SCHEMA row per shard that has documents."""
    for batch in batches:
        for shard in batch.column("id").to_pylist():
            meta = write_shard(runs, shard, shards, shard_dir, np.dtype(dtype))
            if meta is not None:
                yield pa.RecordBatch.from_pylist([meta], schema=SHARD_META_SCHEMA)
