"""Deduplication's pure core: a document's exact key, feature set, MinHash signature and LSH band keys,
computed for a whole batch of documents at once with numpy.

Why over the batch and not per document: on real pages (~9,000 characters, ~1,500 words) the per-document
Python path (NFKC + regex per text, a dict lookup per word, numpy calls per document) cost ~5 ms a document,
five times the whole budget. Here a batch's texts become one array of code points; word boundaries, word
hashes, rolling n-gram hashes and the per-document MinHash minima are numpy passes over flat arrays (`reduceat`
over document offsets), and the feature sets are one sort of the batch. Python loops per document only to hash
its folded text.

Definitions (Spark workers, the single-process loops and the tests all call these, so they agree):
- a word is a maximal run of characters Python's `\\w` matches, lower-cased character by character (the only
  character whose lower case is two characters, U+0130, stays itself);
- a feature (`shingles`) is a 32-bit hash of a word n-gram (a text with fewer than n words is one shingle);
  (`classifier`) a Spark HashingTF index of a Tokenizer token. A document's features are a sorted set;
- the exact key is blake2b-64 of the text folded character by character (NFKC where that gives one
  character, then lower case), whitespace runs collapsed to one space, ends stripped; None if nothing is left.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from functools import cache

import numpy as np

from curation.features import murmur3_x86_32, spark_tokens

U64 = np.uint64
NGRAM_MULTIPLIER = U64(0x9E3779B97F4A7C15)  # odd: the rolling n-gram combine stays a bijection per position
TABLE_SIZE = 0x40000  # code points with a case, a word class or an NFKC form all lie below (planes 0-3)
CHUNK_CHARS = 1 << 22  # code points per numpy pass: bounds a worker's temporary arrays (~60 bytes a character)
SEPARATOR = "\n"  # between the texts of a batch: whitespace and not a word character, so nothing spans two texts


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a fast bijective scrambler of uint64 values (wrapping arithmetic)."""
    x = x.astype(U64, copy=True)
    x ^= x >> U64(30)
    x *= U64(0xBF58476D1CE4E5B9)
    x ^= x >> U64(27)
    x *= U64(0x94D049BB133111EB)
    x ^= x >> U64(31)
    return x


@cache
def char_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(is_word, lower, fold, is_space) indexed by any code point (computed for planes 0-3); built once a process."""
    every = "".join(map(chr, range(TABLE_SIZE)))
    is_word = np.zeros(0x110000, dtype=bool)
    for match in re.finditer(r"\w+", every):
        is_word[match.start() : match.end()] = True
    lowered = every[:0x130].lower() + "\u0130" + every[0x131:].lower()  # U+0130 lowers to two characters
    lower = np.arange(0x110000, dtype=np.uint32)
    lower[:TABLE_SIZE] = np.frombuffer(lowered.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lower[0x3A3] = 0x3C3  # str.lower's final-sigma rule looks at neighbours; per character it is plain sigma
    fold = lower.copy()
    # NFKC of each character in one call: NUL between them blocks any composition across neighbours
    folded = unicodedata.normalize("NFKC", "\0".join(every[1:])).split("\0")
    for code, (char, form) in enumerate(zip(every[1:], folded), start=1):
        if form != char and len(form.lower()) == 1:
            fold[code] = ord(form.lower())
    is_space = np.zeros(0x110000, dtype=bool)
    for match in re.finditer(r"\s+", every):
        is_space[match.start() : match.end()] = True
    return is_word, lower, fold, is_space


def code_points(texts: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code points of the texts, each followed by SEPARATOR; each text's start; its end); None is empty."""
    texts = [t or "" for t in texts]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    joined = (SEPARATOR.join(texts) + SEPARATOR).encode("utf-32-le", "surrogatepass")
    starts = np.cumsum(lengths + 1) - lengths - 1
    return np.frombuffer(joined, dtype=np.uint32), starts, starts + lengths


def exact_keys(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[int | None]:
    """Each text's exact key (see the module docstring) as a signed 64-bit int, None for a blank text."""
    _, _, fold, is_space = char_tables()
    folded = fold.take(codes)  # take and compress: 2x faster than fancy and boolean indexing
    space = is_space.take(folded)
    step = np.diff(space.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    run_starts, run_ends = np.flatnonzero(step == 1), np.flatnonzero(step == -1)
    # a run kept as one space lies inside one text: not at its start, and no separator (a text's end) in it
    separator = ends[np.minimum(np.searchsorted(ends, run_starts), len(ends) - 1)]
    inside = (run_starts > 0) & ~((separator >= run_starts) & (separator < run_ends))
    keep = ~space
    keep[run_starts[inside]] = True
    folded[run_starts[inside]] = 32
    kept = np.compress(keep, folded)
    bounds = np.concatenate([[0], np.cumsum(np.add.reduceat(keep, starts, dtype=np.int64))]).tolist()
    view, keys = memoryview(kept), []
    for a, b in zip(bounds[:-1], bounds[1:]):
        digest = hashlib.blake2b(view[a:b], digest_size=8).digest() if b > a else None
        keys.append(None if digest is None else int.from_bytes(digest, "little", signed=True))
    return keys


def word_hashes(codes: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash of every word, the index of its text): a position-keyed sum of scrambled code points."""
    is_word, lower, _, _ = char_tables()
    word = is_word.take(codes)
    step = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    first, last = np.flatnonzero(step == 1), np.flatnonzero(step == -1)
    lengths = last - first
    if len(first) == 0:
        return np.empty(0, dtype=U64), np.empty(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    # each character's position in its word: a running count of ones that restarts at each word; then the
    # terms in place (each uint64 temporary of a chunk is ~30 MB: allocating it costs as much as the arithmetic)
    position = np.ones(int(lengths.sum()), dtype=U64)
    position[offsets[1:]] = U64(1) - lengths[:-1].astype(U64)
    position[0] = 0
    np.cumsum(position, out=position)
    terms = lower.take(np.compress(word, codes)).astype(U64)
    terms *= U64(0xD6E8FEB86659FD93)
    position *= U64(0x9FB21C651E98DF25)
    terms += position
    terms += U64(1)
    np.right_shift(terms, U64(29), out=position)
    terms ^= position
    terms *= U64(0xBF58476D1CE4E5B9)
    np.right_shift(terms, U64(32), out=position)
    terms ^= position
    hashes = mix64(np.add.reduceat(terms, offsets) + lengths.astype(U64))
    return hashes, np.searchsorted(starts, first, side="right") - 1


def shingles(hashes: np.ndarray, text_of_word: np.ndarray, texts: int, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint32 n-gram features in text order, features per text) from the word hashes of `texts` texts."""
    counts = np.bincount(text_of_word, minlength=texts)
    size = np.minimum(counts, ngram)[text_of_word]  # a text shorter than a shingle is one shingle
    grams = hashes.copy()
    for k in range(1, ngram):
        following = np.zeros(len(hashes), dtype=U64)
        following[: max(0, len(hashes) - k)] = hashes[k:]
        grams = np.where(k < size, grams * NGRAM_MULTIPLIER + following, grams)
    first = np.cumsum(counts) - counts
    valid = np.arange(len(hashes)) - first[text_of_word] <= (counts - np.minimum(counts, ngram))[text_of_word]
    features = (mix64(grams[valid]) >> U64(32)).astype(np.uint32)
    return features, np.bincount(text_of_word[valid], minlength=texts)


def sorted_sets(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each text's run of `values` (uint32) as a sorted set: (values, offsets into them, len(counts) + 1).
    One sort of (text index, value) as uint64 for the whole batch, not one np.unique per text (4x faster)."""
    owner = np.repeat(np.arange(len(counts), dtype=U64), counts)
    keyed = np.sort((owner << U64(32)) | values.astype(U64))
    first = np.ones(len(keyed), dtype=bool)
    first[1:] = keyed[1:] != keyed[:-1]
    kept = keyed[first]
    per_text = np.bincount((kept >> U64(32)).astype(np.int64), minlength=len(counts))
    return (kept & U64(0xFFFFFFFF)).astype(np.uint32), np.concatenate([[0], np.cumsum(per_text)]).astype(np.int64)


def classifier_features(texts: list, num_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Spark's Tokenizer + HashingTF indices of each text (a Python loop: this option is not the default)."""
    cache_: dict[str, int] = {}
    counts, values = [], []
    for text in texts:
        tokens = spark_tokens(text) if text else []
        for token in tokens:
            if token not in cache_:
                cache_[token] = murmur3_x86_32(token.encode("utf-8")) % num_features
            values.append(cache_[token])
        counts.append(len(tokens))
    return np.array(values, dtype=np.uint32), np.array(counts, dtype=np.int64)


def analyze(texts: list, options) -> tuple[list[int | None], np.ndarray, np.ndarray]:
    """(exact keys, concatenated sorted feature sets, offsets) of `texts`, in chunks of ~CHUNK_CHARS."""
    keys: list[int | None] = []
    parts, counts = [], []
    lengths = [len(t) if t else 0 for t in texts]
    begin = 0
    while begin < len(texts):
        end, chars = begin, 0
        while end < len(texts) and (end == begin or chars + lengths[end] <= CHUNK_CHARS):
            chars += lengths[end] + 1
            end += 1
        chunk = texts[begin:end]
        codes, starts, ends = code_points(chunk)
        keys += exact_keys(codes, starts, ends)
        if options.features == "classifier":
            values, per_text = classifier_features(chunk, options.num_features)
        else:
            values, per_text = shingles(*word_hashes(codes, starts), len(chunk), options.ngram)
        values, offsets = sorted_sets(values, per_text)
        parts.append(values)
        counts.append(np.diff(offsets))
        begin = end
    counts_all = np.concatenate(counts) if counts else np.empty(0, dtype=np.int64)
    values_all = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint32)
    return keys, values_all, np.concatenate([[0], np.cumsum(counts_all)]).astype(np.int64)


def exact_key(text: str | None) -> int | None:
    return exact_keys(*code_points([text]))[0]


def document_features(text: str | None, options) -> np.ndarray:
    """One text's sorted feature set (what `analyze` gives it in any batch)."""
    return analyze([text], options)[1]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique feature sets (two empty sets: 0)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / (len(a) + len(b) - common)


def hash_family(options) -> tuple[np.ndarray, np.ndarray]:
    """The `num_hashes` fixed (xor, odd multiplier) pairs of h_i(x) = (x ^ s_i) * m_i mod 2^64."""
    rng = random.Random(options.seed)
    pairs = [(rng.getrandbits(64), rng.getrandbits(64) | 1) for _ in range(options.num_hashes)]
    return np.array([p[0] for p in pairs], dtype=U64), np.array([p[1] for p in pairs], dtype=U64)


def signatures(values: np.ndarray, offsets: np.ndarray, family: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(texts with features, num_hashes) uint64 MinHash matrix over the non-empty sets of (values, offsets)."""
    xors, multipliers = family
    counts = np.diff(offsets)
    present = offsets[:-1][counts > 0]
    out = np.empty((len(present), len(xors)), dtype=U64)
    if len(present):
        wide = values.astype(U64)
        for i, (xor, multiplier) in enumerate(zip(xors, multipliers)):
            out[:, i] = np.minimum.reduceat((wide ^ xor) * multiplier, present)
    return out


def band_keys(signature: np.ndarray, options) -> tuple[np.ndarray, np.ndarray]:
    """(bucket, split) int64 matrices of shape (texts, bands): a band's bucket hashes its `rows` MinHash
    values; its split key adds the next MinHash value, to break up a hot bucket."""
    texts = signature.shape[0]
    buckets = np.empty((texts, options.bands), dtype=U64)
    splits = np.empty((texts, options.bands), dtype=U64)
    for band in range(options.bands):
        key = np.full(texts, U64(band + 1), dtype=U64)
        for row in range(options.rows):
            key = mix64(key * NGRAM_MULTIPLIER + signature[:, band * options.rows + row])
        buckets[:, band] = key
        following = signature[:, (band * options.rows + options.rows) % options.num_hashes]
        splits[:, band] = mix64(key ^ mix64(following + U64(1)))
    return buckets.view(np.int64), splits.view(np.int64)
