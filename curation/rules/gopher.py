"""Gopher's quality and repetition rules (Rae et al. 2021, "Scaling Language Models", Appendix A), with the
paper's thresholds as defaults.

Each family is a function that returns the first check a text fails, as (check, measured value), or None.
Words are `language.words` (whitespace-separated, one per character in CJK and other unspaced scripts).
Definitions where the paper leaves a choice:
- word count and mean word length count words with at least one letter or digit (not "-" or "|");
- the symbol-to-word ratios divide the number of `#` and of ellipses (`...` or `…`) by the number of words;
- lines are the non-blank lines, paragraphs the non-blank blocks between blank lines;
- a duplicate line or paragraph is one equal to an earlier one; its count fraction is over all lines
  (paragraphs), its character fraction is its characters over the characters of all lines (paragraphs);
- the n-gram fractions follow the reference implementation everyone compares against (datatrove's
  GopherRepetitionFilter: `find_top_duplicate`, `find_all_duplicate`) and are over all the characters
  of the text (`len(text)`). Top n-gram (n = 2..4): the most frequent n-gram (the first to occur among
  equally frequent ones), its characters with the spaces between its words, times its count. Duplicated
  n-grams (n = 5..10): walk the words; an n-gram seen before adds its characters (without spaces) and
  the walk jumps n words ahead, else it is recorded and the walk moves one word. So the first
  occurrence of a repeated passage is not counted and counted repeats never overlap: a passage that
  occurs twice counts once ("not counting overlapping characters twice", the paper says).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from curation.rules.language import words as split_words

STOP_WORDS = frozenset(("the", "be", "to", "of", "and", "that", "have", "with"))
BULLETS = ("•", "‣", "⁃", "◦", "▪", "▫", "●", "○", "■", "□", "➢", "-", "*", "–", "—")
ELLIPSES = ("...", "…")
HAS_WORD_CHARACTER = re.compile(r"\w")
HAS_LETTER = re.compile(r"[^\W\d_]")
BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")
TOP_NGRAM_SIZES = (2, 3, 4)
DUPLICATED_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)
HASH_BASE = np.uint64(0x100000001B3)  # n-gram keys: a polynomial hash of word ids, modulo 2^64


@dataclass(frozen=True)
class QualityOptions:
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines: float = 0.9
    max_ellipsis_lines: float = 0.3
    min_alpha_words: float = 0.8
    min_stop_words: int = 2


@dataclass(frozen=True)
class RepetitionOptions:
    max_duplicate_lines: float = 0.30
    max_duplicate_paragraphs: float = 0.30
    max_duplicate_line_chars: float = 0.20
    max_duplicate_paragraph_chars: float = 0.20
    max_top_ngram_chars: tuple[float, ...] = (0.20, 0.18, 0.16)  # n = 2, 3, 4
    max_duplicated_ngram_chars: tuple[float, ...] = (0.15, 0.14, 0.13, 0.12, 0.11, 0.10)  # n = 5..10


def lines_of(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def paragraphs_of(text: str) -> list[str]:
    return [block for block in BLANK_LINES.split(text) if block.strip()]


def quality_failure(
    text: str, options: QualityOptions, skip=frozenset(), words: list[str] | None = None
) -> tuple[str, float] | None:
    """The first Gopher quality check `text` fails (in the order below), or None; `skip`: checks not run."""
    words = split_words(text) if words is None else words
    content = [w for w in words if HAS_WORD_CHARACTER.search(w)]
    if "word_count" not in skip and not options.min_words <= len(content) <= options.max_words:
        return "word_count", float(len(content))
    if "mean_word_length" not in skip:
        mean = sum(map(len, content)) / len(content) if content else 0.0
        if not options.min_mean_word_length <= mean <= options.max_mean_word_length:
            return "mean_word_length", mean
    n_words = max(len(words), 1)
    if "hash_ratio" not in skip and text.count("#") / n_words > options.max_symbol_word_ratio:
        return "hash_ratio", text.count("#") / n_words
    if "ellipsis_ratio" not in skip:
        ratio = (text.count("...") + text.count("…")) / n_words
        if ratio > options.max_symbol_word_ratio:
            return "ellipsis_ratio", ratio
    lines = [line.strip() for line in lines_of(text)]
    n_lines = max(len(lines), 1)
    if "bullet_lines" not in skip:
        share = sum(line.startswith(BULLETS) for line in lines) / n_lines
        if share > options.max_bullet_lines:
            return "bullet_lines", share
    if "ellipsis_lines" not in skip:
        share = sum(line.endswith(ELLIPSES) for line in lines) / n_lines
        if share > options.max_ellipsis_lines:
            return "ellipsis_lines", share
    if "alpha_words" not in skip:
        share = sum(1 for w in words if HAS_LETTER.search(w)) / n_words
        if share < options.min_alpha_words:
            return "alpha_words", share
    if "stop_words" not in skip:
        found = sum(1 for w in words if w.lower() in STOP_WORDS)
        if found < options.min_stop_words:
            return "stop_words", float(found)
    return None


def duplicate_fractions(elements: list[str]) -> tuple[float, float]:
    """(share of elements equal to an earlier one, share of characters in them)."""
    seen: set[str] = set()
    duplicates = duplicate_chars = 0
    for element in elements:
        if element in seen:
            duplicates += 1
            duplicate_chars += len(element)
        else:
            seen.add(element)
    total_chars = sum(map(len, elements))
    return (duplicates / len(elements) if elements else 0.0, duplicate_chars / total_chars if total_chars else 0.0)


def ngram_keys(word_ids: np.ndarray, n: int, previous: np.ndarray | None) -> np.ndarray:
    """Keys of the n-grams starting at each position, from the (n-1)-gram keys (one multiply-add each)."""
    if previous is None:
        return word_ids[: len(word_ids) - n + 1].copy()
    with np.errstate(over="ignore"):
        return previous[: len(word_ids) - n + 1] * HASH_BASE + word_ids[n - 1 :]


def repetition_failure(
    text: str, options: RepetitionOptions, skip=frozenset(), words: list[str] | None = None
) -> tuple[str, float] | None:
    """The first Gopher repetition check `text` fails (lines, paragraphs, top n-grams, duplicated n-grams),
    or None; `skip`: checks not run."""
    line_share, line_char_share = duplicate_fractions(lines_of(text))
    paragraph_share, paragraph_char_share = duplicate_fractions(paragraphs_of(text))
    for check, value, limit in (
        ("duplicate_lines", line_share, options.max_duplicate_lines),
        ("duplicate_paragraphs", paragraph_share, options.max_duplicate_paragraphs),
        ("duplicate_line_chars", line_char_share, options.max_duplicate_line_chars),
        ("duplicate_paragraph_chars", paragraph_char_share, options.max_duplicate_paragraph_chars),
    ):
        if check not in skip and value > limit:
            return check, value
    words = split_words(text) if words is None else words
    if len(words) < 2 or not text:
        return None
    ids_of: dict[str, int] = {}
    word_ids = np.fromiter((ids_of.setdefault(w, len(ids_of)) for w in words), np.uint64, len(words))
    lengths = np.fromiter(map(len, words), np.int64, len(words))
    char_prefix = np.concatenate(([0], np.cumsum(lengths)))
    keys = None
    for n in range(1, max(DUPLICATED_NGRAM_SIZES) + 1):
        if n > len(words):
            break
        keys = ngram_keys(word_ids, n, keys)
        if n in TOP_NGRAM_SIZES:
            check = f"top_{n}gram_chars"
            if check in skip:
                continue
            share = top_ngram_chars(keys, char_prefix, n) / len(text)
            if share > options.max_top_ngram_chars[TOP_NGRAM_SIZES.index(n)]:
                return check, share
        elif n in DUPLICATED_NGRAM_SIZES:
            check = f"duplicated_{n}gram_chars"
            if check in skip:
                continue
            share = duplicated_ngram_chars(keys, char_prefix, n) / len(text)
            if share > options.max_duplicated_ngram_chars[DUPLICATED_NGRAM_SIZES.index(n)]:
                return check, share
    return None


def top_ngram_chars(keys: np.ndarray, char_prefix: np.ndarray, n: int) -> int:
    """datatrove's `find_top_duplicate`: characters of the most frequent n-gram (words joined by spaces)
    times its count; among equally frequent n-grams, the one that occurs first."""
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    most = counts == counts.max()
    start = int(first[most].min())
    return int(counts.max()) * (int(char_prefix[start + n] - char_prefix[start]) + n - 1)


def duplicated_ngram_chars(keys: np.ndarray, char_prefix: np.ndarray, n: int) -> int:
    """datatrove's `find_all_duplicate`: characters (without spaces) of the n-grams met again on a walk
    over the words that jumps n words past each one. Only n-grams that occur more than once can be met
    again, so the walk visits just their positions; the others are recorded and passed in one step."""
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    candidates = np.flatnonzero(counts[inverse] > 1)
    seen: set[int] = set()
    repeated, position = 0, 0
    for start in candidates.tolist():
        if start < position:  # inside a counted repeat: jumped over
            continue
        key = int(keys[start])
        if key in seen:
            repeated += int(char_prefix[start + n] - char_prefix[start])
            position = start + n
        else:
            seen.add(key)
            position = start + 1
    return repeated
