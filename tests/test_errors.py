"""What a person sees when something is wrong: one line before Spark starts, final paths, a quiet Spark.

Inputs without the columns a stage reads and outputs that cannot be written are refused before Spark
starts, with one line naming the file (and the columns it has); messages name the published paths,
never the `.partial` directories they are renamed from; Spark logs warnings and errors only unless
asked for more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_pipeline import write_config

from curation.classifier import PIPELINE_CLASS, ClassifierJob
from curation.classify import ClassifyJob
from curation.decontaminate import DecontaminateJob
from curation.dedup import DedupJob
from curation.errors import EXIT_BAD_INPUT, ConfigError
from curation.job import SparkJob, partial_path, published_path
from curation.mixture import MixtureJob
from curation.options import option
from curation.pipeline import PipelineJob
from curation.spark import log_level


@pytest.fixture()
def no_text(tmp_path) -> Path:
    """Another tool's Parquet output: documents whose text column is called `content`."""
    folder = tmp_path / "no_text"
    folder.mkdir()
    table = pa.table({"doc_id": ["a", "b"], "content": ["one document", "another document"]})
    pq.write_table(table, folder / "part-00000.parquet")
    return folder


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_every_stage_refuses_an_input_without_a_text_column(sample_dir, no_text, tmp_path, capsys):
    part = no_text / "part-00000.parquet"
    expected = f"error: input {part} has no column 'text' (its columns: doc_id, content)"
    model = tmp_path / "model"  # enough of a saved model for the filter to look at its input
    (model / "metadata").mkdir(parents=True)
    (model / "metadata" / "part-00000").write_text(json.dumps({"class": PIPELINE_CLASS}) + "\n")
    webtext = sample_dir / "reference" / "webtext.jsonl.gz"
    out = tmp_path / "out"
    runs = {
        "classifier": (
            ClassifierJob(),
            ["--positive", f"webtext={webtext}", "--negative", f"crawl={no_text}", "--model", str(out)],
        ),
        "classify": (ClassifyJob(), ["--model", str(model), "--input", str(no_text), "--output", str(out)]),
        "dedup": (
            DedupJob(),
            ["--dataset", f"crawl={no_text}", "--dataset", f"webtext={webtext}", "--output", str(out)],
        ),
        "decontaminate": (
            DecontaminateJob(),
            ["--input", f"crawl={no_text}", "--benchmarks", str(sample_dir / "benchmarks"), "--output", str(out)],
        ),
        "mixture": (MixtureJob(), ["--dataset", f"cc={no_text}:1", "--token-budget", "1e5", "--output", str(out)]),
    }
    for name, (job, argv) in runs.items():
        assert job.main(argv) == 2, name
        assert one_error_line(capsys) == f"{name}: {expected}"
        assert not out.exists() and not Path(partial_path(str(out))).exists()


@pytest.fixture()
def immutable(tmp_path):
    """A directory no one can write in, root included (root ignores chmod, not chattr +i)."""
    folder = tmp_path / "immutable"
    folder.mkdir()
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_an_output_that_cannot_be_written_is_one_line_before_spark(sample_dir, immutable, capsys):
    webtext = sample_dir / "reference" / "webtext.jsonl.gz"
    output = immutable / "dedup"
    assert DedupJob().main(["--dataset", f"webtext={webtext}", "--output", str(output)]) == 2
    assert one_error_line(capsys) == f"dedup: error: cannot write output {output}: {immutable}: Operation not permitted"
    nested = immutable / "runs" / "model"  # missing parents are created, in the nearest existing directory
    assert (
        ClassifierJob().main(
            ["--positive", f"webtext={webtext}", "--negative", f"crawl={webtext}", "--model", str(nested)]
        )
        == 2
    )
    assert one_error_line(capsys).startswith(f"classifier: error: cannot write output {nested}: {immutable}: ")


def test_pipeline_checks_its_inputs_and_run_directory_before_spark(sample_dir, no_text, immutable, tmp_path, capsys):
    good = write_config(tmp_path / "good.toml", tmp_path / "run", [str(sample_dir / "crawl")], sample_dir)
    webtext = f'webtext = "{sample_dir}/reference/webtext.jsonl.gz"'
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace(webtext, f'webtext = "{no_text}"'))
    assert PipelineJob().main(["--config", str(bad)]) == 2
    assert one_error_line(capsys) == (
        f"pipeline: error: {bad}: [reference] webtext: input {no_text}/part-00000.parquet"
        " has no column 'text' (its columns: doc_id, content)"
    )
    locked = write_config(tmp_path / "locked.toml", immutable / "run", [str(sample_dir / "crawl")], sample_dir)
    assert PipelineJob().main(["--config", str(locked)]) == 2
    assert one_error_line(capsys).startswith(f"pipeline: error: cannot write output {immutable / 'run'}")


def test_published_path_undoes_partial_path():
    run = os.path.join("runs", "cc")
    staged = partial_path(os.path.join(run, "extract"))
    assert staged == os.path.join(run, ".extract.partial")
    assert published_path(os.path.join(staged, "documents")) == os.path.join(run, "extract", "documents")
    assert published_path(os.path.join(run, "dedup", "crawl")) == os.path.join(run, "dedup", "crawl")


@dataclass(frozen=True)
class FailingOptions:
    output: str = field(default="", metadata=option(required=True))
    write: bool = False


class FailingJob(SparkJob):
    """Fails with bad input after writing nothing (or, with --write, a file into its output)."""

    name = "failing"
    options_class = FailingOptions

    def run(self, spark, options):
        if options.write:
            os.makedirs(options.output)
            Path(options.output, "half.parquet").write_bytes(b"PAR1")
        print(f"failing: wrote {published_path(options.output)}")
        return EXIT_BAD_INPUT


def test_messages_name_paths_that_exist(spark, tmp_path, capsys):
    output = tmp_path / "out"
    assert FailingJob().main(["--output", str(output)]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == f"failing: wrote {output}\n"
    assert ".partial" not in captured.err  # nothing was written: no unfinished output to point at
    assert FailingJob().main(["--output", str(output), "--write"]) == EXIT_BAD_INPUT
    staged = partial_path(str(output))
    assert f"failing: unfinished output left in {staged}\n" in capsys.readouterr().err
    assert os.listdir(staged) == ["half.parquet"]


def test_spark_is_quiet_unless_asked(tmp_path):
    """Spark logs its warnings and errors, not its INFO start-up log (44 lines) nor warnings about the
    machine; CURATION_SPARK_LOG_LEVEL=INFO (what a job's --verbose sets) brings them back."""
    env = {k: v for k, v in os.environ.items() if k != "CURATION_SPARK_LOG_LEVEL"}
    script = "from curation.spark import get_spark; get_spark('quiet', master='local[1]').range(3).count()"

    def logged(**extra: str) -> list[str]:
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=300,
            env={**env, **extra},
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return [
            line
            for line in result.stderr.replace("\r", "\n").splitlines()
            if line.strip() and not line.lstrip().startswith("[Stage")
        ]

    assert logged() == ["WARNING: Using incubator modules: jdk.incubator.vector"]  # the JVM's own, not Spark's
    assert any("INFO SparkContext: Running Spark version" in line for line in logged(CURATION_SPARK_LOG_LEVEL="INFO"))


def test_log_level_is_checked(monkeypatch):
    monkeypatch.setenv("CURATION_SPARK_LOG_LEVEL", "info")
    assert log_level() == "INFO"
    monkeypatch.setenv("CURATION_SPARK_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError, match="CURATION_SPARK_LOG_LEVEL must be one of"):
        log_level()
