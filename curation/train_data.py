"""The trainer's data: which tokens training sequence k holds, and the held-out text it is evaluated on.

Kept apart from the training loop (`curation.train`) and free of torch: every choice here is a pure function of
(seed, what is chosen) — the dataset of sequence k, the order of a dataset's sequences in epoch e, the fixed
evaluation sample — so a resumed run reads exactly what an uninterrupted one would have, and a reader can check
the data order without a model.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass

import numpy as np

from curation.corpora import corpus_files, iter_corpus_file, parse_corpus_spec
from curation.errors import ConfigError
from curation.manifest import Mixture
from curation.tokenizer import document_encoder, eot_id

# independent random streams, each seeded by (seed, stream, what is chosen)
CHOICE_STREAM, ORDER_STREAM, EVAL_STREAM = 0, 1, 2


def seeded_rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def name_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


class TokenStream:
    """A dataset's shards read as one array of tokens."""

    def __init__(self, shards):
        self.arrays = [shard.tokens for shard in shards]
        self.starts = np.cumsum([0] + [len(a) for a in self.arrays])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def read(self, start: int, length: int) -> np.ndarray:
        pieces, shard = [], int(np.searchsorted(self.starts, start, side="right")) - 1
        while length > 0:
            offset = start - self.starts[shard]
            piece = self.arrays[shard][offset : offset + length]
            pieces.append(piece)
            start, length, shard = start + len(piece), length - len(piece), shard + 1
        return np.concatenate(pieces).astype(np.int64)


class MixtureSampler:
    """Training sequences of n_ctx + 1 tokens (inputs and their next tokens) from a mixture.

    Sequence k of the run comes from the dataset that a uniform draw seeded by (seed, k) picks with
    the manifest's weights. Dataset d's sequence i is tokens [i n_ctx, i n_ctx + n_ctx + 1) of its
    stream; within epoch e they are taken in the order of a permutation seeded by (seed, d, e). The
    state is a few counters, so a checkpoint holds the exact data position.
    """

    def __init__(self, mixture: Mixture, n_ctx: int, seed: int):
        self.n_ctx, self.seed = n_ctx, seed
        self.names = list(mixture.datasets)
        self.weights = {name: d.weight for name, d in mixture.datasets.items()}
        self.tokens = {name: d.tokens for name, d in mixture.datasets.items()}
        self.cumulative = np.cumsum([self.weights[name] for name in self.names])
        self.cumulative[-1] = 1.0
        self.streams = {name: TokenStream(d.shards) for name, d in mixture.datasets.items()}
        self.sequences = {name: (len(stream) - 1) // n_ctx for name, stream in self.streams.items()}
        for name, count in self.sequences.items():
            if count < 1:
                raise ConfigError(
                    f"dataset {name!r} has {len(self.streams[name])} tokens, fewer than one sequence "
                    f"of n_ctx + 1 = {n_ctx + 1}: lower --n-ctx or give it more text"
                )
        self.drawn = 0
        self.position = {name: {"epoch": 0, "cursor": 0, "taken": 0} for name in self.names}
        self._orders: dict[str, tuple[int, np.ndarray]] = {}

    def dataset_of(self, k: int) -> str:
        draw = seeded_rng(self.seed, CHOICE_STREAM, k).random()
        return self.names[int(np.searchsorted(self.cumulative, draw, side="right"))]

    def order(self, name: str, epoch: int) -> np.ndarray:
        cached = self._orders.get(name)
        if cached is None or cached[0] != epoch:
            cached = (
                epoch,
                seeded_rng(self.seed, ORDER_STREAM, name_key(name), epoch).permutation(self.sequences[name]),
            )
            self._orders[name] = cached
        return cached[1]

    def sequence(self, name: str, i: int) -> np.ndarray:
        return self.streams[name].read(int(i) * self.n_ctx, self.n_ctx + 1)

    def take(self, n: int) -> np.ndarray:
        """The next n sequences, (n, n_ctx + 1) int64."""
        rows = []
        for _ in range(n):
            name = self.dataset_of(self.drawn)
            where = self.position[name]
            rows.append(self.sequence(name, self.order(name, where["epoch"])[where["cursor"]]))
            where["cursor"] += 1
            where["taken"] += 1
            if where["cursor"] == self.sequences[name]:
                where["epoch"], where["cursor"] = where["epoch"] + 1, 0
            self.drawn += 1
        return np.stack(rows)

    def fixed_sample(self, name: str, count: int) -> np.ndarray:
        """`count` sequences of a dataset that never change during a run, for its evaluation loss."""
        available = self.sequences[name]
        picks = seeded_rng(self.seed, EVAL_STREAM, name_key(name)).choice(
            available, min(count, available), replace=False
        )
        return np.stack([self.sequence(name, i) for i in picks])

    def epochs(self) -> dict[str, float]:
        """Epochs consumed per dataset: tokens trained on from it over its tokens (the manifest's measure)."""
        return {name: where["taken"] * self.n_ctx / self.tokens[name] for name, where in self.position.items()}

    def state_dict(self) -> dict:
        return {"drawn": self.drawn, "position": json.loads(json.dumps(self.position))}

    def load_state_dict(self, state: dict) -> None:
        self.drawn = state["drawn"]
        self.position = json.loads(json.dumps(state["position"]))


@dataclass(frozen=True)
class HeldOutText:
    name: str
    path: str
    windows: np.ndarray  # (n, n_ctx + 1) int64
    documents: int  # documents read (whole or in part)
    skipped: int  # records without text (parse errors, empty)


def held_out_text(spec: str, tokenizer, n_ctx: int, max_tokens: int, doc_tokens: int = 0) -> HeldOutText:
    """The first max_tokens tokens of a text corpus (a curation.corpora spec; Parquet with a text
    column too), packed like training data and cut into sequences; with doc_tokens, each document
    gives at most its first doc_tokens tokens (its EOT included)."""
    corpus = parse_corpus_spec(spec)
    fmt, files = corpus_files(corpus.path, corpus.fmt)
    encoder, eot = document_encoder(tokenizer), eot_id(tokenizer)
    pieces, have, documents, skipped = [], 0, 0, 0

    def texts():
        for path in files:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                yield from pq.read_table(path, columns=[corpus.text_field]).column(0).to_pylist()
            else:
                yield from (record["text"] for record in iter_corpus_file(path, os.path.basename(path), fmt, corpus))

    for text in texts():
        if have >= max_tokens + 1:
            break
        if not text:
            skipped += 1
            continue
        ids = encoder.encode(text, add_special_tokens=False).ids
        ids = (ids[: doc_tokens - 1] if doc_tokens else ids) + [eot]
        pieces.append(np.asarray(ids, dtype=np.int64))
        have += len(ids)
        documents += 1
    stream = np.concatenate(pieces)[: max_tokens + 1] if pieces else np.zeros(0, dtype=np.int64)
    count = (len(stream) - 1) // n_ctx
    if count < 1:
        raise ConfigError(f"held-out text {corpus.name} ({corpus.path}) has fewer than n_ctx + 1 = {n_ctx + 1} tokens")
    windows = np.stack([stream[i * n_ctx : i * n_ctx + n_ctx + 1] for i in range(count)])
    return HeldOutText(corpus.name, corpus.path, windows, documents, skipped)
