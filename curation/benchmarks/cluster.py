"""`make bench-cluster`: does extraction scale with workers? The same real-page crawl submitted to a standalone
cluster of 1 and then 2 one-core workers on this machine (issue 19: documents/s should scale with workers).

Each run is what a user does on a real cluster: a master and N workers started with pyspark's own `spark-class`
(each worker with a work directory of its own), and `jobs/extract.py` submitted with `spark-submit` and the
archives `make package` builds, the executors running the shipped `./env/bin/python`. The time is the
submission's wall clock (`workers_N_s`), which includes what a user waits for beyond the extraction itself: the
driver's JVM, the executors' start and the unpacking of the shipped environment in each of them; and the seconds
its Spark jobs ran, from Spark's event log (`workers_N_job_s`, `job_speedup`): the work that scales with workers.
The documents come from the job's own summary.json, and `same_docs` says both runs extracted the same number.

On one machine the workers share its cores with the driver and each other, so the speedup is a lower bound of
what separate nodes give.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from curation.benchmarks.harness import scratch_dir
from curation.benchmarks.realpages import CRAWL_SHARDS, bench_crawl, crawl_shards, real_data_present
from curation.package import CODE_ARCHIVE, ENV_ARCHIVE
from curation.settings import PROJECT_ROOT
from curation.standalone import job_seconds, standalone_cluster, submit

BUILD = PROJECT_ROOT / "build"
WORKER_COUNTS = (1, 2)


def submit_extract(cluster, workers: int, shards: list[str], root: Path) -> tuple[float, float]:
    """(seconds the submission took, seconds its Spark jobs ran) of `jobs/extract.py`, submitted with the shipped
    archives to `cluster`, writing root/extract."""
    events = root / "events"
    events.mkdir()
    shipping = [
        f"--archives={BUILD / ENV_ARCHIVE}#env",
        f"--py-files={BUILD / CODE_ARCHIVE}",
        "--conf=spark.pyspark.python=./env/bin/python",
    ]
    arguments = ["--extractor", "resiliparse", "--output", str(root / "extract"), "--input", *shards]
    conf = {"spark.default.parallelism": str(workers)}
    started = time.perf_counter()
    done = submit(cluster, workers, PROJECT_ROOT / "jobs" / "extract.py", arguments, root, shipping, conf, events, 600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"extract on {workers} worker(s) exited {done.returncode}:\n{done.stdout[-3000:]}")
    return seconds, job_seconds(events)


def bench(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="bench-cluster")
    parser.add_argument("--responses", type=int, default=1000, help="responses in the real-page crawl")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    missing = [name for name in (ENV_ARCHIVE, CODE_ARCHIVE) if not (BUILD / name).exists()]
    if missing:
        parser.exit(2, f"bench-cluster: error: {', '.join(missing)} missing under {BUILD}: run `make package`\n")
    if not real_data_present():
        parser.exit(2, "bench-cluster: error: the real-page crawl needs ../shared/data (CURATION_SHARED_DATA)\n")
    shards = crawl_shards(bench_crawl(args.responses, CRAWL_SHARDS, args.seed))
    workdir = scratch_dir("cluster")
    seconds, in_jobs, documents = {}, {}, {}
    try:
        for workers in WORKER_COUNTS:
            root = workdir / f"workers-{workers}"
            root.mkdir()
            with standalone_cluster(root, workers) as cluster:
                seconds[workers], in_jobs[workers] = submit_extract(cluster, workers, shards, root)
            documents[workers] = json.loads((root / "extract" / "summary.json").read_text())["documents"]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {"bench": "cluster", "corpus": "real", "files": len(shards), "docs": documents[1]}
    result.update({f"workers_{workers}_s": round(seconds[workers], 1) for workers in WORKER_COUNTS})
    for workers in WORKER_COUNTS:
        result[f"workers_{workers}_docs_per_s"] = round(documents[workers] / seconds[workers], 1)
    result.update({f"workers_{workers}_job_s": round(in_jobs[workers], 1) for workers in WORKER_COUNTS})
    for workers in WORKER_COUNTS:
        result[f"workers_{workers}_job_docs_per_s"] = round(documents[workers] / in_jobs[workers], 1)
    result["speedup"] = round(seconds[1] / seconds[2], 3)
    result["job_speedup"] = round(in_jobs[1] / in_jobs[2], 3)
    result["same_docs"] = documents[1] == documents[2]
    return result
