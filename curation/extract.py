"""Extraction: WARC/ARC/WET records -> plain-text documents, with every record counted in a ledger.

The core is pure Python and Spark-free: `process_archive` reads one file and yields
`(outcome, document)` pairs, one per record; `jobs/extract.py` distributes files over Spark
tasks. A damaged record or a truncated file never stops the rest: the reader skips to the
next gzip member (or WARC header) and goes on.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pyarrow as pa
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeadersParserException

from curation.errors import EXIT_BAD_INPUT, EXIT_CONFIG, EXIT_OK, ConfigError
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
from curation.job import SparkJob, hadoop_fs, published_path, write_json
from curation.sources import check_remote_support, expand_inputs, open_input
from curation.stage import Counts, Stage

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


# --- the Spark job ------------------------------------------------------------------------

DOCUMENT_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("url", pa.string()),
        ("host", pa.string()),
        ("fetch_time", pa.string()),
        ("warc_path", pa.string()),
        ("warc_offset", pa.int64()),
        ("content_type", pa.string()),
        ("charset", pa.string()),
        ("language", pa.string()),
        ("text", pa.string()),
        ("n_chars", pa.int32()),
        ("n_words", pa.int32()),
    ]
)
LEDGER_DDL = (
    "warc_path string, records long, outcomes map<string,long>, file_error string, "
    "error_detail string, bytes long, seconds double, chars long"
)
ARROW_BATCH_ROWS = 1024
COMMIT_EVERY = 1000  # input files per commit: an interrupted run redoes at most the chunk in flight
CHUNK_FILE = re.compile(r"^chunk-(\d+)-")


class LedgerParam:
    """Accumulator of ledger rows keyed by input path. Merging overwrites, so a retried or
    re-executed task (which produces the identical row) cannot count a file twice."""

    def zero(self, value):
        return {}

    def addInPlace(self, merged, update):  # noqa: N802 - pyspark's AccumulatorParam interface
        merged.update(update)
        return merged


def extract_batches(batches, options: ExtractOptions, ledgers):
    """mapInArrow body: input batches of `warc_path` -> Arrow batches of documents; ledgers -> accumulator."""
    names = DOCUMENT_SCHEMA.names
    columns: dict[str, list] = {name: [] for name in names}
    for batch in batches:
        for path in batch.column("warc_path").to_pylist():
            ledger = FileLedger(path)
            for doc in iter_file(path, options, ledger):
                for name in names:
                    columns[name].append(doc[name])
                if len(columns["doc_id"]) >= ARROW_BATCH_ROWS:
                    yield pa.RecordBatch.from_pydict(columns, schema=DOCUMENT_SCHEMA)
                    columns = {name: [] for name in names}
            ledgers.add({path: ledger.as_row()})
    if columns["doc_id"]:
        yield pa.RecordBatch.from_pydict(columns, schema=DOCUMENT_SCHEMA)


def summarize_ledger(rows: list[dict]) -> dict:
    """Totals over all files, with the conservation check: records == sum of outcomes."""
    totals: Counter = Counter()
    for row in rows:
        totals.update(row["outcomes"])
    records = sum(row["records"] for row in rows)
    bad_files = sorted((row["warc_path"], row["file_error"]) for row in rows if row["file_error"])
    return {
        "files": len(rows),
        "unread_files": sum(row["file_error"] in UNREAD_FILE_ERRORS for row in rows),
        "records": records,
        "documents": totals["extracted"],
        "chars": sum(row.get("chars") or 0 for row in rows),  # a ledger written before it was counted: 0
        "outcomes": dict(sorted(totals.items())),
        "conserved": records == sum(totals.values()),
        "bad_files": [{"warc_path": p, "file_error": e} for p, e in bad_files],
    }


class ExtractJob(SparkJob):
    """`spark-submit jobs/extract.py --input SRC ... --output DIR`: one Spark task per input file."""

    name = "extract"
    description = "WARC/ARC/WET files -> Parquet documents + a per-file ledger of record outcomes."
    published_statuses = (EXIT_OK, EXIT_BAD_INPUT)  # too many bad input files: the output is still complete

    def add_arguments(self, parser):
        parser.add_argument(
            "--input",
            nargs="+",
            action="extend",
            required=True,
            metavar="SRC",
            help="WARC/ARC/WET files, globs, directories, path listings (.paths[.gz]) or URLs",
        )
        parser.add_argument("--output", required=True, help="output directory (documents/, ledger/, summary.json)")
        parser.add_argument("--prefix", help="prefix for relative listing entries, e.g. https://data.commoncrawl.org/")
        parser.add_argument("--limit", type=int, help="process only the first N input files")
        parser.add_argument("--extractor", choices=sorted(EXTRACTORS), default=ExtractOptions.extractor)
        parser.add_argument("--max-html-bytes", type=int, default=ExtractOptions.max_html_bytes)
        parser.add_argument("--max-html-depth", type=int, default=ExtractOptions.max_html_depth)
        parser.add_argument(
            "--time-limit",
            type=float,
            default=ExtractOptions.time_limit_s,
            help="seconds per document before it counts as a timeout",
        )
        parser.add_argument("--files-per-task", type=int, default=1)
        parser.add_argument(
            "--commit-every",
            type=int,
            default=COMMIT_EVERY,
            metavar="FILES",
            help="input files per commit (documents and ledger rows written together)",
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="continue an interrupted run: keep the files its ledger holds, extract the others",
        )
        parser.add_argument(
            "--max-bad-files",
            type=int,
            default=None,
            help="exit with status 3 when more input files than this are bad (see FILE_OUTCOMES)",
        )

    def check_options(self, args):  # the inputs are the user's own files: all of it is checked up front
        for name in ("max_html_bytes", "max_html_depth", "files_per_task", "commit_every"):
            if getattr(args, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if args.time_limit < 0:
            raise ConfigError("--time-limit must not be negative")
        args.paths = expand_inputs(args.input, args.prefix, args.limit)
        check_remote_support(args.paths)

    def run(self, spark, args):
        options = ExtractOptions(args.extractor, args.max_html_bytes, args.max_html_depth, args.time_limit)
        try:
            summary = extract_to_parquet(
                spark, args.paths, args.output, options, args.files_per_task, args.commit_every, args.resume
            )
        except ConfigError as err:  # --resume over an output made from other inputs
            print(f"extract: error: {err}", file=sys.stderr)
            return EXIT_CONFIG
        print(format_summary(summary, published_path(args.output)))
        bad = len(summary["bad_files"])
        if not summary["conserved"]:
            print("extract: error: ledger does not add up (records != sum of outcomes)", file=sys.stderr)
            return 1
        if summary["unread_files"] == summary["files"]:
            first = summary["bad_files"][0]
            print(
                f"extract: error: none of the {summary['files']} input files could be read (e.g. "
                f"{first['file_error']}: {first['warc_path']}; details in {published_path(args.output)}/ledger)",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        if args.max_bad_files is not None and bad > args.max_bad_files:
            return EXIT_BAD_INPUT
        return 0


class ExtractStage(Stage):
    """The pipeline's first stage: the crawl files the config names in, the extracted documents out."""

    name = "extract"
    job = ExtractJob()
    resumable = True  # a rerun keeps the files its ledger committed
    required = ("input",)
    set_by_pipeline = ("output", "resume")
    funnel_label = "documents"
    funnel_input_label = "records"

    def wire(self, run, output):
        return ["--output", output, "--resume"]

    def input_files(self, args, run):
        return list(args.paths)  # expanded by check_options: every file exists, remote ones can be read

    def counts(self, summary):
        outcomes = summary["outcomes"]
        dropped = {outcome: n for outcome, n in outcomes.items() if outcome != "extracted"}
        return {"crawl": Counts(summary["records"], outcomes.get("extracted", 0), dropped, summary.get("chars"))}

    def kept(self, dataset):
        return ("documents",) if dataset == "crawl" else None


def file_tasks(spark, paths: list[str], files_per_task: int = 1):
    """A one-column DataFrame of paths split into one partition (one task) per `files_per_task` files."""
    slices = max(1, -(-len(paths) // files_per_task))
    return spark.createDataFrame(spark.sparkContext.parallelize([(p,) for p in paths], slices), "warc_path string")


def extract_to_parquet(
    spark,
    paths: list[str],
    output: str,
    options: ExtractOptions,
    files_per_task: int = 1,
    commit_every: int = COMMIT_EVERY,
    resume: bool = False,
) -> dict:
    """Run extraction over `paths`; write documents/, ledger/ and summary.json under `output`.

    Files are committed `commit_every` at a time. With `resume`, the files that `output`'s ledger
    already holds are kept and only the others are extracted: an interrupted run loses at most
    the chunk it was writing. Raises ConfigError when that ledger names files not in `paths`.
    """
    fs, root = hadoop_fs(spark, output)
    done = committed_ledger_rows(spark, output) if resume else {}
    if not resume:
        for part in ("documents", "ledger", "_chunks"):
            fs.delete(root.suffix(f"/{part}"), True)
    foreign = sorted(set(done) - set(paths))
    if foreign:
        raise ConfigError(
            f"--resume: {output} holds {len(foreign)} file(s) that are not among the inputs, "
            f"e.g. {foreign[0]} (start again without --resume)"
        )
    todo = [p for p in paths if p not in done]
    first = max((row["chunk"] for row in done.values()), default=-1) + 1
    for number, start in enumerate(range(0, len(todo), commit_every), first):
        done.update(extract_chunk(spark, todo[start : start + commit_every], output, number, options, files_per_task))
    fs.delete(root.suffix("/_chunks"), True)
    ledger_rows = [{k: v for k, v in done[path].items() if k != "chunk"} for path in paths]
    summary = {**summarize_ledger(ledger_rows), "extractor": options.extractor, "inputs": len(paths)}
    write_json(spark, f"{output}/summary.json", summary)
    return summary


def extract_chunk(
    spark, paths: list[str], output: str, number: int, options: ExtractOptions, files_per_task: int
) -> dict:
    """Extract `paths` and commit them to `output` as chunk `number`; their ledger rows by path.

    One pass: documents stream out of Python workers as Arrow batches into the Parquet writer,
    and each file's ledger row comes back through an idempotent accumulator. Both are written
    under `_chunks/NUMBER/`, then moved in: the documents first, then the one ledger file, whose
    arrival commits the chunk.
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    staging = f"{output}/_chunks/{number:06d}"
    ledgers = spark.sparkContext.accumulator({}, LedgerParam())
    files = file_tasks(spark, paths, files_per_task)
    docs = files.mapInArrow(
        lambda batches: extract_batches(batches, options, ledgers), from_arrow_schema(DOCUMENT_SCHEMA)
    )
    # dictionary-encoding page texts costs CPU and saves nothing: they are nearly all distinct
    docs.write.mode("overwrite").option("parquet.enable.dictionary#text", "false").parquet(f"{staging}/documents")
    rows = [ledgers.value[path] for path in paths]
    spark.createDataFrame(rows, LEDGER_DDL).coalesce(1).write.mode("overwrite").parquet(f"{staging}/ledger")
    prefix = f"chunk-{number:06d}-"
    move_files(spark, f"{staging}/documents", f"{output}/documents", prefix)
    move_files(spark, f"{staging}/ledger", f"{output}/ledger", prefix)
    return {row["warc_path"]: {**row, "chunk": number} for row in rows}


def move_files(spark, source: str, target: str, prefix: str) -> None:
    """Move the data files of directory `source` into `target`, their names prefixed."""
    fs, source_path = hadoop_fs(spark, source)
    _, target_path = hadoop_fs(spark, target)
    fs.mkdirs(target_path)
    for status in fs.listStatus(source_path):
        name = status.getPath().getName()
        if name.startswith(("_", ".")):
            continue
        destination = target_path.suffix(f"/{prefix}{name}")
        if not fs.rename(status.getPath(), destination):
            raise OSError(f"could not move {status.getPath()} to {destination}")


def committed_ledger_rows(spark, output: str) -> dict:
    """Ledger rows (with their chunk number) of the chunks `output` holds, by path; removes what
    an interrupted run left uncommitted: staged chunks, and documents of chunks without a ledger file."""
    from pyspark.sql import functions as F

    fs, root = hadoop_fs(spark, output)
    fs.delete(root.suffix("/_chunks"), True)

    def chunk_files(part: str) -> list:
        folder = root.suffix(f"/{part}")
        found = fs.listStatus(folder) if fs.exists(folder) else []
        return [(int(m.group(1)), st.getPath()) for st in found if (m := CHUNK_FILE.match(st.getPath().getName()))]

    committed = {number for number, _ in chunk_files("ledger")}
    for number, path in chunk_files("documents"):
        if number not in committed:
            fs.delete(path, False)
    if not committed:
        return {}
    rows = {}
    for row in spark.read.parquet(f"{output}/ledger").withColumn("_file", F.col("_metadata.file_name")).collect():
        values = row.asDict()
        values["chunk"] = int(CHUNK_FILE.match(values.pop("_file")).group(1))
        rows[values["warc_path"]] = values
    return rows


def format_summary(summary: dict, output: str) -> str:
    outcomes = ", ".join(f"{k} {v}" for k, v in summary["outcomes"].items())
    lines = [
        f"extract: {summary['files']} files, {summary['records']} records -> {summary['documents']} documents",
        f"extract: outcomes: {outcomes}",
        f"extract: wrote {output}/documents, {output}/ledger, {output}/summary.json",
    ]
    for bad in summary["bad_files"][:10]:
        lines.append(f"extract: bad input: {bad['file_error']}: {bad['warc_path']}")
    if len(summary["bad_files"]) > 10:
        lines.append(f"extract: ... and {len(summary['bad_files']) - 10} more bad files (see ledger/)")
    return "\n".join(lines)
