"""HTML -> main text: decoding a payload to a string, and the main-content extractors.

Pure and Spark-free, kept apart from the WARC reading of `curation.warc_records` because it is what evaluation,
benchmarks and the rules tests call on a single page: `decode_html` (HTTP charset, then <meta>, then UTF-8, then
detection), `parse_html` (one resiliparse tree per page, for the depth check and extraction), `EXTRACTORS`
(trafilatura, resiliparse) and the per-document `time_limit`.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.+-]+)""", re.I)


class ExtractTimeout(Exception):
    """The extractor ran past the per-document time limit."""


class UndecodableError(Exception):
    """No candidate charset decodes the payload."""


# --- extractors -------------------------------------------------------------------------


def extract_resiliparse(parsed: ParsedHTML) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(parsed.tree, main_content=True)


def extract_trafilatura(parsed: ParsedHTML) -> str:
    import trafilatura

    return trafilatura.extract(parsed.html_str, deduplicate=False) or ""


EXTRACTORS: dict[str, Callable] = {"resiliparse": extract_resiliparse, "trafilatura": extract_trafilatura}
DEFAULT_EXTRACTOR = "trafilatura"  # the one GPT-3-era pipelines used; resiliparse is the faster option


@dataclass
class ParsedHTML:
    """The decoded page and its resiliparse tree (parsed once, used for the depth check and extraction)."""

    html_str: str
    tree: object = field(repr=False)


def parse_html(html: str) -> ParsedHTML:
    from resiliparse.parse.html import HTMLTree

    return ParsedHTML(html, HTMLTree.parse(html))


def too_deep(parsed: ParsedHTML, max_depth: int) -> bool:
    """True when some element has `max_depth` ancestors: main-content extraction is quadratic in depth."""
    return parsed.tree.document.query_selector(" > ".join(["*"] * max_depth)) is not None


def extract_text(html: str, extractor: str = DEFAULT_EXTRACTOR) -> str:
    """Main text of one HTML page (no limits; for evaluation and tests)."""
    return EXTRACTORS[extractor](parse_html(html))


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise ExtractTimeout after `seconds` (main thread only; elsewhere no limit is applied).

    Python-level extractors (trafilatura) are interrupted; C-level work is bounded by the
    size and depth caps instead.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise ExtractTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- decoding -----------------------------------------------------------------------------


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    from resiliparse.parse.encoding import map_encoding_to_html5

    label = label.strip().strip("\"'").lower()
    mapped = map_encoding_to_html5(label) or label
    try:
        return codecs.lookup(mapped).name
    except LookupError:
        return None


def decode_html(payload: bytes, http_charset: str | None = None) -> tuple[str, str]:
    """(text, charset): the HTTP charset, then a <meta> charset, then UTF-8, then detection.

    A candidate that decodes strictly wins; otherwise the first one whose lenient decoding
    replaces under 1% of characters. Raises UndecodableError when none does.
    """
    from resiliparse.parse.encoding import detect_encoding

    meta = META_CHARSET.search(payload[:4096])
    candidates = [_codec(http_charset), _codec(meta.group(1).decode("ascii", "ignore") if meta else None)]
    candidates += ["utf-8", _codec(detect_encoding(payload[:65536]))]
    candidates = list(dict.fromkeys(c for c in candidates if c))
    for charset in candidates:
        try:
            return payload.decode(charset), charset
        except UnicodeDecodeError:
            continue
    for charset in candidates:
        text = payload.decode(charset, errors="replace")
        if text.count("\ufffd") <= 0.01 * max(1, len(text)):
            return text, charset
    raise UndecodableError(f"no charset decodes the payload (tried {', '.join(candidates)})")
