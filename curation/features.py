"""Hashing shared by the stages: Spark ML's Tokenizer + HashingTF reproduced in Python (so pure-Python
cores and loop baselines compute exactly the features Spark does), and a stable 64-bit hash."""

from __future__ import annotations

import hashlib
import re

import numpy as np

HASHING_TF_SEED = 42  # Spark's HashingTF / FeatureHasher murmur3 seed
JAVA_WHITESPACE = re.compile(r"[ \t\n\x0b\f\r]")  # Java's \s, which Spark's Tokenizer splits on


def hash64(data: bytes) -> int:
    """A stable unsigned 64-bit hash (Python's own `hash` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def murmur3_x86_32(data: bytes, seed: int = HASHING_TF_SEED) -> int:
    """Signed 32-bit MurmurHash3 (x86_32), the hash Spark's HashingTF applies to a term's UTF-8 bytes."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    rounded = len(data) & ~3
    for i in range(0, rounded, 4):
        k = int.from_bytes(data[i : i + 4], "little") * c1 & mask
        k = ((k << 15) | (k >> 17)) * c2 & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[rounded:]
    if tail:
        k = int.from_bytes(tail, "little") * c1 & mask
        h ^= ((k << 15) | (k >> 17)) * c2 & mask
    h ^= len(data)
    h ^= h >> 16
    h = h * 0x85EBCA6B & mask
    h ^= h >> 13
    h = h * 0xC2B2AE35 & mask
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def spark_tokens(text: str) -> list[str]:
    """Spark's `Tokenizer`: lower-case, split on each single whitespace character, trailing empties dropped."""
    tokens = JAVA_WHITESPACE.split(text.lower())
    while tokens and not tokens[-1]:
        tokens.pop()
    return tokens


def murmur3_strings(strings) -> np.ndarray:
    """`murmur3_x86_32` of every string of a pyarrow string array at once (numpy, int32): the hash Spark's
    HashingTF gives each term. Strings are processed in order of length, so the 4-byte blocks of step j
    are those of a prefix of the array."""
    import pyarrow as pa

    strings = strings.cast(pa.large_string()) if strings.type != pa.large_string() else strings
    offsets = np.frombuffer(strings.buffers()[1], np.int64)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(strings.buffers()[2], np.uint8) if strings.buffers()[2] else np.zeros(0, np.uint8)
    data = np.concatenate([data[offsets[0] : offsets[-1]], np.zeros(4, np.uint8)]).astype(np.uint32)
    starts, lengths = offsets[:-1] - offsets[0], np.diff(offsets)
    order = np.argsort(-lengths, kind="stable")
    starts, lengths = starts[order], lengths[order]
    blocks = lengths // 4
    h = np.full(len(order), HASHING_TF_SEED, np.uint32)
    for j in range(int(blocks[0]) if len(blocks) else 0):
        active = int(np.searchsorted(-blocks, -j, side="left"))  # blocks is descending: blocks[:active] > j
        p = starts[:active] + 4 * j
        k = _mix_k(data[p] | data[p + 1] << 8 | data[p + 2] << 16 | data[p + 3] << 24)
        x = h[:active] ^ k
        h[:active] = _rotl(x, 13) * np.uint32(5) + np.uint32(0xE6546B64)
    tail_length, tail = lengths & 3, starts + 4 * blocks
    k = np.zeros(len(order), np.uint32)
    for b in range(3):
        k |= np.where(tail_length > b, data[tail + b] << (8 * b), 0).astype(np.uint32)
    h ^= np.where(tail_length > 0, _mix_k(k), np.uint32(0))
    h ^= lengths.astype(np.uint32)
    h ^= h >> 16
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> 13
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> 16
    hashes = np.empty_like(h)
    hashes[order] = h
    return hashes.view(np.int32)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _mix_k(k: np.ndarray) -> np.ndarray:
    return _rotl(k.astype(np.uint32) * np.uint32(0xCC9E2D51), 15) * np.uint32(0x1B873593)
