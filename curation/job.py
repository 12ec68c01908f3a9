"""The base every `spark-submit` job shares (after Common Crawl's cc-pyspark).

A job declares its options as one frozen dataclass (`options_class`: its flags and its pipeline config
table, curation.options) and checks them *before* Spark starts, in two steps: `check_options` (the
options alone, and the files they name that no stage of the pipeline writes: benchmarks, weights, WARC
inputs) and `validate` (the inputs: that they exist and hold the columns the job reads; the output: that
it can be written). A mistake is one line on stderr and exit status 2. The pipeline runs `check_options`
of every stage before the first stage starts, and `validate` of each stage when its inputs are there.
Concrete jobs set `options_class` and override `check_options` (by default the options' own `check()`),
`validate` and `run`; none of them changes the options: what a job derives from them (a parsed number, a
loaded file) is a property of the options or is computed in `run`. `--overwrite` and `--verbose` are the
job runner's flags, not options.

A job with an output directory DIR (its `output_option`, `--output`; a local path or a Hadoop filesystem
URI: curation.storage) writes into the hidden sibling `.DIR.partial` (the options with that directory,
`dataclasses.replace`d) and renames it to DIR only when it succeeds: DIR is either the previous complete
output or the new one, never half-written. What a job prints names DIR (`published_path`), where its
files are once it succeeds.

Ctrl-C ends a job with one line (where it stopped, and how to go on), not py4j's tracebacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
from py4j.protocol import Py4JError

from curation.corpora import CorpusSpec, corpus_files
from curation.errors import EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_OK, ConfigError
from curation.options import add_arguments, from_namespace
from curation.package import check_executors
from curation.spark import get_spark
from curation.storage import exists, hadoop_fs, has_entries, is_uri, remove_tree, rename, split


class SparkJob:
    name = "job"
    description = ""
    options_class: type = None  # the job's frozen options dataclass (curation.options): its flags, its TOML table
    output_option = "output"  # the option naming the directory the job writes: staged, then published
    # exit statuses after which the output is complete and is published (renamed into place)
    published_statuses = (EXIT_OK,)

    def check_options(self, options) -> None:
        """Check the options and the files only a user gives (never another stage's output), without
        Spark; raise ConfigError with one clear line. Mutates nothing."""
        check = getattr(options, "check", None)
        if check:
            check()

    def validate(self, options) -> None:
        """Check the inputs (they exist and hold the columns the job reads), after `check_options`,
        without Spark; raise ConfigError with one clear line."""

    def check(self, options) -> None:
        self.check_options(options)
        self.validate(options)

    def run(self, spark, options) -> int:
        raise NotImplementedError

    def parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=f"spark-submit jobs/{self.name}.py", description=self.description)
        parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="Spark's INFO log too (default: its warnings and errors; or CURATION_SPARK_LOG_LEVEL)",
        )
        add_arguments(parser, self.options_class)
        return parser

    def main(self, argv: list[str] | None = None) -> int:
        args = self.parser().parse_args(argv)
        if args.verbose:
            os.environ["CURATION_SPARK_LOG_LEVEL"] = "INFO"
        staged = options = None
        with QuietInterrupts() as interrupts:
            try:
                try:
                    options = from_namespace(self.options_class, args)
                    self.check(options)
                    output = getattr(options, self.output_option, None)
                    check_output(output, args.overwrite)
                    spark = get_spark(f"curation-{self.name}")  # checks Java first
                    check_uri_output(output, args.overwrite)
                    check_executors(spark, type(self).__module__)  # on a cluster: was the environment shipped?
                except ConfigError as err:
                    print(f"{self.name}: error: {err}", file=sys.stderr)
                    return EXIT_CONFIG
                interrupts.install(spark)
                started = time.perf_counter()
                staged = partial_path(output) if output else None
                if staged:
                    if not getattr(options, "resume", False):  # a resumable job continues what an interrupted run left
                        remove_tree(staged)
                    options = dataclasses.replace(options, **{self.output_option: staged})
                status = self.run(spark, options)
            except KeyboardInterrupt:
                print(interrupted_line(self.name, staged, options), file=sys.stderr)
                return EXIT_INTERRUPTED
        if staged and status in self.published_statuses:
            publish(staged, output)
        elif staged and exists(staged):
            print(f"{self.name}: unfinished output left in {staged}", file=sys.stderr)
        if status != EXIT_INTERRUPTED:  # a job that stopped on Ctrl-C printed its one line
            print(f"{self.name}: finished in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        return status


def interrupted_line(name: str, staged: str | None, options) -> str:
    """The one line a job interrupted by Ctrl-C prints: how to go on."""
    if staged and exists(staged) and hasattr(options, "resume"):  # a resumable job keeps what it committed
        again = "run the same command again" if options.resume else "run the same command with --resume"
        return f"{name}: interrupted; {again} to continue from {staged}"
    return f"{name}: interrupted; run the same command again"


def silence(spark) -> None:
    """Spark logs nothing more: each job an interrupt aborts logs an error with its stack trace."""
    try:
        spark.sparkContext.setLogLevel("OFF")
    except Py4JError:  # the JVM is gone already
        pass


class QuietInterrupts:
    """Within the block, Ctrl-C (SIGINT) silences Spark and py4j, then raises KeyboardInterrupt.

    PySpark's own handler cancels the jobs through py4j from inside the handler, re-entering the py4j
    call the driver is blocked in, and py4j logs each call that breaks with its traceback; the JVM
    logs each aborted job with its stack trace: about 170 lines for a job interrupted mid-stage.
    The job's entry point prints one line instead; the JVM ends the jobs as the driver exits.
    """

    def __enter__(self) -> QuietInterrupts:
        self.active = threading.current_thread() is threading.main_thread()  # where signal handlers run
        self.previous = signal.getsignal(signal.SIGINT) if self.active else None
        self.spark = None
        self.install()
        return self

    def install(self, spark=None) -> None:
        """Handle Ctrl-C here, silencing `spark` too; again once the SparkSession exists, whose new
        SparkContext replaced this handler with PySpark's."""
        self.spark = spark or self.spark
        if self.active:
            signal.signal(signal.SIGINT, self.handle)

    def handle(self, signum, frame) -> None:
        logging.disable(logging.CRITICAL)  # the driver is ending: py4j's reports of the calls this breaks
        if self.spark is not None:  # from another thread: a py4j call from this one would re-enter the blocked one
            quiet = threading.Thread(target=silence, args=(self.spark,), daemon=True)
            quiet.start()
            quiet.join(timeout=10)
        raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        if self.active and self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def check_output(output: str | None, overwrite: bool) -> None:
    """A local output directory that already holds files needs --overwrite, and must be writable (a URI
    is opened once Spark runs: `check_uri_output`)."""
    if not output or is_uri(output):
        return
    refuse_to_replace(output, overwrite)
    check_writable(output)


def check_uri_output(output: str | None, overwrite: bool) -> None:
    """`check_output` for a Hadoop filesystem URI, once Spark runs (the URI is opened through it): one that
    already holds files needs --overwrite too."""
    if output and is_uri(output):
        refuse_to_replace(output, overwrite)


def refuse_to_replace(output: str, overwrite: bool) -> None:
    """ConfigError when `output` is a directory that holds anything and --overwrite was not given."""
    if not overwrite and has_entries(output):
        raise ConfigError(f"output directory is not empty: {output} (pass --overwrite to replace it)")


def check_writable(output: str) -> None:
    """ConfigError unless a job can write `output`: create `.NAME.partial` beside it (in the nearest
    existing directory above it: missing ones are created) and replace what is in it. Tried with a
    probe directory rather than read from the permission bits, which root ignores and which an
    immutable directory (chattr +i) or a read-only mount overrides."""
    folder = os.path.dirname(os.path.abspath(output))
    while not os.path.isdir(folder):
        if os.path.lexists(folder):
            raise ConfigError(f"cannot write output {output}: {folder} is not a directory")
        folder = os.path.dirname(folder)
    for where in (folder, output) if os.path.isdir(output) else (folder,):
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".curation-write-test-", dir=where))
        except OSError as err:
            raise ConfigError(f"cannot write output {output}: {where}: {err.strerror}") from None


def check_input(spec: CorpusSpec) -> None:
    """ConfigError unless corpus `spec` exists and, when it is Parquet, has the text column (and the id
    column it names): read from one file's footer with pyarrow, so that the mistake is one line before
    Spark starts, not a traceback once it has (or a run that rejects every document for its empty text)."""
    if is_uri(spec.path):
        return
    fmt, files = corpus_files(spec.path, spec.fmt)
    if fmt != "parquet":
        return
    try:
        columns = pq.read_schema(files[0]).names
    except (OSError, pa.ArrowException) as err:
        raise ConfigError(f"input {files[0]} is not a readable Parquet file: {err}") from None
    missing = [column for column in (spec.text_field, spec.id_field) if column and column not in columns]
    if missing:
        raise ConfigError(
            f"input {files[0]} has no column {' or '.join(map(repr, missing))} (its columns: {', '.join(columns)})"
        )


def partial_path(output: str) -> str:
    """Where an output is written until it is complete: the hidden sibling `.NAME.partial`
    (hidden, so that readers of the parent directory never see it)."""
    parent, name = split(output)
    return os.path.join(parent, f".{name}.partial")


PARTIAL_NAME = re.compile(r"^\.(.+)\.partial$")


def published_path(path: str) -> str:
    """Where `path`, inside a staged output, is once the output is published (`partial_path` undone):
    `RUN/.extract.partial/documents` -> `RUN/extract/documents`. For what a job prints and records."""
    return os.sep.join(PARTIAL_NAME.sub(r"\1", part) for part in path.split(os.sep))


def publish(staged: str, output: str) -> None:
    """Replace `output` (a local path or a URI) with the complete `staged` directory. Each step is one
    rename, so `output` is at every moment the old complete output, absent, or the new complete output."""
    old = f"{partial_path(output)}.old"
    remove_tree(old)
    if exists(output):
        rename(output, old)
    rename(staged, output)
    remove_tree(old)


def write_text(spark, path: str, text: str) -> None:
    """Write a small text file on any Hadoop-supported filesystem (local, HDFS, s3a, ...)."""
    fs, hadoop_path = hadoop_fs(spark, path)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def write_json(spark, path: str, payload: dict) -> None:
    """A small JSON report, written like `write_text`."""
    write_text(spark, path, json.dumps(payload, indent=2, sort_keys=True))


def run_job(job: SparkJob) -> None:
    """Entry point for `jobs/*.py`."""
    sys.exit(job.main())
