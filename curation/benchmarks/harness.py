"""What every benchmark shares: its command-line options, a warm local SparkSession, best-of timing,
per-core rates and the final JSON line."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def bench_parser(prog: str, repeat: int = 1) -> argparse.ArgumentParser:
    """A parser with the options every benchmark takes; a benchmark adds its own."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument(
        "--cores",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="local[N] for Spark; rates are divided by it (the loop runs on one core)",
    )
    parser.add_argument("--repeat", type=int, default=repeat, help="timed runs of each path; the fastest counts")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def best_of(repeat: int, run) -> tuple[float, object]:
    """(fastest wall time, result) over `repeat` runs: the least disturbed measurement."""
    timings, result = [], None
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
    return min(timings), result


def local_spark(name: str, cores: int, conf: dict | None = None):
    """A quiet local[cores] SparkSession for a benchmark, with the driver memory `make`'s jobs get (a 100,000-page
    crawl's Parquet batches do not fit Spark's 1g default)."""
    from curation.spark import get_spark

    defaults = {"spark.ui.showConsoleProgress": "false", "spark.driver.memory": "4g"}
    return get_spark(f"bench-{name}", master=f"local[{cores}]", conf={**defaults, **(conf or {})})


def scratch_dir(name: str) -> Path:
    """A fresh temporary directory for one benchmark's outputs."""
    return Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))


def per_core(items: int, seconds: float, cores: int = 1) -> float:
    return round(items / seconds / cores, 1)


def with_ratio(
    result: dict,
    spark_key: str = "spark_docs_per_s_per_core",
    loop_key: str = "loop_docs_per_s_per_core",
    name: str = "ratio",
) -> dict:
    """`result` with name = result[spark_key] / result[loop_key]: the figure that compares across machines."""
    result[name] = round(result[spark_key] / result[loop_key], 3)
    return result


def emit(result: dict) -> None:
    """The benchmark's last line: one JSON object."""
    print(json.dumps(result), flush=True)
