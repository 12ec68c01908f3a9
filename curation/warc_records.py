"""Reading one WARC/ARC/WET file into documents, every record counted: the pure, Spark-free core of extraction.

`process_archive` (or `iter_file` with a `FileLedger`) reads one file and yields one document per HTML response
it extracts; every record ends in exactly one outcome of `OUTCOMES`, counted in the file's ledger. A damaged
record or a truncated file never stops the rest: the reader skips to the next gzip member (or WARC header)
and goes on. curation.extract runs this over Spark tasks; the benchmarks and tests call it directly.
"""

from __future__ import annotations

import hashlib
import re
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeadersParserException

from curation.html_text import (
    DEFAULT_EXTRACTOR,
    EXTRACTORS,
    ExtractTimeout,
    UndecodableError,
    decode_html,
    parse_html,
    time_limit,
    too_deep,
)
from curation.sources import open_input

# Every record ends in exactly one of these; the ledger counts them per input file.
RECORD_OUTCOMES = (
    "extracted",
    "not_response",  # request, metadata, warcinfo, revisit, ... records
    "not_200",  # redirects, 404s and other non-200 responses
    "not_html",  # images, CSS, PDFs, DNS records, responses without HTTP headers
    "too_large",  # payload above the size cap
    "too_deep",  # HTML nested deeper than the cap (a parser bomb)
    "decode_error",  # no charset decodes the payload
    "timeout",  # the extractor ran past the per-document time limit
    "extract_error",  # the extractor raised
    "empty_text",  # the extractor found no main text
    "malformed_record",  # an unparsable record; the reader skipped to the next one
)
# A file that cannot be read to its end adds one of these for the part that was lost.
FILE_OUTCOMES = (
    "truncated_file",  # a WARC/ARC file that ends early; the records before the cut are counted
    "unreadable_file",  # missing, unreadable or unfetchable
    "not_warc",  # read, but not a WARC/ARC/WET file (random bytes, plain text, HTML)
    "empty_file",
)
UNREAD_FILE_ERRORS = ("unreadable_file", "not_warc")  # nothing of the file was read as an archive
OUTCOMES = RECORD_OUTCOMES + FILE_OUTCOMES

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml+html")
GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_MAGIC = re.compile(rb"(?:^|\n)(WARC/[01]\.\d+\r?\n|filedesc://)")
ARCHIVE_START = re.compile(rb"\s*(WARC/\d|filedesc://|\S+ \S+ \d{14} )")  # a WARC record, an ARC file or record
STREAM_ERRORS = (ArchiveLoadFailed, StatusAndHeadersParserException, zlib.error, EOFError, ValueError, OSError)


@dataclass(frozen=True)
class ExtractOptions:
    extractor: str = DEFAULT_EXTRACTOR
    max_html_bytes: int = 5_000_000
    max_html_depth: int = 512
    time_limit_s: float = 10.0


# --- records ------------------------------------------------------------------------------


def doc_id_for(record_id: str | None, warc_path: str, offset: int) -> str:
    """A stable id: from the WARC-Record-ID, or from the file and offset when there is none."""
    key = record_id or f"{warc_path}@{offset}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def detect_language(text: str) -> str | None:
    from resiliparse.parse.lang import detect_fast

    lang, _ = detect_fast(text[:4000])
    return None if lang == "unknown" else lang


def normalize_warc_date(value: str | None) -> str | None:
    """ISO-8601 UTC; WARC/0.18 and ARC files use 14-digit timestamps."""
    if value and len(value) == 14 and value.isdigit():
        v = value
        return f"{v[:4]}-{v[4:6]}-{v[6:8]}T{v[8:10]}:{v[10:12]}:{v[12:14]}Z"
    return value


def _is_html(content_type: str, payload_head: bytes) -> bool:
    if content_type:
        return content_type in HTML_TYPES
    head = payload_head[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def process_record(record, warc_path: str, offset: int, options: ExtractOptions) -> tuple[str, dict | None]:
    """(outcome, document or None) for one record. Stream errors propagate to the reader."""
    rec_type = record.rec_type
    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI") or ""
    if rec_type == "conversion":  # WET: text already extracted
        text = record.content_stream().read(options.max_html_bytes + 1)
        if len(text) > options.max_html_bytes:
            return "too_large", None
        text = text.decode("utf-8", errors="replace").strip()
        language = (headers.get_header("WARC-Identified-Content-Language") or "").split(",")[0] or None
        return _document(record, url, warc_path, offset, "text/plain", "utf-8", text, language)
    if rec_type != "response":
        return "not_response", None
    if record.http_headers is None:
        return "not_html", None
    if record.http_headers.get_statuscode() != "200":
        return "not_200", None
    content_type_header = record.http_headers.get_header("Content-Type") or ""
    content_type = content_type_header.split(";")[0].strip().lower()
    if content_type and content_type not in HTML_TYPES:
        return "not_html", None
    payload = record.content_stream().read(options.max_html_bytes + 1)
    if len(payload) > options.max_html_bytes:
        return "too_large", None
    if not _is_html(content_type, payload):
        return "not_html", None
    charset_match = re.search(r"charset\s*=\s*([^\s;]+)", content_type_header, re.I)
    try:
        html, charset = decode_html(payload, charset_match.group(1) if charset_match else None)
    except UndecodableError:
        return "decode_error", None
    try:
        with time_limit(options.time_limit_s):
            parsed = parse_html(html)
            if too_deep(parsed, options.max_html_depth):
                return "too_deep", None
            text = EXTRACTORS[options.extractor](parsed)
    except ExtractTimeout:
        return "timeout", None
    except Exception:  # noqa: BLE001 - any extractor failure is this record's outcome, not the file's
        return "extract_error", None
    return _document(record, url, warc_path, offset, content_type or "text/html", charset, text.strip(), None)


def _document(record, url, warc_path, offset, content_type, charset, text, language):
    if not text:
        return "empty_text", None
    headers = record.rec_headers
    doc = {
        "doc_id": doc_id_for(headers.get_header("WARC-Record-ID"), warc_path, offset),
        "url": url,
        "host": (urlsplit(url).hostname or "").lower() or None,
        "fetch_time": normalize_warc_date(headers.get_header("WARC-Date")),
        "warc_path": warc_path,
        "warc_offset": offset,
        "content_type": content_type,
        "charset": charset,
        "language": language or detect_language(text),
        "text": text,
        "n_chars": len(text),
        "n_words": len(text.split()),
    }
    return "extracted", doc


# --- files --------------------------------------------------------------------------------


@dataclass
class FileLedger:
    """What happened to one input file: every record read, each with one outcome."""

    warc_path: str
    outcomes: Counter = field(default_factory=Counter)
    file_error: str | None = None
    error_detail: str | None = None
    bytes: int = 0
    seconds: float = 0.0
    chars: int = 0  # of the documents extracted: what the stage passes on, for the funnel

    @property
    def records(self) -> int:
        return sum(self.outcomes.values())

    def as_row(self) -> dict:
        return {
            "warc_path": self.warc_path,
            "records": self.records,
            "outcomes": {k: int(v) for k, v in sorted(self.outcomes.items())},
            "file_error": self.file_error,
            "error_detail": self.error_detail,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "chars": self.chars,
        }


def _next_record_start(stream, after: int, gzipped: bool) -> int | None:
    """Offset of the next gzip member (or WARC/ARC header) at or after `after`, None at EOF."""
    stream.seek(after)
    carry = b""
    base = after
    while chunk := stream.read(1 << 20):
        window = carry + chunk
        if gzipped:
            found = window.find(GZIP_MAGIC)
            start = found if found >= 0 else -1
        else:
            match = WARC_MAGIC.search(window)
            start = match.start(1) if match else -1
        if start >= 0:
            return base + start
        keep = 16
        carry = window[-keep:]
        base += len(window) - len(carry)
    return None


def could_be_archive(head: bytes) -> bool:
    """False when `head`, a file's first bytes, shows it is no WARC or ARC file, gzipped or not; True when
    it starts as one does, or is a gzip stream cut too early to tell."""
    if head[:3] == GZIP_MAGIC:
        try:
            head = zlib.decompressobj(31).decompress(head, 256)
        except zlib.error:
            return False
        if not head:
            return True
    return ARCHIVE_START.match(head) is not None


def iter_archive(stream, warc_path: str, options: ExtractOptions, ledger: FileLedger) -> Iterator[dict]:
    """Documents of one open archive; outcomes go to `ledger`; damage is skipped, not fatal.

    A file that neither begins like an archive nor holds a record start further on is `not_warc` (a wrong
    file, not a damaged one: warcio would read some text files as ARC records); an archive whose reading
    fails with no record start after the failure is `truncated_file`."""
    head = stream.read(1 << 16)
    if not head:
        ledger.outcomes["empty_file"] += 1
        ledger.file_error = "empty_file"
        return
    gzipped = head[:3] == GZIP_MAGIC
    if not could_be_archive(head) and _next_record_start(stream, 1, gzipped) is None:
        ledger.outcomes["not_warc"] += 1
        ledger.file_error = "not_warc"
        ledger.error_detail = f"not a WARC/ARC/WET file; it starts with {head[:60]!r}"
        return
    position = 0
    while position is not None:
        stream.seek(position)
        iterator = ArchiveIterator(stream, arc2warc=True)
        try:
            for record in iterator:
                offset = iterator.offset
                if record.length is None:  # no Content-Length: a header block cut short (or broken)
                    raise ArchiveLoadFailed("record without a length")
                outcome, doc = process_record(record, warc_path, offset, options)
                iterator.read_to_end(record)
                if record.raw_stream.limit > 0:  # the file ended inside this record
                    ledger.outcomes["truncated_file"] += 1
                    ledger.file_error = "truncated_file"
                    ledger.error_detail = f"at offset {offset}: file ends {record.raw_stream.limit} bytes early"
                    return
                ledger.outcomes[outcome] += 1
                if doc is not None:
                    ledger.chars += doc["n_chars"]
                    yield doc
            if not ledger.records:  # e.g. a gzip member cut before the end of the first header
                raise ArchiveLoadFailed("no complete record")
            return
        except STREAM_ERRORS as err:
            failed_at = iterator.offset
            position = _next_record_start(stream, failed_at + 1, gzipped)
            if position is None:
                ledger.outcomes["truncated_file"] += 1
                ledger.file_error = "truncated_file"
            else:
                ledger.outcomes["malformed_record"] += 1
            ledger.error_detail = ledger.error_detail or f"at offset {failed_at}: {type(err).__name__}: {err}"[:500]


def iter_file(warc_path: str, options: ExtractOptions, ledger: FileLedger) -> Iterator[dict]:
    """Documents of one input file, streamed; `ledger` is complete once this is exhausted."""
    started = time.perf_counter()
    try:
        with open_input(warc_path) as stream:
            yield from iter_archive(stream, warc_path, options, ledger)
            ledger.bytes = stream.seek(0, 2)
    except OSError as err:  # missing, unreadable or unfetchable file
        ledger.outcomes["unreadable_file"] += 1
        ledger.file_error = "unreadable_file"
        ledger.error_detail = f"{type(err).__name__}: {err}"[:500]
    ledger.seconds = time.perf_counter() - started


def process_archive(warc_path: str, options: ExtractOptions = ExtractOptions()) -> tuple[list[dict], FileLedger]:
    """Extract one input file: (documents, ledger). Never raises for bad input."""
    ledger = FileLedger(warc_path)
    docs = list(iter_file(warc_path, options, ledger))
    return docs, ledger
