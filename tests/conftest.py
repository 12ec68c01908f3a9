"""Shared fixtures: one local-mode SparkSession for the whole run, the shared real data, a small sample."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from curation.sample import generate_sample
from curation.settings import shared_data_dir


@pytest.fixture(scope="session")
def spark():
    from curation.spark import get_spark

    session = get_spark(
        "curation-tests",
        master="local[2]",
        conf={
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "4",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.memory": "2g",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set CURATION_SHARED_DATA to ../shared/data)")
    return path


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """A small generated mini-crawl with reference corpora and a benchmark file."""
    out = tmp_path_factory.mktemp("sample")
    generate_sample(out, pages=120, seed=7, shards=3, reference_docs=40)
    return out


@pytest.fixture()
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    os.environ.setdefault("CURATION_SPARK_LOG_LEVEL", "ERROR")
    return tmp_path
