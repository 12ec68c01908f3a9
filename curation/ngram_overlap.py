"""Benchmark N-gram overlap, the pure core of decontamination: normalise words, hash N-grams, find the
benchmark N-grams a text contains, and cut them out (GPT-3, App. C). No Spark and no file reading here:
the job (curation.decontaminate) and its plain-loop benchmark run exactly these functions, so both give
the same hits and the same cut text.

Words are lowercased, punctuation is removed, and text is split on whitespace; an N-gram is hashed to 64
bits as a polynomial over per-word hashes. A text is first mapped to vocabulary ids (a word outside every
benchmark's vocabulary cannot be part of a match, id 0), so only windows of known words are looked up, in
one sorted hash array per N (`Matcher.ngrams`): compact to broadcast, and searched with searchsorted a
whole batch of documents at a time. Char offsets are computed only for documents that have a hit.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

NGRAM_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant of the polynomial N-gram hash
PIECE_SEPARATOR = "\n\n"

# --- normalisation ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def punctuation_table() -> dict[int, None]:
    """str.translate table deleting every Unicode punctuation character (all lie below U+20000) and
    every ASCII symbol."""
    chars = {c for c in map(chr, range(0x20000)) if unicodedata.category(c).startswith("P")}
    return dict.fromkeys(map(ord, chars | set(string.punctuation)))


ASCII_PUNCTUATION = string.punctuation.encode("ascii")  # every ASCII char in punctuation_table()


def normalize_words(text: str) -> list[str]:
    """Lowercased whitespace-split words with punctuation removed (pure-punctuation tokens vanish)."""
    table = punctuation_table()
    lowered = text.lower()
    if lowered.isascii():  # one translate call over ASCII text takes CPython's fast path
        return lowered.translate(table).split()
    return [w for w in (t.translate(table) for t in lowered.split()) if w]


def words_with_offsets(text: str) -> tuple[list[str], list[int], list[int]]:
    """normalize_words(text) with each word's [start, end) char span in the original text."""
    table = punctuation_table()
    words, starts, ends = [], [], []
    for match in re.finditer(r"\S+", text):
        word = match.group().lower().translate(table)
        if word:
            words.append(word)
            starts.append(match.start())
            ends.append(match.end())
    return words, starts, ends


# --- matching -----------------------------------------------------------------------------


@dataclass
class Matcher:
    """Benchmark vocabulary and N-gram hashes: everything a task needs to find collisions."""

    vocab: dict[str, int]  # word -> id >= 1; 0 means "in no benchmark"
    word_hashes: np.ndarray  # uint64 per id
    ngrams: dict[int, np.ndarray]  # N -> sorted unique uint64 N-gram hashes

    def word_ids(self, text: str) -> np.ndarray:
        """Vocabulary ids of normalize_words(text), fast: ASCII punctuation goes in one C call, and
        other punctuation is looked for only in words missing from the vocabulary."""
        get = self.vocab.get
        lowered = text.lower()
        if lowered.isascii():
            ids = [get(t, 0) for t in lowered.translate(punctuation_table()).split()]
        else:
            tokens = (
                lowered.encode("utf-8", "surrogatepass")
                .translate(None, ASCII_PUNCTUATION)
                .decode("utf-8", "surrogatepass")
                .split()
            )
            ids = [get(t, -1) for t in tokens]
            if -1 in ids:
                table = punctuation_table()
                fixed = []
                for token, i in zip(tokens, ids):
                    if i == -1:
                        token = token.translate(table)
                        if not token:
                            continue
                        i = get(token, 0)
                    fixed.append(i)
                ids = fixed
        return np.fromiter(ids, dtype=np.int64, count=len(ids))

    def with_ngrams(self, ngrams: dict[int, np.ndarray]) -> Matcher:
        return Matcher(self.vocab, self.word_hashes, ngrams)


def ngram_hashes(ids: np.ndarray, n: int, word_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hash per window, window is all-known mask) for every N-word window of `ids`."""
    windows = len(ids) - n + 1
    if windows <= 0:
        return np.empty(0, np.uint64), np.empty(0, bool)
    values = word_hashes[ids]
    hashes = values[:windows].copy()
    for k in range(1, n):
        hashes *= NGRAM_MULTIPLIER
        hashes += values[k : k + windows]
    unknown = np.concatenate(([0], np.cumsum(ids == 0)))
    return hashes, unknown[n:] == unknown[:windows]


def in_sorted(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mask of the `values` found in the sorted array `table` (a binary search each: no hash set to build)."""
    if table.size == 0:
        return np.zeros(len(values), bool)
    return table[np.minimum(np.searchsorted(table, values), table.size - 1)] == values


def find_hits(ids: np.ndarray, matcher: Matcher) -> list[tuple[int, int, int]]:
    """(N, window start, hash) of every window whose N-gram is in the matcher's set, sorted."""
    return batch_hits([ids], matcher)[0]


def batch_hits(id_arrays: list[np.ndarray], matcher: Matcher) -> list[list[tuple[int, int, int]]]:
    """`find_hits` of many documents at once: their ids are laid end to end, each followed by a 0 (a word
    in no benchmark), so no window spans two documents and each N is hashed and looked up once per batch."""
    hits: list[list[tuple[int, int, int]]] = [[] for _ in id_arrays]
    if not id_arrays:
        return hits
    flat = np.concatenate([np.append(ids, 0) for ids in id_arrays])
    starts = np.concatenate(([0], np.cumsum([len(ids) + 1 for ids in id_arrays])[:-1]))
    for n, table in sorted(matcher.ngrams.items()):
        if table.size == 0:
            continue
        hashes, valid = ngram_hashes(flat, n, matcher.word_hashes)
        windows = np.flatnonzero(valid)
        candidates = hashes[windows]
        found = in_sorted(table, candidates)
        positions = windows[found]
        docs = np.searchsorted(starts, positions, side="right") - 1
        for doc, position, value in zip(docs.tolist(), (positions - starts[docs]).tolist(), candidates[found].tolist()):
            hits[doc].append((n, position, value))
    return hits


# --- cutting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CutPolicy:
    margin: int = 200  # chars removed on each side of a collision
    min_piece: int = 200  # pieces shorter than this are dropped
    max_pieces: int = 10  # a document split into more pieces is dropped whole
    max_docs: int = 10  # N-grams in more training documents than this are ignored


@dataclass(frozen=True)
class Cut:
    outcome: str
    pieces: tuple[tuple[int, int], ...]  # kept [start, end) char ranges
    chars_removed: int
    split_into: int  # pieces the collisions split the document into (before dropping short ones)


def cut_spans(length: int, spans: list[tuple[int, int]], policy: CutPolicy) -> Cut:
    """Remove each span plus `margin` chars each side from a text of `length` chars."""
    if not spans:
        return Cut("unchanged", ((0, length),), 0, 1)
    removed = []
    for start, end in sorted(spans):
        start, end = max(0, start - policy.margin), min(length, end + policy.margin)
        if removed and start <= removed[-1][1]:
            removed[-1] = (removed[-1][0], max(removed[-1][1], end))
        else:
            removed.append((start, end))
    bounds = [0] + [x for r in removed for x in r] + [length]
    split = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2) if bounds[i + 1] > bounds[i]]
    if len(split) > policy.max_pieces:
        return Cut("dropped_too_many_pieces", (), length, len(split))
    kept = tuple((s, e) for s, e in split if e - s >= policy.min_piece)
    if not kept:
        return Cut("dropped_nothing_left", (), length, len(split))
    return Cut("changed", kept, length - sum(e - s for s, e in kept), len(split))


def document_hits(text: str, matcher: Matcher) -> list[tuple[int, int, int, int]]:
    """(N, hash, char start, char end) of every benchmark N-gram occurrence in `text`, in text order."""
    ids = matcher.word_ids(text)
    hits = find_hits(ids, matcher)
    if not hits:
        return []
    words, starts, ends = words_with_offsets(text)
    if len(words) != len(ids):  # the fast path tokenised differently (should not happen): trust the slow one
        ids = np.fromiter((matcher.vocab.get(w, 0) for w in words), np.int64, len(words))
        hits = find_hits(ids, matcher)
    return sorted((n, h, starts[i], ends[i + n - 1]) for n, i, h in hits)


def decontaminate_text(text: str, matcher: Matcher, policy: CutPolicy) -> tuple[str | None, Cut, int]:
    """(cleaned text or None when dropped, the cut, collisions) of one document."""
    hits = document_hits(text, matcher)
    cut = cut_spans(len(text), [(s, e) for _, _, s, e in hits], policy)
    if cut.outcome == "unchanged":
        return text, cut, 0
    if not cut.pieces:
        return None, cut, len(hits)
    return PIECE_SEPARATOR.join(text[s:e] for s, e in cut.pieces), cut, len(hits)
