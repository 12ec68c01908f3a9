"""The pipeline on a real Spark standalone cluster on this machine (`make test-cluster`).

A master and two one-core workers are started with pyspark's own `spark-class`; the pipeline is
submitted with `spark-submit --master spark://...` and must produce what a local-mode run produces.
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
def cluster(tmp_path_factory):
    """(master URL, master web UI port) of a master and two workers (1 core, 1 GiB each); stopped,
    with their executors, at the end."""
    import pyspark

    root = tmp_path_factory.mktemp("cluster")
    spark_class = str(Path(pyspark.__file__).parent / "bin" / "spark-class")
    port, ui_port = free_port(), free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_DAEMON_MEMORY": "512m"}
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


def test_pipeline_on_a_standalone_cluster_equals_local_mode(spark, cluster, sample_dir, tmp_path):
    url, ui_port = cluster
    crawl = [str(sample_dir / "crawl")]
    local = write_config(tmp_path / "local.toml", tmp_path / "local", crawl, sample_dir)
    assert run_pipeline(local) == 0  # the tests' local[2] session

    on_cluster = write_config(tmp_path / "cluster.toml", tmp_path / "cluster", crawl, sample_dir)
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "CURATION_SPARK_LOG_LEVEL": "ERROR",
    }
    result = subprocess.run(
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
            "--conf",
            f"spark.pyspark.python={sys.executable}",
            "--conf",
            "spark.sql.shuffle.partitions=4",
            "--conf",
            "spark.default.parallelism=4",
            "--conf",
            "spark.ui.enabled=false",
            str(PROJECT_ROOT / "jobs" / "pipeline.py"),
            "--config",
            str(on_cluster),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "pipeline: conservation: all" in result.stdout

    state = master_state(ui_port)
    assert [app["name"] for app in state["completedapps"] + state["activeapps"]] == ["curation-pipeline"]
    assert run_outputs(spark, tmp_path / "cluster") == run_outputs(spark, tmp_path / "local")
