"""Spark session set-up shared by every job, with the checks that must happen before Spark starts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

JAVA_HINT = (
    "install Java 17 (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`; "
    "macOS: `brew install openjdk@17`) or point JAVA_HOME at one"
)


class ConfigError(Exception):
    """A mistake in the job's configuration, reported as one line before Spark starts."""


def java_major_version() -> int | None:
    """Major version of the `java` Spark will launch, or None when there is none."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major


def check_java(minimum: int = 17) -> None:
    version = java_major_version()
    if version is None:
        raise ConfigError(f"Java not found: {JAVA_HINT}")
    if version < minimum:
        raise ConfigError(f"Java {version} found but Spark needs Java {minimum}+: {JAVA_HINT}")


def get_spark(app_name: str, master: str | None = None, conf: dict | None = None):
    """The active SparkSession, or a new one; local[*] unless spark-submit or `master` says otherwise.

    Python workers use this interpreter, so a `.venv` works without activating it.
    """
    check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    elif "PYSPARK_GATEWAY_PORT" not in os.environ:  # plain `python`, not spark-submit
        builder = builder.master("local[*]")
    defaults = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Arrow batches to Python workers by bytes too, not only 10,000 rows: whole books are megabytes each
        "spark.sql.execution.arrow.maxBytesPerBatch": str(64 << 20),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "true",
    }
    for key, value in {**defaults, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("CURATION_SPARK_LOG_LEVEL", "WARN"))
    return spark


def main() -> int:
    """`python -m curation.spark`: check for Java before anything starts Spark."""
    try:
        check_java()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
