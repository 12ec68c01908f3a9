"""Byte-level BPE tokenizers for the mixture: trained from curated text, or GPT-2's own files.

Nothing is downloaded: a tokenizer is either trained here with the `tokenizers` library from a
sample of the data, or read from a user-supplied GPT-2 `vocab.json` + `merges.txt`. Byte-level
BPE is lossless, so decoding a document's ids gives back its exact text.

Documents are encoded with `document_encoder(tokenizer)`, a copy that does not recognise
`<|endoftext|>` inside text: a document that happens to contain that string is encoded as
ordinary characters, and the only EOT ids in a shard are the boundaries we put there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOT = "<|endoftext|>"
GPT2_VOCAB_SIZE = 50_257
MIN_VOCAB_SIZE = 257  # the 256 byte symbols and EOT


def byte_level(tokenizer: Tokenizer) -> Tokenizer:
    """Give `tokenizer` GPT-2's byte-level pre-tokenizer and decoder."""
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def train_bpe(texts: Iterable[str], vocab_size: int = GPT2_VOCAB_SIZE) -> Tokenizer:
    """A byte-level BPE with `vocab_size` entries (EOT included, id 0) learned from `texts`.

    Training is deterministic: the same texts in the same order give the same tokenizer.
    """
    if vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(f"vocabulary size must be at least {MIN_VOCAB_SIZE} (256 bytes + {EOT}), got {vocab_size}")
    tokenizer = byte_level(Tokenizer(models.BPE()))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def load_gpt2(vocab_json: str, merges_txt: str) -> Tokenizer:
    """GPT-2's tokenizer from its published `vocab.json` and `merges.txt` (EOT is id 50256 there)."""
    tokenizer = byte_level(Tokenizer(models.BPE.from_file(vocab_json, merges_txt)))
    tokenizer.add_special_tokens([EOT])
    return tokenizer


def eot_id(tokenizer: Tokenizer) -> int:
    token = tokenizer.token_to_id(EOT)
    if token is None:
        raise ValueError(f"the tokenizer has no {EOT} token")
    return token


def vocab_size(tokenizer: Tokenizer) -> int:
    return tokenizer.get_vocab_size(with_added_tokens=True)


def token_dtype(size: int) -> np.dtype:
    """uint16 when every id fits (GPT-2's 50,257 does), else uint32."""
    return np.dtype("<u2") if size <= 2**16 else np.dtype("<u4")


def document_encoder(tokenizer: Tokenizer) -> Tokenizer:
    """A copy of `tokenizer` that encodes EOT-looking text as plain characters (see module docstring)."""
    spec = json.loads(tokenizer.to_str())
    spec["added_tokens"] = []
    return Tokenizer.from_str(json.dumps(spec))


def encode_documents(encoder: Tokenizer, texts: list[str], eot: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(token ids with EOT after every document, per-document lengths in tokens including the EOT)."""
    encodings = encoder.encode_batch_fast(texts, add_special_tokens=False) if texts else []
    lengths = np.fromiter((len(e.ids) + 1 for e in encodings), dtype=np.int64, count=len(encodings))
    tokens = np.empty(int(lengths.sum()), dtype=dtype)
    position = 0
    for encoding, length in zip(encodings, lengths):
        tokens[position : position + length - 1] = encoding.ids
        tokens[position + length - 1] = eot
        position += length
    return tokens, lengths
