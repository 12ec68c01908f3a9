"""Spark session set-up shared by every job, with the checks that must happen before Spark starts.

What a person reads is the job's own lines and Spark's progress bar: Spark logs warnings and errors only
(`CURATION_SPARK_LOG_LEVEL=INFO`, or a job's `--verbose`, for everything), from the first line of the
driver JVM where this process starts it (curation/log4j2.properties) and from the SparkContext's
creation on otherwise (`spark.log.level`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from curation.errors import ConfigError

JAVA_HINT = (
    "install Java 17 (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`; "
    "macOS: `brew install openjdk@17`) or point JAVA_HOME at one"
)


LOG_LEVELS = ("OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL")
LOG4J2_PROPERTIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2.properties")


def log_level() -> str:
    """Spark's log level: CURATION_SPARK_LOG_LEVEL, else WARN."""
    level = os.environ.get("CURATION_SPARK_LOG_LEVEL", "WARN").upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"CURATION_SPARK_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (got {level!r})")
    return level


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
    level = log_level()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    starts_jvm = "PYSPARK_GATEWAY_PORT" not in os.environ  # plain `python`, not spark-submit
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    elif starts_jvm:
        builder = builder.master("local[*]")
    defaults = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Arrow batches to Python workers by bytes too, not only 10,000 rows: whole books are megabytes each
        "spark.sql.execution.arrow.maxBytesPerBatch": str(64 << 20),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "true",
        "spark.log.level": level,  # from the SparkContext's first line, even under a spark-submit without our log4j2
    }
    if starts_jvm and os.path.isfile(LOG4J2_PROPERTIES):
        defaults["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={LOG4J2_PROPERTIES}"
    for key, value in {**defaults, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(level)  # getOrCreate may have returned a session started with another level
    if not starts_jvm:
        leave_interrupts_to_python(spark)
    return spark


def leave_interrupts_to_python(spark) -> None:
    """Make the driver JVM ignore Ctrl-C (SIGINT), as PySpark does for a JVM it starts itself. Under spark-submit
    the JVM is this process's parent, in the same process group: stopping at once on Ctrl-C, it would abort the
    running jobs (each an error with its stack trace) and cut off what the Python driver prints, which reaches
    the terminal through it. The Python driver handles Ctrl-C; the JVM ends when the driver does."""
    jvm = spark.sparkContext._jvm
    jvm.sun.misc.Signal.handle(jvm.sun.misc.Signal("INT"), jvm.sun.misc.SignalHandler.SIG_IGN)


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


def concurrently(spark, *actions) -> list:
    """The results of `actions` (functions of no arguments that run Spark jobs), run in threads that keep the
    caller's job group, local properties and tags; an action's error is raised here."""
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.util import inheritable_thread_target

    inherit = inheritable_thread_target(spark)
    with ThreadPoolExecutor(max_workers=max(1, len(actions))) as pool:
        futures = [pool.submit(inherit(action)) for action in actions]
        return [future.result() for future in futures]
