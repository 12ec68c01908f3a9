"""Near copies of a real page: a few % of its visible words substituted, deleted or inserted, or sentences swapped.

The real-page crawl (`curation.realcrawl`) plants these beside exact copies so that dedup's recall is measured on
the edits a mirror, a scraper or a later version of a page makes, with the truth of each edit recorded. Only text
between tags changes: markup, scripts, styles and comments stay byte-identical, so the copy is the same page to an
extractor, and `visible_text` is what dedup's true Jaccard is computed on.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

NEAR_EDITS = ("substitute", "delete", "insert", "sentence_swap")
NEAR_RATES = (0.01, 0.02, 0.05, 0.1)  # substitute/delete/insert: share of words; sentence_swap: of sentences
BODY_START = re.compile(rb"<body\b[^>]*>", re.I)
MARKUP = re.compile(
    rb"(<script\b.*?</script\s*>|<style\b.*?</style\s*>|<noscript\b.*?</noscript\s*>|<!--.*?-->|"
    rb"<[!/?a-zA-Z][^>]*>)",
    re.I | re.S,
)  # one group: split() keeps the markup
WORD = re.compile(rb"\S+")
SENTENCE_GAP = re.compile(rb"(?<=[.!?])(\s+)(?=[A-Z])")  # one group: split() keeps the gap


@dataclass(frozen=True)
class TextNodes:
    """A page cut at its markup: parts[0] is everything up to and with <body>, then text and markup alternate
    (text at odd indices); word_ends[j] is the number of words in text parts 0..j."""

    parts: tuple[bytes, ...]
    word_ends: tuple[int, ...]

    @property
    def words(self) -> int:
        return self.word_ends[-1]

    def text(self) -> str:
        return " ".join(b" ".join(self.parts[1::2]).decode("utf-8", "replace").split())


def text_nodes(page_html: bytes) -> TextNodes:
    start = BODY_START.search(page_html)
    cut = start.end() if start else 0
    parts = (page_html[:cut], *MARKUP.split(page_html[cut:]))
    return TextNodes(parts, tuple(accumulate(len(text.split()) for text in parts[1::2])))


def visible_text(page_html: bytes) -> str:
    """The body's text outside markup, scripts and styles, whitespace-normalised: what near copies edit."""
    return text_nodes(page_html).text()


def _locate(nodes: TextNodes, word: int) -> tuple[int, int]:
    """(index into parts, index of the word in that text part) of the page's `word`-th visible word."""
    j = bisect_right(nodes.word_ends, word)
    return 2 * j + 1, word - (nodes.word_ends[j - 1] if j else 0)


def _random_word(nodes: TextNodes, rng: random.Random) -> bytes:
    part, local = _locate(nodes, rng.randrange(nodes.words))
    return nodes.parts[part].split()[local]


def _edit_words(nodes: TextNodes, rng: random.Random, kind: str, rate: float) -> tuple[list[bytes], int]:
    chosen: dict[int, list[int]] = {}
    for word in sorted(rng.sample(range(nodes.words), max(1, round(rate * nodes.words)))):
        part, local = _locate(nodes, word)
        chosen.setdefault(part, []).append(local)
    parts, edits = list(nodes.parts), 0
    for part, targets in chosen.items():
        spans, pieces, previous = list(WORD.finditer(parts[part])), [], 0
        for local in targets:
            start, end = spans[local].span()
            if kind == "delete":
                new = b""
            elif kind == "insert":
                new, end = _random_word(nodes, rng) + b" ", start
            else:  # substitute: another word of the page (the same word again would be no edit)
                new = next((w for w in (_random_word(nodes, rng) for _ in range(5)) if w != spans[local].group()), None)
                if new is None:
                    continue
            pieces += [parts[part][previous:start], new]
            previous = end
            edits += 1
        parts[part] = b"".join(pieces) + parts[part][previous:]
    return parts, edits


def _swap_sentences(nodes: TextNodes, rng: random.Random, rate: float) -> tuple[list[bytes], int]:
    """Swap `rate` of the sentences (of the text nodes with two or more) with the next one in the same node;
    ([], 0) when no node has two."""
    counts = {part: len(SENTENCE_GAP.findall(nodes.parts[part])) for part in range(1, len(nodes.parts), 2)}
    gaps = [(part, gap) for part, count in counts.items() for gap in range(count)]
    if not gaps:
        return [], 0
    sentences = len(gaps) + sum(1 for count in counts.values() if count)  # in the nodes that have two or more
    kept: list[tuple[int, int]] = []
    for part, gap in sorted(rng.sample(gaps, min(len(gaps), max(1, round(rate * sentences))))):
        if not kept or kept[-1] != (part, gap - 1):  # a sentence moves once
            kept.append((part, gap))
    parts = list(nodes.parts)
    for part in sorted({part for part, _ in kept}):
        pieces = SENTENCE_GAP.split(parts[part])  # sentence, gap, sentence, ...
        for _, gap in ((p, g) for p, g in kept if p == part):
            pieces[2 * gap], pieces[2 * gap + 2] = pieces[2 * gap + 2], pieces[2 * gap]
        parts[part] = b"".join(pieces)
    return parts, len(kept)


def near_duplicate(nodes: TextNodes, rng: random.Random, kind: str, rate: float) -> tuple[bytes, str, int]:
    """The page with its visible text edited (`kind` at `rate`); returns (html, kind applied, edits). A page
    without two sentences in one text node gets substitutions instead of sentence swaps; markup is untouched."""
    parts, edits = _swap_sentences(nodes, rng, rate) if kind == "sentence_swap" else ([], 0)
    if not edits:
        kind = "substitute" if kind == "sentence_swap" else kind
        parts, edits = _edit_words(nodes, rng, kind, rate)
    return b"".join(parts), kind, edits
