"""The pipeline on a real Spark standalone cluster on this machine (`make test-cluster`).

A master and two one-core workers are started with pyspark's own `spark-class`, each with a working
directory of its own and a bare Python (a venv with none of the project's packages) as the executors'
default: executors have only what a job ships. The pipeline is submitted with `spark-submit --master
spark://...` and the archives `make package` builds (build/env.tar.gz, build/curation.zip), and must
produce what a local-mode run produces; submitted without them, it stops at once with one clear line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_pipeline import run_outputs, run_pipeline, spark_submit, write_config

from curation.package import CODE_ARCHIVE, ENV_ARCHIVE, build
from curation.settings import PROJECT_ROOT

pytestmark = pytest.mark.cluster


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def master_state(ui_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def package() -> Path:
    """build/ with the shipped environment and code (`make package`; only the code is rebuilt when the
    lock is unchanged)."""
    out = PROJECT_ROOT / "build"
    build(str(out))
    return out


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> str:
    """A Python with none of the project's packages (no numpy, no pyarrow, no curation): what a
    cluster node has before a job ships anything."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    assert subprocess.run([python, "-c", "import numpy"], capture_output=True).returncode != 0
    return python


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, bare_python):
    """(master URL, master web UI port) of a master and two workers (1 core, 1 GiB each, the bare
    Python as their executors' default); stopped, with their executors, at the end."""
    import pyspark

    root = tmp_path_factory.mktemp("cluster")
    spark_class = str(Path(pyspark.__file__).parent / "bin" / "spark-class")
    port, ui_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYSPARK_", "PYTHON"))}
    env.update(SPARK_LOCAL_IP="127.0.0.1", SPARK_DAEMON_MEMORY="512m", PYSPARK_PYTHON=bare_python)
    daemons = []

    def start(name: str, *args: str) -> None:
        with open(root / f"{name}.log", "w") as log:
            daemons.append(
                subprocess.Popen(
                    [spark_class, *args], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            )

    try:
        start(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui_port),
        )
        url = f"spark://127.0.0.1:{port}"
        for worker in ("worker1", "worker2"):
            start(
                worker,
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--cores",
                "1",
                "--memory",
                "1g",
                "--webui-port",
                "0",
                "--work-dir",
                str(root / worker),
                url,
            )
        deadline = time.monotonic() + 180
        while True:
            try:
                if master_state(ui_port)["aliveworkers"] == 2:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or any(d.poll() is not None for d in daemons):
                logs = "\n".join((root / f"{n}.log").read_text()[-1500:] for n in ("master", "worker1", "worker2"))
                pytest.fail(f"the standalone cluster did not start:\n{logs}")
            time.sleep(0.5)
        yield url, ui_port
    finally:
        for daemon in daemons:  # each daemon's process group: the JVM, its executors and their Python workers
            os.killpg(daemon.pid, signal.SIGTERM)
        for daemon in daemons:
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)


def submit(url: str, config: Path, cwd: Path, *shipping: str) -> subprocess.CompletedProcess:
    """spark-submit the pipeline to the cluster at `url`, the driver in this Python (client mode)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYSPARK_", "PYTHON"))}
    env.update(SPARK_LOCAL_IP="127.0.0.1", CURATION_SPARK_LOG_LEVEL="ERROR", PYSPARK_DRIVER_PYTHON=sys.executable)
    options = {
        "spark.pyspark.driver.python": sys.executable,
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        "spark.ui.enabled": "false",
    }
    return subprocess.run(
        [
            spark_submit(),
            "--master",
            url,
            "--total-executor-cores",
            "2",
            "--executor-memory",
            "1g",
            "--driver-memory",
            "1g",
            *(f"--conf={key}={value}" for key, value in options.items()),
            *shipping,
            str(PROJECT_ROOT / "jobs" / "pipeline.py"),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=cwd,
    )


def test_pipeline_shipped_to_bare_workers_equals_local_mode(spark, cluster, package, sample_dir, tmp_path):
    url, ui_port = cluster
    crawl = [str(sample_dir / "crawl")]
    local = write_config(tmp_path / "local.toml", tmp_path / "local", crawl, sample_dir)
    assert run_pipeline(local) == 0  # the tests' local[2] session

    on_cluster = write_config(tmp_path / "cluster.toml", tmp_path / "cluster", crawl, sample_dir)
    shipped = submit(
        url,
        on_cluster,
        tmp_path,
        f"--archives={package / ENV_ARCHIVE}#env",
        f"--py-files={package / CODE_ARCHIVE}",
        "--conf=spark.pyspark.python=./env/bin/python",
    )
    assert shipped.returncode == 0, shipped.stderr[-4000:]
    assert "pipeline: conservation: all" in shipped.stdout

    state = master_state(ui_port)
    assert "curation-pipeline" in [app["name"] for app in state["completedapps"] + state["activeapps"]]
    assert run_outputs(spark, tmp_path / "cluster") == run_outputs(spark, tmp_path / "local")


def test_pipeline_without_the_archives_stops_with_one_line(cluster, bare_python, sample_dir, tmp_path):
    url, _ = cluster
    config = write_config(tmp_path / "run.toml", tmp_path / "run", [str(sample_dir / "crawl")], sample_dir)
    unshipped = submit(url, config, tmp_path, f"--conf=spark.pyspark.python={bare_python}")
    assert unshipped.returncode == 2, unshipped.stderr[-4000:]
    # spark-submit passes the Python driver's stderr on to its stdout
    errors = [line for line in unshipped.stdout.splitlines() if line.startswith("pipeline: error:")]
    assert len(errors) == 1, unshipped.stdout[-4000:]
    assert "executors cannot import curation.pipeline" in errors[0] and "make package" in errors[0]
    assert not (tmp_path / "run").exists()  # stopped before the first stage
