"""Hashing shared by the stages: Spark ML's Tokenizer + HashingTF reproduced in Python (so pure-Python
cores and loop baselines compute exactly the features Spark does), and a stable 64-bit hash."""

from __future__ import annotations

import hashlib
import re

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
        k = int.from_bytes(data[i:i + 4], "little") * c1 & mask
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
