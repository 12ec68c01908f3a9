"""Extraction: WARC/ARC/WET records -> plain-text documents, with every record counted in a ledger.

The core is pure Python and Spark-free (curation.warc_records: one file -> documents and its ledger); this
module spreads files over Spark tasks, commits them in chunks an interrupted run resumes from, and sums the
ledgers: `jobs/extract.py`.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

import pyarrow as pa

from curation.errors import EXIT_BAD_INPUT, EXIT_CONFIG, EXIT_OK, ConfigError
from curation.html_text import EXTRACTORS
from curation.job import SparkJob, hadoop_fs, published_path, write_json
from curation.options import option
from curation.sources import check_remote_support, expand_inputs
from curation.stage import Counts, Stage
from curation.warc_records import UNREAD_FILE_ERRORS, ExtractOptions, FileLedger, iter_file

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


@dataclass(frozen=True)
class ExtractJobOptions:
    """The extract job's options: its flags, and the [extract] table of a pipeline config."""

    input: tuple[str, ...] = field(
        default=(),
        metadata=option(
            "WARC/ARC/WET files, globs, directories, path listings (.paths[.gz]) or URLs",
            metavar="SRC",
            spaced=True,
            required=True,
        ),
    )
    output: str = field(
        default="", metadata=option("output directory (documents/, ledger/, summary.json)", required=True)
    )
    prefix: str | None = field(
        default=None, metadata=option("prefix for relative listing entries, e.g. https://data.commoncrawl.org/")
    )
    limit: int | None = field(default=None, metadata=option("process only the first N input files"))
    extractor: str = field(default=ExtractOptions.extractor, metadata=option(choices=sorted(EXTRACTORS)))
    max_html_bytes: int = ExtractOptions.max_html_bytes
    max_html_depth: int = ExtractOptions.max_html_depth
    time_limit: float = field(
        default=ExtractOptions.time_limit_s, metadata=option("seconds per document before it counts as a timeout")
    )
    files_per_task: int = 1
    commit_every: int = field(
        default=COMMIT_EVERY,
        metadata=option("input files per commit (documents and ledger rows written together)", metavar="FILES"),
    )
    resume: bool = field(
        default=False,
        metadata=option("continue an interrupted run: keep the files its ledger holds, extract the others"),
    )
    max_bad_files: int | None = field(
        default=None, metadata=option("exit with status 3 when more input files than this are bad (see FILE_OUTCOMES)")
    )

    def check(self) -> None:  # the inputs are the user's own files: all of it is checked up front
        for name in ("max_html_bytes", "max_html_depth", "files_per_task", "commit_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.time_limit < 0:
            raise ConfigError("--time-limit must not be negative")
        check_remote_support(self.paths)

    @cached_property
    def paths(self) -> list[str]:
        """Every input file, expanded from `input` (ConfigError on a bad one); listed once."""
        return expand_inputs(list(self.input), self.prefix, self.limit)

    def extraction(self) -> ExtractOptions:
        return ExtractOptions(self.extractor, self.max_html_bytes, self.max_html_depth, self.time_limit)


class ExtractJob(SparkJob):
    """`spark-submit jobs/extract.py --input SRC ... --output DIR`: one Spark task per input file."""

    name = "extract"
    description = "WARC/ARC/WET files -> Parquet documents + a per-file ledger of record outcomes."
    options_class = ExtractJobOptions
    published_statuses = (EXIT_OK, EXIT_BAD_INPUT)  # too many bad input files: the output is still complete

    def run(self, spark, options):
        try:
            summary = extract_to_parquet(
                spark,
                options.paths,
                options.output,
                options.extraction(),
                options.files_per_task,
                options.commit_every,
                options.resume,
            )
        except ConfigError as err:  # --resume over an output made from other inputs
            print(f"extract: error: {err}", file=sys.stderr)
            return EXIT_CONFIG
        print(format_summary(summary, published_path(options.output)))
        bad = len(summary["bad_files"])
        if not summary["conserved"]:
            print("extract: error: ledger does not add up (records != sum of outcomes)", file=sys.stderr)
            return 1
        if summary["unread_files"] == summary["files"]:
            first = summary["bad_files"][0]
            print(
                f"extract: error: none of the {summary['files']} input files could be read (e.g. "
                f"{first['file_error']}: {first['warc_path']}; details in {published_path(options.output)}/ledger)",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        if options.max_bad_files is not None and bad > options.max_bad_files:
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
        return {"output": output, "resume": True}

    def input_files(self, options, run):
        return list(options.paths)  # expanded by check_options: every file exists, remote ones can be read

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
