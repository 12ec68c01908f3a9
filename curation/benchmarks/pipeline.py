"""`make bench-pipeline`: the whole pipeline (jobs/pipeline.py) against extraction alone, on the same crawl with
the same extractor, in one SparkSession: how much every stage after extraction adds per crawl document.

Trafilatura extracts 20-50 pages/s per core, so extraction should dominate a run; `pipeline_vs_extract` (the
pipeline's crawl documents/s per core over extraction's alone) says how close the whole run comes to it (issue 20
asks for >= 0.8). The run uses configs/realcrawl.toml's stage options (rules included) over the cached real-page
crawl of curation.benchmarks.realpages and the shared reference corpora, each cut to its first
`--reference-chars` characters: whole, they are 134 M characters, which would measure the reference corpora rather
than the crawl. Without ../shared/data it runs on the generated sample and says so (`"corpus": "generated"`).

Per-stage seconds come from the pipeline's own `_SUCCESS` markers. The profile beside them comes from Spark's
status REST API (the local UI): per stage, the Spark jobs it ran, the wall time inside them (the rest is driver
work: planning, Python on the driver, file listing), the summed task time, the JVM's CPU time within it (the rest
is Python workers and waiting) and the shuffle bytes; it is left out, with one line on stderr, when the UI does
not answer.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from curation.benchmarks.harness import bench_parser, local_spark, per_core, scratch_dir, with_ratio
from curation.benchmarks.realpages import bench_crawl, corpus_label, crawl_shards, real_data_present
from curation.extract import extract_to_parquet
from curation.html_text import EXTRACTORS
from curation.pipeline import main as pipeline_main
from curation.pipeline import read_toml
from curation.settings import PROJECT_ROOT, shared_data_dir
from curation.warc_records import ExtractOptions

TEMPLATE = PROJECT_ROOT / "configs" / "realcrawl.toml"
SPARK_TIME = "%Y-%m-%dT%H:%M:%S.%f%Z"  # the REST API's times, e.g. 2026-11-29T10:01:02.123GMT


# --- the config ------------------------------------------------------------------------------------


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"


def toml_text(data: dict) -> str:
    """`data` (as tomllib reads a pipeline config) as TOML: top-level tables as [NAME], a table of tables within
    one as [NAME.KEY] (`[mixture.datasets]`), any other table inline."""
    lines = [f"{key} = {toml_value(value)}" for key, value in data.items() if not isinstance(value, dict)]
    for name, table in data.items():
        if not isinstance(table, dict):
            continue
        nested = {
            k: v for k, v in table.items() if isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values())
        }
        lines += ["", f"[{name}]"] + [f"{k} = {toml_value(v)}" for k, v in table.items() if k not in nested]
        for key, subtable in nested.items():
            lines += ["", f"[{name}.{key}]"] + [f"{k} = {toml_value(v)}" for k, v in subtable.items()]
    return "\n".join(lines) + "\n"


def reference_slice(source: Path, target: Path, max_chars: int) -> int:
    """The first documents of the JSON-lines corpus `source` up to `max_chars` characters of text (at least one),
    written to `target`; returns how many."""
    docs, chars = 0, 0
    with gzip.open(source, "rt", encoding="utf-8") as lines, gzip.open(target, "wt", encoding="utf-8") as out:
        for line in lines:
            length = len(json.loads(line).get("text") or "")
            if docs and chars + length > max_chars:
                break
            chars += length
            out.write(line)
            docs += 1
    return docs


def bench_config(workdir: Path, shards: list[str], corpora: Path, benchmarks: Path, extractor: str | None) -> Path:
    """configs/realcrawl.toml over `shards`, with the reference corpora in `corpora` and the benchmark sets in
    `benchmarks`, its run directory in `workdir`; written to workdir/pipeline.toml."""
    data = read_toml(str(TEMPLATE))
    data["output"] = str(workdir / "run")
    data["extract"] = {**data["extract"], "input": shards, **({"extractor": extractor} if extractor else {})}
    data["reference"] = {
        name: {**(spec if isinstance(spec, dict) else {}), "path": str(corpora / f"{name}.jsonl.gz")}
        for name, spec in data["reference"].items()
    }
    data["decontaminate"] = {**data["decontaminate"], "benchmarks": str(benchmarks)}
    path = workdir / "pipeline.toml"
    path.write_text(toml_text(data), encoding="utf-8")
    return path


def real_inputs(workdir: Path, responses: int, shards: int, seed: int, max_chars: int) -> tuple:
    """(crawl shards, reference directory, benchmarks, {corpus: documents}) on the real data."""
    corpora = workdir / "reference"
    corpora.mkdir()
    shared = shared_data_dir() / "reference"
    reference = {
        name: reference_slice(shared / f"{name}.jsonl.gz", corpora / f"{name}.jsonl.gz", max_chars)
        for name in read_toml(str(TEMPLATE))["reference"]
    }
    crawl = crawl_shards(bench_crawl(responses, shards, seed))
    return crawl, corpora, shared_data_dir() / "benchmarks", reference


def generated_inputs(workdir: Path, pages: int, shards: int, seed: int) -> tuple:
    """The same from the generated sample (its reference corpora and benchmark set whole)."""
    from curation.sample import generate_sample

    root = workdir / "sample"
    summary = generate_sample(root, pages=pages, seed=seed, shards=shards, reference_docs=100)
    crawl = sorted(str(p) for p in (root / "crawl").glob("sample-0*.warc.gz"))
    return crawl, root / "reference", root / "benchmarks", summary["reference"]


# --- where the time goes ----------------------------------------------------------------------------


def stage_windows(run_dir: Path) -> dict[str, tuple[float, float]]:
    """{stage: (start, end)} in epoch seconds of every stage the pipeline ran, from its `_SUCCESS` marker: the
    marker is written as the stage's job returns (its mtime) and holds the job's seconds."""
    windows = {}
    for marker in run_dir.glob("*/_SUCCESS"):
        end = marker.stat().st_mtime
        windows[marker.parent.name] = (end - json.loads(marker.read_text())["seconds"], end)
    return dict(sorted(windows.items(), key=lambda item: item[1]))


def spark_time(text: str | None) -> float | None:
    return datetime.strptime(text, SPARK_TIME).replace(tzinfo=timezone.utc).timestamp() if text else None


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    """Total length of the union of (start, end) intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def spark_profile(windows: dict[str, tuple[float, float]], jobs: list[dict], stages: list[dict]) -> dict[str, dict]:
    """Per pipeline stage, from the Spark REST API's jobs and stages (times in epoch seconds, metrics as the API
    gives them): Spark jobs submitted in its window, wall seconds inside them (`in_jobs_s`; the rest of the window
    is the driver's), the summed task seconds, the JVM's CPU seconds within the tasks (the rest is Python workers
    and I/O) and shuffle MB written. Jobs outside every window are the pipeline's own (`other`: conservation
    counts, the funnel)."""

    def window_of(when: float) -> str:
        return next((name for name, (start, end) in windows.items() if start <= when <= end), "other")

    profile = {
        name: {"spark_jobs": 0, "in_jobs_s": 0.0, "task_s": 0.0, "jvm_cpu_s": 0.0, "shuffle_mb": 0.0}
        for name in [*windows, "other"]
    }
    intervals: dict[str, list] = {name: [] for name in profile}
    for job in jobs:
        if job["submitted"] is not None and job["completed"] is not None:
            name = window_of(job["submitted"])
            profile[name]["spark_jobs"] += 1
            intervals[name].append((job["submitted"], job["completed"]))
    for stage in stages:
        if stage["submitted"] is not None:
            row = profile[window_of(stage["submitted"])]
            row["task_s"] += stage["executorRunTime"] / 1e3
            row["jvm_cpu_s"] += stage["executorCpuTime"] / 1e9
            row["shuffle_mb"] += stage["shuffleWriteBytes"] / 2**20
    for name, row in profile.items():
        row["in_jobs_s"] = union_seconds(intervals[name])
        profile[name] = {key: value if key == "spark_jobs" else round(value, 1) for key, value in row.items()}
    return profile


def rest_jobs_and_stages(spark, since: float) -> tuple[list[dict], list[dict]]:
    """The jobs and completed stage attempts submitted from `since` (epoch seconds) on, from the local UI's REST
    API, times in epoch seconds."""
    base = f"{spark.sparkContext.uiWebUrl}/api/v1/applications/{spark.sparkContext.applicationId}"

    def get(path: str) -> list[dict]:
        with urllib.request.urlopen(f"{base}/{path}", timeout=60) as response:
            return json.load(response)

    jobs = [
        {"submitted": spark_time(j.get("submissionTime")), "completed": spark_time(j.get("completionTime"))}
        for j in get("jobs")
    ]
    stages = [
        {**s, "submitted": spark_time(s.get("submissionTime"))} for s in get("stages") if s["status"] == "COMPLETE"
    ]
    return (
        [j for j in jobs if j["submitted"] is not None and j["submitted"] >= since],
        [s for s in stages if s["submitted"] is not None and s["submitted"] >= since],
    )


# --- the benchmark -----------------------------------------------------------------------------------


def bench(argv: list[str] | None = None) -> dict:
    parser = bench_parser("bench-pipeline")
    parser.add_argument(
        "--responses",
        type=int,
        default=int(os.environ.get("BENCH_RESPONSES", "1000")),
        help="responses in the real-page crawl (pages generated, without the shared data)",
    )
    parser.add_argument(
        "--reference-chars",
        type=float,
        default=1e6,
        help="characters of text taken from the start of each shared reference corpus",
    )
    parser.add_argument(
        "--extractor", choices=sorted(EXTRACTORS), help="instead of configs/realcrawl.toml's (for both runs)"
    )
    args = parser.parse_args(argv)
    cores, workdir = args.cores, scratch_dir("pipeline")
    for threads in ("OMP_NUM_THREADS", "RAYON_NUM_THREADS"):  # the classifier's BLAS, the BPE trainer: `cores` each
        os.environ.setdefault(threads, str(cores))
    if real_data_present():
        shards, corpora, benchmarks, reference = real_inputs(
            workdir, args.responses, 2 * cores, args.seed, int(args.reference_chars)
        )
    else:
        shards, corpora, benchmarks, reference = generated_inputs(workdir, args.responses, 2 * cores, args.seed)
    config = bench_config(workdir, shards, corpora, benchmarks, args.extractor)
    extractor = read_toml(str(config))["extract"].get("extractor", ExtractOptions.extractor)
    print(f"bench-pipeline: config {config}, {len(shards)} WARC files, reference {reference}", file=sys.stderr)

    started = time.perf_counter()
    spark = local_spark("pipeline", cores, {"spark.ui.retainedJobs": "100000", "spark.ui.retainedStages": "100000"})
    jvm_start = time.perf_counter() - started
    started = time.perf_counter()
    extract_to_parquet(spark, shards[:1], str(workdir / "warmup"), ExtractOptions(extractor=extractor))
    warmup = time.perf_counter() - started

    started = time.perf_counter()
    alone = extract_to_parquet(spark, shards, str(workdir / "extract"), ExtractOptions(extractor=extractor))
    extract_seconds = time.perf_counter() - started

    started, pipeline_started = time.perf_counter(), time.time()
    status = pipeline_main(["--config", str(config)])
    pipeline_seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"bench-pipeline: the pipeline failed (exit status {status}); its run is in {workdir}/run")
    windows = stage_windows(workdir / "run")
    try:
        profile = spark_profile(windows, *rest_jobs_and_stages(spark, pipeline_started))
    except (OSError, ValueError) as err:
        print(f"bench-pipeline: no Spark profile (the UI's REST API: {err})", file=sys.stderr)
        profile = None
    spark.stop()

    with open(workdir / "run" / "extract" / "summary.json", encoding="utf-8") as stream:
        in_pipeline = json.load(stream)
    stage_seconds = {name: round(end - start, 1) for name, (start, end) in windows.items()}
    docs = alone["documents"]
    result = {
        "bench": "pipeline",
        "corpus": corpus_label(),
        "extractor": extractor,
        "responses": args.responses,
        "records": alone["records"],
        "docs": docs,
        "same_docs": in_pipeline["documents"] == docs,
        "reference_docs": reference,
        "cores": cores,
        "jvm_start_s": round(jvm_start, 1),
        "warmup_extract_1_file_s": round(warmup, 1),
        "extract_s": round(extract_seconds, 1),
        "pipeline_s": round(pipeline_seconds, 1),
        "stage_s": stage_seconds,
        "pipeline_other_s": round(pipeline_seconds - sum(stage_seconds.values()), 1),
        "pipeline_docs_per_s_per_core": per_core(docs, pipeline_seconds, cores),
        "extract_docs_per_s_per_core": per_core(docs, extract_seconds, cores),
    }
    if profile is not None:
        result["profile"] = profile
    return with_ratio(result, "pipeline_docs_per_s_per_core", "extract_docs_per_s_per_core", "pipeline_vs_extract")
