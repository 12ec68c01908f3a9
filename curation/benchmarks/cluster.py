"""`make bench-cluster`: does extraction scale with workers? The same real-page crawl submitted to a standalone
cluster of 1 and then 2 one-core workers on this machine (issue 19: documents/s should scale with workers).

Each run is what a user does on a real cluster: a master and N workers started with pyspark's own `spark-class`
(each worker with a work directory of its own), and `jobs/extract.py` submitted with `spark-submit` and the
archives `make package` builds, the executors running the shipped `./env/bin/python`. The time is the
submission's wall clock, so it includes what a user waits for beyond the extraction itself: the driver's JVM,
the executors' start and the unpacking of the shipped environment in each of them. The documents come from the
job's own summary.json, and `same_docs` says both runs extracted the same number.

On one machine the workers share its cores with the driver and each other, so the speedup is a lower bound of
what separate nodes give.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from curation.benchmarks.harness import scratch_dir
from curation.benchmarks.realpages import CRAWL_SHARDS, bench_crawl, crawl_shards, real_data_present
from curation.package import CODE_ARCHIVE, ENV_ARCHIVE
from curation.settings import PROJECT_ROOT

BUILD = PROJECT_ROOT / "build"
WORKER_COUNTS = (1, 2)
START_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def alive_workers(ui_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as response:
        return json.load(response)["aliveworkers"]


def spark_script(name: str) -> str:
    """pyspark's own bin/NAME (spark-class, spark-submit): the Spark this project runs everywhere."""
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / name)


def clean_env() -> dict:
    """This process's environment without the Python settings of the driver's venv, on 127.0.0.1."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYSPARK_", "PYTHON"))}
    env.update(SPARK_LOCAL_IP="127.0.0.1")
    return env


@contextmanager
def standalone_cluster(root: Path, workers: int):
    """The master URL of a master and `workers` workers (1 core, 1 GiB each, own work directories) started
    under `root`; stopped at the end with their executors and Python workers (each daemon's process group)."""
    env = {**clean_env(), "SPARK_DAEMON_MEMORY": "512m"}
    port, ui_port = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    daemons: dict[str, subprocess.Popen] = {}

    def start(name: str, *args: str) -> None:
        with open(root / f"{name}.log", "w") as log:
            command = [spark_script("spark-class"), *args]
            daemons[name] = subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)

    try:
        master = ("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui_port))
        start("master", "org.apache.spark.deploy.master.Master", *master)
        for number in range(1, workers + 1):
            name = f"worker{number}"
            resources = ("--cores", "1", "--memory", "1g", "--webui-port", "0", "--work-dir", str(root / name))
            start(name, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", *resources, url)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if alive_workers(ui_port) == workers:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or any(daemon.poll() is not None for daemon in daemons.values()):
                logs = "\n".join((root / f"{name}.log").read_text()[-1500:] for name in daemons)
                raise RuntimeError(f"the standalone cluster did not start:\n{logs}")
            time.sleep(0.5)
        yield url
    finally:
        for daemon in daemons.values():
            os.killpg(daemon.pid, signal.SIGTERM)
        for daemon in daemons.values():
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)


def submit_extract(url: str, workers: int, shards: list[str], output: Path) -> float:
    """Seconds `jobs/extract.py` takes, submitted with the shipped archives to the cluster at `url`."""
    env = {**clean_env(), "CURATION_SPARK_LOG_LEVEL": "ERROR", "PYSPARK_DRIVER_PYTHON": sys.executable}
    command = [
        spark_script("spark-submit"),
        "--master",
        url,
        "--total-executor-cores",
        str(workers),
        "--executor-memory",
        "1g",
        "--driver-memory",
        "1g",
        f"--archives={BUILD / ENV_ARCHIVE}#env",
        f"--py-files={BUILD / CODE_ARCHIVE}",
        "--conf=spark.pyspark.python=./env/bin/python",
        f"--conf=spark.pyspark.driver.python={sys.executable}",
        f"--conf=spark.default.parallelism={workers}",
        "--conf=spark.ui.enabled=false",
        str(PROJECT_ROOT / "jobs" / "extract.py"),
        "--extractor",
        "resiliparse",
        "--output",
        str(output),
        "--input",
        *shards,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=output.parent, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"extract on {workers} worker(s) exited {done.returncode}:\n{done.stdout[-3000:]}")
    return seconds


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
    seconds, documents = {}, {}
    try:
        for workers in WORKER_COUNTS:
            root = workdir / f"workers-{workers}"
            root.mkdir()
            with standalone_cluster(root, workers) as url:
                seconds[workers] = submit_extract(url, workers, shards, root / "extract")
            documents[workers] = json.loads((root / "extract" / "summary.json").read_text())["documents"]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {"bench": "cluster", "corpus": "real", "files": len(shards), "docs": documents[1]}
    result.update({f"workers_{workers}_s": round(seconds[workers], 1) for workers in WORKER_COUNTS})
    for workers in WORKER_COUNTS:
        result[f"workers_{workers}_docs_per_s"] = round(documents[workers] / seconds[workers], 1)
    result["speedup"] = round(seconds[1] / seconds[2], 3)
    result["same_docs"] = documents[1] == documents[2]
    return result
