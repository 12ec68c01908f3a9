"""Reference-corpus readers: JSONL(.gz), Parquet, directories of .txt files and WikiExtractor output.

Every reader gives the same DataFrame: `doc_id, source, path, text, parse_error`. A record that cannot
be read (bad JSON, no text field) is kept with `text` null and `parse_error` set, so the consumer counts
it instead of losing it silently. Line ends are normalised to `\\n`.

doc_id is the record's id (the `id_field`, else an `id`/`doc_id` field or the WikiExtractor `id`
attribute) and otherwise a hash of (source, file path relative to the corpus root, line number /
row index): stable across re-runs, partitionings and machines.

Corpus specs on the command line: `NAME=PATH[,key=value...]` with keys `format`
(jsonl|parquet|txt|wikiextractor), `text_field`, `id_field` and `strip_gutenberg` (true/false);
a bare `PATH` takes its name from the file or directory name. A config table gives the same keys
(`corpus_spec`): either way the result is one CorpusSpec, never a spec string rebuilt from it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from curation.errors import ConfigError

FORMATS = ("jsonl", "parquet", "txt", "wikiextractor")
CORPUS_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source", pa.string()),
        ("path", pa.string()),
        ("text", pa.string()),
        ("parse_error", pa.string()),
    ]
)
CORPUS_DDL = "doc_id string, source string, path string, text string, parse_error string"
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz")
TXT_SUFFIXES = (".txt", ".txt.gz")
IGNORED_NAMES = ("_SUCCESS", "_committed", "_started")
ID_FIELDS = ("id", "doc_id")
BATCH_ROWS = 512
BATCH_CHARS = 64_000_000  # books are ~0.5 MB each: bound an Arrow batch by text size too

# --- Project Gutenberg boilerplate ------------------------------------------------------

GUTENBERG_START = re.compile(
    r"^[ \t]*\*{3}[ \t]*START OF (?:THE|THIS) PROJECT GUTENBERG[^\n]*$"
    r"|^[ \t]*\*END\*[ \t]*THE SMALL PRINT[^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
GUTENBERG_END = re.compile(
    r"^[ \t]*\*{3}[ \t]*END OF (?:THE|THIS) PROJECT GUTENBERG[^\n]*$"
    r"|^[ \t]*END OF (?:THE |THIS )?PROJECT GUTENB[EU]RG(?:'S)?[ \t]+(?:E-?BOOK|E-?TEXT|ETEXT)[^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def strip_gutenberg(text: str) -> str:
    """The body of a Project Gutenberg book: without the header (up to the last `*** START OF ...` or
    `*END*THE SMALL PRINT` line), the footer and the licence (from the first `*** END OF ...` or
    `End of the Project Gutenberg EBook ...` line). Text without markers is returned unchanged."""
    text = normalize_newlines(text)
    starts = list(GUTENBERG_START.finditer(text))
    begin = starts[-1].end() if starts else 0
    end_match = GUTENBERG_END.search(text, begin)
    end = end_match.start() if end_match else len(text)
    return text[begin:end].strip()


# --- specs and files ----------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    path: str
    fmt: str | None = None
    text_field: str = "text"
    id_field: str | None = None
    strip_gutenberg: bool = False


SPEC_KEYS = {"format", "text_field", "id_field", "strip_gutenberg"}
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def default_name(path: str) -> str:
    """`data/webtext.jsonl.gz` -> `webtext`."""
    return re.sub(r"(\.(jsonl|json|ndjson|txt|parquet))?(\.gz)?$", "", os.path.basename(path.rstrip("/")))


def parse_corpus_spec(spec: str) -> CorpusSpec:
    """`NAME=PATH[,key=value...]` or a bare `PATH` (named after its file) -> CorpusSpec."""
    head, *options = spec.split(",")
    name, sep, path = head.partition("=")
    if not sep:
        path, name = head, default_name(head)
    if not name or not path:
        raise ConfigError(f"bad corpus spec {spec!r}: expected NAME=PATH[,key=value...]")
    values: dict = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in SPEC_KEYS:
            raise ConfigError(f"bad corpus option {option!r} in {spec!r}: keys are {', '.join(sorted(SPEC_KEYS))}")
        values[key] = value
    return corpus_spec(name, path, values, f" in {spec!r}")


def corpus_spec(name: str, path: str, values: dict, where: str = "") -> CorpusSpec:
    """A CorpusSpec from its name, path and reader options {key: value} (SPEC_KEYS; a word, or a TOML boolean
    for strip_gutenberg), checked; `where` ends each error line (the spec it came from)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(f"bad corpus name {name!r}{where}: use letters, digits, '_', '-', '.'")
    fmt = values.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"unknown corpus format {fmt!r}{where}: use one of {', '.join(FORMATS)}")
    strip = str(values.get("strip_gutenberg", "false")).lower()
    if strip not in TRUE_WORDS + FALSE_WORDS:
        raise ConfigError(f"strip_gutenberg must be true or false{where}")
    return CorpusSpec(
        name, path, fmt, values.get("text_field", "text"), values.get("id_field") or None, strip in TRUE_WORDS
    )


def _visible_files(root: str) -> list[str]:
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        found += [
            os.path.join(folder, n)
            for n in sorted(names)
            if not n.startswith((".", "_")) and n not in IGNORED_NAMES and not n.endswith(".crc")
        ]
    return found


def _read_head(path: str, size: int = 4096) -> bytes:
    with open(path, "rb") as raw:
        head = raw.read(size)
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as unzipped:
            head = unzipped.read(size)
    return head


def sniff_format(path: str) -> str:
    """The format of one file, from its suffix, else from its first bytes."""
    lower = path.lower()
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(".parquet"):
        return "parquet"
    if lower.endswith(TXT_SUFFIXES):
        return "txt"
    head = _read_head(path).lstrip()
    if head.startswith(b"<doc"):
        return "wikiextractor"
    if head.startswith(b"{"):
        return "jsonl"
    if head.startswith(b"PAR1"):
        return "parquet"
    return "txt"


def corpus_files(path: str, fmt: str | None = None) -> tuple[str, list[str]]:
    """(format, files) of a corpus; ConfigError when it is missing, mixed or has no non-empty file."""
    if not os.path.exists(path):
        raise ConfigError(f"corpus does not exist: {path}")
    files = _visible_files(path) if os.path.isdir(path) else [path]
    files = [f for f in files if os.path.getsize(f) > 0 and _read_head(f, 64).strip()]
    if not files:
        raise ConfigError(f"corpus is empty: {path}")
    if fmt is None:
        found = sorted({sniff_format(f) for f in files})
        if len(found) > 1:
            raise ConfigError(f"corpus {path} mixes formats ({', '.join(found)}): pass format=... to choose one")
        fmt = found[0]
    elif fmt not in FORMATS:
        raise ConfigError(f"unknown corpus format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "txt":
        files = [f for f in files if f.lower().endswith(TXT_SUFFIXES)] or files
    if fmt == "parquet":
        files = [f for f in files if sniff_format(f) == "parquet"]
        if not files:
            raise ConfigError(f"corpus has no Parquet files: {path}")
    return fmt, files


# --- per-file record readers (pure Python) ----------------------------------------------


def fallback_doc_id(source: str, relpath: str, position: int) -> str:
    return hashlib.sha1(f"{source}\0{relpath}\0{position}".encode()).hexdigest()[:20]


def _open_text(path: str):
    raw = open(path, "rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", errors="replace", newline="")
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def _record(spec: CorpusSpec, relpath: str, position: int, doc_id, text, error=None) -> dict:
    if text is not None:
        text = strip_gutenberg(text) if spec.strip_gutenberg else normalize_newlines(text)
    doc_id = str(doc_id) if doc_id not in (None, "") else fallback_doc_id(spec.name, relpath, position)
    return {"doc_id": doc_id, "source": spec.name, "path": relpath, "text": text, "parse_error": error}


def iter_jsonl(path: str, relpath: str, spec: CorpusSpec) -> Iterator[dict]:
    with _open_text(path) as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                yield _record(spec, relpath, number, None, None, f"bad_json: {err}"[:200])
                continue
            if not isinstance(obj, dict):
                yield _record(spec, relpath, number, None, None, "not_an_object")
                continue
            id_value = (
                obj.get(spec.id_field)
                if spec.id_field
                else next((obj[f] for f in ID_FIELDS if obj.get(f) not in (None, "")), None)
            )
            text = obj.get(spec.text_field)
            if not isinstance(text, str):
                yield _record(spec, relpath, number, id_value, None, f"no_text_field: {spec.text_field}")
                continue
            yield _record(spec, relpath, number, id_value, text)


def iter_txt(path: str, relpath: str, spec: CorpusSpec) -> Iterator[dict]:
    with _open_text(path) as stream:
        yield _record(spec, relpath, 0, None, stream.read())


WIKI_DOC_OPEN = re.compile(r"<doc\s+([^>]*)>")
WIKI_ATTR = re.compile(r'(\w+)="([^"]*)"')


def iter_wikiextractor(path: str, relpath: str, spec: CorpusSpec) -> Iterator[dict]:
    """`<doc id=".." url=".." title="..">` ... `</doc>` blocks; the first body line (the title) is kept."""
    attrs, body, start_line = None, [], 0
    with _open_text(path) as lines:
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            opening = WIKI_DOC_OPEN.match(stripped) if attrs is None else None
            if opening:
                attrs, body, start_line = dict(WIKI_ATTR.findall(opening.group(1))), [], number
            elif stripped == "</doc>" and attrs is not None:
                doc_id = attrs.get(spec.id_field or "id")
                yield _record(spec, relpath, start_line, doc_id, "".join(body).strip())
                attrs = None
            elif attrs is not None:
                body.append(line)
    if attrs is not None:
        yield _record(spec, relpath, start_line, attrs.get(spec.id_field or "id"), None, "unclosed_doc")


READERS = {"jsonl": iter_jsonl, "txt": iter_txt, "wikiextractor": iter_wikiextractor}


def iter_corpus_file(path: str, relpath: str, fmt: str, spec: CorpusSpec) -> Iterator[dict]:
    """Records of one corpus file (any format but Parquet); an unreadable file is one error record."""
    try:
        yield from READERS[fmt](path, relpath, spec)
    except (OSError, EOFError, UnicodeError) as err:
        yield _record(spec, relpath, -1, None, None, f"unreadable_file: {type(err).__name__}: {err}"[:200])


def _read_batches(batches, root: str, fmt: str, spec: CorpusSpec):
    """mapInArrow body: batches of file paths -> Arrow batches of records."""
    names = CORPUS_SCHEMA.names
    columns: dict[str, list] = {n: [] for n in names}
    chars = 0
    for batch in batches:
        for path in batch.column("file").to_pylist():
            relpath = os.path.relpath(path, root) if os.path.isdir(root) else os.path.basename(path)
            for record in iter_corpus_file(path, relpath, fmt, spec):
                for n in names:
                    columns[n].append(record[n])
                chars += len(record["text"] or "")
                if len(columns["doc_id"]) >= BATCH_ROWS or chars >= BATCH_CHARS:
                    yield pa.RecordBatch.from_pydict(columns, schema=CORPUS_SCHEMA)
                    columns, chars = {n: [] for n in names}, 0
    if columns["doc_id"]:
        yield pa.RecordBatch.from_pydict(columns, schema=CORPUS_SCHEMA)


# --- Spark --------------------------------------------------------------------------------


def read_corpus(
    spark,
    path: str,
    *,
    fmt: str | None = None,
    text_field: str = "text",
    id_field: str | None = None,
    source: str | None = None,
    strip_gutenberg: bool = False,
):
    """A corpus as a DataFrame `doc_id, source, path, text, parse_error` (one Spark task per file)."""
    spec = CorpusSpec(source or default_name(path), path, fmt, text_field, id_field, strip_gutenberg)
    return read_spec(spark, spec)


def read_documents(spark, spec: CorpusSpec):
    """Documents for a pipeline stage: Parquet with `doc_id` and the text field keeps all its columns
    (another stage's output; the text column is named `text`); anything else goes through `read_spec`."""
    fmt, files = corpus_files(spec.path, spec.fmt)
    if fmt == "parquet":
        frame = spark.read.parquet(*files)
        if "doc_id" in frame.columns and spec.text_field in frame.columns:
            if spec.text_field != "text":
                frame = frame.drop("text").withColumnRenamed(spec.text_field, "text")
            return frame
    return read_spec(spark, spec)


def spread_single_task(frame):
    """`frame`, or, when it is one partition (one gzip JSON Lines file is read by one task), its rows
    repartitioned over Spark's default parallelism and persisted: the costly per-document pass that
    follows then runs on every core, and the file is read once however often the stage reads the frame."""
    from pyspark import StorageLevel

    parallelism = frame.sparkSession.sparkContext.defaultParallelism
    if frame.rdd.getNumPartitions() == 1 < parallelism:
        return frame.repartition(parallelism).persist(StorageLevel.MEMORY_AND_DISK)
    return frame


def read_spec(spark, spec: CorpusSpec):
    fmt, files = corpus_files(spec.path, spec.fmt)
    if fmt == "parquet":
        return _read_parquet(spark, spec, files)
    root = spec.path
    spec_for_task = spec  # captured by the closure shipped to the Python workers
    file_rows = spark.sparkContext.parallelize([(f,) for f in files], max(1, len(files)))
    return spark.createDataFrame(file_rows, "file string").mapInArrow(
        lambda batches: _read_batches(batches, root, fmt, spec_for_task), CORPUS_DDL
    )


def _read_parquet(spark, spec: CorpusSpec, files: list[str]):
    from pyspark.sql import functions as F

    frame = spark.read.parquet(*files)
    columns = frame.columns
    if spec.text_field not in columns:
        raise ConfigError(f"corpus {spec.path} has no column {spec.text_field!r} (columns: {', '.join(columns)})")
    if spec.id_field and spec.id_field not in columns:
        raise ConfigError(f"corpus {spec.path} has no id column {spec.id_field!r}")
    id_column = spec.id_field or next((c for c in ("doc_id", "id") if c in columns), None)
    file_path = F.col("_metadata.file_path")
    root = os.path.abspath(spec.path)
    relpath = (
        F.regexp_replace(file_path, r"^.*/", "")
        if not os.path.isdir(root)
        else F.regexp_replace(file_path, "^(file:)?" + re.escape(root) + "/?", "")
    )
    fallback = F.substring(
        F.sha1(F.concat_ws("\0", F.lit(spec.name), relpath, F.col("_metadata.row_index").cast("string"))), 1, 20
    )
    doc_id = F.coalesce(F.col(id_column).cast("string"), fallback) if id_column else fallback
    text = F.col(spec.text_field).cast("string")
    text = F.regexp_replace(text, "\r\n?", "\n")
    frame = frame.select(
        doc_id.alias("doc_id"),
        F.lit(spec.name).alias("source"),
        relpath.alias("path"),
        text.alias("text"),
        F.when(F.col(spec.text_field).isNull(), F.lit("null_text")).alias("parse_error"),
    )
    if spec.strip_gutenberg:
        strip = F.pandas_udf(lambda texts: texts.map(lambda t: None if t is None else strip_gutenberg(t)), "string")
        frame = frame.withColumn("text", strip("text"))
    return frame
