"""The pipeline on a real Spark standalone cluster on this machine (`make test-cluster`).

A master and two one-core workers are started with pyspark's own `spark-class`, each with a working
directory of its own and a bare Python (a venv with none of the project's packages) as the executors'
default: executors have only what a job ships. The pipeline is submitted with `spark-submit --master
spark://...` and the archives `make package` builds (build/env.tar.gz, build/curation.zip), and must
produce what a local-mode run produces; submitted without them, it stops at once with one clear line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_pipeline import run_outputs, run_pipeline, write_config

from curation.package import CODE_ARCHIVE, ENV_ARCHIVE, build
from curation.settings import PROJECT_ROOT
from curation.standalone import standalone_cluster, submit

pytestmark = pytest.mark.cluster
SETTINGS = {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "4"}


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
    """A master and two one-core workers whose executors run the bare Python unless a job ships another."""
    with standalone_cluster(tmp_path_factory.mktemp("cluster"), 2, executor_python=bare_python) as started:
        yield started


def submit_pipeline(cluster, config: Path, cwd: Path, *shipping: str) -> subprocess.CompletedProcess:
    pipeline = PROJECT_ROOT / "jobs" / "pipeline.py"
    return submit(cluster, 2, pipeline, ["--config", str(config)], cwd, list(shipping), SETTINGS)


def test_pipeline_shipped_to_bare_workers_equals_local_mode(spark, cluster, package, sample_dir, tmp_path):
    crawl = [str(sample_dir / "crawl")]
    local = write_config(tmp_path / "local.toml", tmp_path / "local", crawl, sample_dir)
    assert run_pipeline(local) == 0  # the tests' local[2] session

    on_cluster = write_config(tmp_path / "cluster.toml", tmp_path / "cluster", crawl, sample_dir)
    shipped = submit_pipeline(
        cluster,
        on_cluster,
        tmp_path,
        f"--archives={package / ENV_ARCHIVE}#env",
        f"--py-files={package / CODE_ARCHIVE}",
        "--conf=spark.pyspark.python=./env/bin/python",
    )
    assert shipped.returncode == 0, shipped.stderr[-4000:]
    assert "pipeline: conservation: all" in shipped.stdout

    assert "curation-pipeline" in cluster.application_names()
    assert run_outputs(spark, tmp_path / "cluster") == run_outputs(spark, tmp_path / "local")


def test_pipeline_without_the_archives_stops_with_one_line(cluster, bare_python, sample_dir, tmp_path):
    config = write_config(tmp_path / "run.toml", tmp_path / "run", [str(sample_dir / "crawl")], sample_dir)
    unshipped = submit_pipeline(cluster, config, tmp_path, f"--conf=spark.pyspark.python={bare_python}")
    assert unshipped.returncode == 2, unshipped.stderr[-4000:]
    # spark-submit passes the Python driver's stderr on to its stdout
    errors = [line for line in unshipped.stdout.splitlines() if line.startswith("pipeline: error:")]
    assert len(errors) == 1, unshipped.stdout[-4000:]
    assert "executors cannot import curation.pipeline" in errors[0] and "make package" in errors[0]
    assert not (tmp_path / "run").exists()  # stopped before the first stage
