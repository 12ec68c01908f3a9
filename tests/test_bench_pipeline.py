"""`make bench-pipeline`'s pure parts: the config it writes, and how it assigns Spark's jobs to pipeline stages."""

import json
import os

from curation.benchmarks.pipeline import TEMPLATE, spark_profile, stage_windows, toml_text, union_seconds
from curation.pipeline import read_toml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def test_toml_text_reads_back_as_the_config_it_was_made_from():
    config = read_toml(str(TEMPLATE))
    assert tomllib.loads(toml_text(config)) == config
    assert "[mixture.datasets]" in toml_text(config)


def test_union_seconds_counts_overlapping_intervals_once():
    assert union_seconds([(0, 2), (1, 3), (5, 6), (5.5, 5.8)]) == 4
    assert union_seconds([]) == 0


def test_spark_profile_assigns_jobs_and_stages_by_submission_time():
    windows = {"extract": (10.0, 20.0), "dedup": (20.0, 30.0)}
    jobs = [
        {"submitted": 11.0, "completed": 15.0},
        {"submitted": 14.0, "completed": 16.0},  # overlaps the first: 5 s inside jobs in all
        {"submitted": 21.0, "completed": 22.0},
        {"submitted": 31.0, "completed": 32.0},  # after every stage: the pipeline's own (conservation)
        {"submitted": 25.0, "completed": None},  # never finished: not counted
    ]
    stage = {"executorRunTime": 4000, "executorCpuTime": 1e9, "shuffleWriteBytes": 2**20}
    stages = [{**stage, "submitted": 11.0}, {**stage, "submitted": 21.0}, {**stage, "submitted": None}]
    profile = spark_profile(windows, jobs, stages)
    assert profile["extract"] == {"spark_jobs": 2, "in_jobs_s": 5.0, "task_s": 4.0, "jvm_cpu_s": 1.0, "shuffle_mb": 1.0}
    assert profile["dedup"]["spark_jobs"] == 1 and profile["dedup"]["task_s"] == 4.0
    assert profile["other"] == {"spark_jobs": 1, "in_jobs_s": 1.0, "task_s": 0.0, "jvm_cpu_s": 0.0, "shuffle_mb": 0.0}


def test_stage_windows_come_from_the_success_markers_in_run_order(tmp_path):
    for name, seconds, end in (("dedup", 3.0, 1000.0), ("extract", 5.0, 990.0)):
        (tmp_path / name).mkdir()
        marker = tmp_path / name / "_SUCCESS"
        marker.write_text(json.dumps({"stage": name, "seconds": seconds}))
        os.utime(marker, (end, end))
    (tmp_path / ".mixture.partial").mkdir()  # a stage that did not finish has no window
    assert stage_windows(tmp_path) == {"extract": (985.0, 990.0), "dedup": (997.0, 1000.0)}
