"""C4's line-level cleaning (Raffel et al. 2020, section 2.2; tensorflow-datasets' c4_utils), which edits a
page and can then drop it.

Page checks, on the text as it comes: "lorem ipsum" anywhere (any case) or a curly brace `{` (code) drops the
page. Line cleaning: each line is stripped and removed when it has no terminal punctuation (C4's `.`, `?`,
`!`, `"`, plus `”` and the CJK full stops `。！？` so that the rule means the same outside English), fewer
than `min_words_per_line` words (C4's paper says 5, FineWeb's C4 filter uses 3: our default), a word longer
than `max_word_length` (1,000), the word "javascript", or a cookie / terms-of-use / privacy-policy notice.
The page is dropped when fewer than `min_sentences` (3) sentences are left; a sentence ends in terminal
punctuation followed by whitespace or the end, or a CJK full stop (C4 used NLTK's sentence splitter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from curation.rules.language import words

TERMINAL_PUNCTUATION = (".", "?", "!", '"', "”", "。", "！", "？")
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
SENTENCE_END = re.compile(r"[.?!]+[\"'”’)\]]*(?=\s|$)|[。！？]+")
LINE_CHECKS = ("terminal_punctuation", "min_words_per_line", "max_word_length", "javascript", "policy")


@dataclass(frozen=True)
class Options:
    min_words_per_line: int = 3
    max_word_length: int = 1000
    min_sentences: int = 3


@dataclass(frozen=True)
class Cleaned:
    text: str
    lines_removed: int  # non-blank lines
    chars_removed: int
    failure: tuple[str, float] | None  # (check, value) when the page is dropped


def line_removed_by(line: str, options: Options, skip=frozenset()) -> str | None:
    """The first line check a stripped line fails, or None when it is kept."""
    if "terminal_punctuation" not in skip and not line.endswith(TERMINAL_PUNCTUATION):
        return "terminal_punctuation"
    line_words = words(line)
    if "min_words_per_line" not in skip and len(line_words) < options.min_words_per_line:
        return "min_words_per_line"
    if "max_word_length" not in skip and any(len(w) > options.max_word_length for w in line_words):
        return "max_word_length"
    lowered = line.lower()
    if "javascript" not in skip and "javascript" in lowered:
        return "javascript"
    if "policy" not in skip and any(s in lowered for s in POLICY_SUBSTRINGS):
        return "policy"
    return None


def count_sentences(text: str) -> int:
    return len(SENTENCE_END.findall(text))


def clean_page(text: str, options: Options, skip=frozenset()) -> Cleaned:
    """The page's kept lines joined by newlines, what was removed, and the page check it fails (if any).
    `skip` names checks not to run: page checks (lorem_ipsum, curly_brace, min_sentences) and LINE_CHECKS."""
    lowered = text.lower()
    if "lorem_ipsum" not in skip and "lorem ipsum" in lowered:
        return Cleaned(text, 0, 0, ("lorem_ipsum", 1.0))
    if "curly_brace" not in skip and "{" in text:
        return Cleaned(text, 0, 0, ("curly_brace", 1.0))
    kept, removed = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            continue
        if line_removed_by(stripped, options, skip):
            removed += 1
        else:
            kept.append(stripped)
    cleaned = "\n".join(kept)
    sentences = count_sentences(cleaned)
    failure = None
    if "min_sentences" not in skip and sentences < options.min_sentences:
        failure = ("min_sentences", float(sentences))
    return Cleaned(cleaned, removed, len(text) - len(cleaned), failure)
