"""The base every `spark-submit` job shares (after Common Crawl's cc-pyspark).

A job declares its arguments, validates them *before* Spark starts (a configuration mistake
is one line on stderr and exit status 2), then runs with a SparkSession. Concrete jobs
override `add_arguments`, `validate` and `run`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from curation.spark import ConfigError, get_spark

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_BAD_INPUT = 3


class SparkJob:
    name = "job"
    description = ""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the job's own arguments."""

    def validate(self, args: argparse.Namespace) -> None:
        """Check the arguments without Spark; raise ConfigError with one clear line."""

    def run(self, spark, args: argparse.Namespace) -> int:
        raise NotImplementedError

    def main(self, argv: list[str] | None = None) -> int:
        parser = argparse.ArgumentParser(prog=f"spark-submit jobs/{self.name}.py", description=self.description)
        parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
        self.add_arguments(parser)
        args = parser.parse_args(argv)
        try:
            self.validate(args)
            check_output(getattr(args, "output", None), args.overwrite)
            spark = get_spark(f"curation-{self.name}")  # checks Java first
        except ConfigError as err:
            print(f"{self.name}: error: {err}", file=sys.stderr)
            return EXIT_CONFIG
        started = time.perf_counter()
        status = self.run(spark, args)
        print(f"{self.name}: finished in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        return status


def check_output(output: str | None, overwrite: bool) -> None:
    """A local output directory that already holds files needs --overwrite."""
    if output and "://" not in output and os.path.isdir(output) and os.listdir(output) and not overwrite:
        raise ConfigError(f"output directory is not empty: {output} (pass --overwrite to replace it)")


def write_text(spark, path: str, text: str) -> None:
    """Write a small text file on any Hadoop-supported filesystem (local, HDFS, s3a, ...)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
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
