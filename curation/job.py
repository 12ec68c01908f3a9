"""The base every `spark-submit` job shares (after Common Crawl's cc-pyspark).

A job declares its arguments, validates them *before* Spark starts (a configuration mistake
is one line on stderr and exit status 2), then runs with a SparkSession. Concrete jobs
override `add_arguments`, `validate` and `run`.

A job with a local `--output DIR` writes into the hidden sibling `.DIR.partial` and renames it
to DIR only when it succeeds: DIR is either the previous complete output or the new one, never
half-written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

from curation.spark import ConfigError, get_spark

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_BAD_INPUT = 3


class SparkJob:
    name = "job"
    description = ""
    # exit statuses after which the output is complete and is published (renamed into place)
    published_statuses = (EXIT_OK,)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the job's own arguments."""

    def validate(self, args: argparse.Namespace) -> None:
        """Check the arguments without Spark; raise ConfigError with one clear line."""

    def run(self, spark, args: argparse.Namespace) -> int:
        raise NotImplementedError

    def parser(self, parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser = parser_class(prog=f"spark-submit jobs/{self.name}.py", description=self.description)
        parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
        self.add_arguments(parser)
        return parser

    def main(self, argv: list[str] | None = None) -> int:
        args = self.parser().parse_args(argv)
        try:
            self.validate(args)
            check_output(getattr(args, "output", None), args.overwrite)
            spark = get_spark(f"curation-{self.name}")  # checks Java first
        except ConfigError as err:
            print(f"{self.name}: error: {err}", file=sys.stderr)
            return EXIT_CONFIG
        started = time.perf_counter()
        output = getattr(args, "output", None)
        staged = partial_path(output) if output and "://" not in output else None
        if staged:
            if not getattr(args, "resume", False):  # a resumable job continues what an interrupted run left
                remove_tree(staged)
            args.output = staged
        status = self.run(spark, args)
        if staged and status in self.published_statuses:
            publish(staged, output)
        elif staged:
            print(f"{self.name}: unfinished output left in {staged}", file=sys.stderr)
        print(f"{self.name}: finished in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        return status


def check_output(output: str | None, overwrite: bool) -> None:
    """A local output directory that already holds files needs --overwrite."""
    if output and "://" not in output and os.path.isdir(output) and os.listdir(output) and not overwrite:
        raise ConfigError(f"output directory is not empty: {output} (pass --overwrite to replace it)")


def partial_path(output: str) -> str:
    """Where an output is written until it is complete: the hidden sibling `.NAME.partial`
    (hidden, so that readers of the parent directory never see it)."""
    parent, name = os.path.split(os.path.normpath(output))
    return os.path.join(parent, f".{name}.partial")


def remove_tree(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def publish(staged: str, output: str) -> None:
    """Replace `output` with the complete `staged` directory. Each step is one rename, so `output`
    is at every moment the old complete output, absent, or the new complete output."""
    old = f"{partial_path(output)}.old"
    remove_tree(old)
    if os.path.lexists(output):
        os.replace(output, old)
    os.replace(staged, output)
    remove_tree(old)


def hadoop_fs(spark, path: str):
    """(FileSystem, Path) of `path` on any Hadoop-supported filesystem (local, HDFS, s3a, ...)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


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
