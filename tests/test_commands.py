"""The commands a new user types, as the README and the Makefile give them: they work as written."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from curation.sample import main as sample_main
from curation.settings import PROJECT_ROOT
from curation.sources import BOTO3_HINT
from curation.warc_records import ExtractOptions

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
VENV = PROJECT_ROOT / ".venv"


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_every_spark_submit_block_activates_the_venv():
    """`spark-submit` is only on PATH, and only finds Spark, in the activated .venv: each documented block
    that runs a job says so where it appears (the cluster section uses the packed `env` and says so above)."""
    blocks = [b for b in shell_blocks(README) if re.search(r"^spark-submit jobs/", b, flags=re.M)]
    assert len(blocks) >= 5
    assert all(block.startswith(". .venv/bin/activate") for block in blocks), blocks
    inline = re.findall(r"`spark-submit jobs/[^`]*`\n([^\n]*)", README)
    assert inline and all(". .venv/bin/activate" in line for line in inline)


def test_readme_states_the_defaults_and_install_hints_the_code_uses():
    assert f"EXTRACTOR={ExtractOptions.extractor}`" in README
    assert f"EXTRACTOR ?= {ExtractOptions.extractor}" in (PROJECT_ROOT / "Makefile").read_text()
    assert "pip install -e '.[s3]'" in BOTO3_HINT and "pip install -e '.[s3]'" in README
    assert "curation[s3]" not in README


@pytest.mark.skipif(not (VENV / "bin" / "spark-submit").exists(), reason="no .venv (make venv)")
def test_spark_submit_runs_a_job_in_the_activated_venv(tmp_path):
    command = f". {VENV}/bin/activate && spark-submit jobs/extract.py --input {tmp_path}/none.warc.gz --output x"
    result = subprocess.run(["bash", "-c", command], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    # the job itself answered (Spark found, Python started): the missing input is its one-line config error
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"extract: error: input does not exist: {tmp_path}/none.warc.gz" in result.stdout  # spark-submit: 2>&1


def test_sample_is_skipped_when_already_generated_with_the_same_parameters(tmp_path, capsys):
    out = tmp_path / "sample"
    arguments = ["--output", str(out), "--pages", "40", "--seed", "3", "--shards", "2", "--reference-docs", "5"]
    sample_main(arguments)
    assert "wrote 40 pages" in capsys.readouterr().out
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    sample_main(arguments)
    assert capsys.readouterr().out.splitlines() == [
        f"sample: {out} already holds the sample for seed=3, pages=40, shards=2, reference_docs=5 "
        "(sample.json); skipped"
    ]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps

    sample_main([*arguments[:-1], "6"])  # another size: generated again
    assert "wrote 40 pages" in capsys.readouterr().out
    assert json.loads((out / "sample.json").read_text())["reference_docs"] == 6
    (out / "truth.jsonl").unlink()  # a file missing: generated again
    sample_main([*arguments[:-1], "6"])
    assert "wrote 40 pages" in capsys.readouterr().out and (out / "truth.jsonl").is_file()


def test_sample_from_an_older_generator_is_generated_again(tmp_path, capsys):
    import os

    from curation import sample

    out = tmp_path / "sample"
    arguments = ["--output", str(out), "--pages", "40", "--seed", "3", "--shards", "2", "--reference-docs", "5"]
    sample_main(arguments)
    older = os.stat(sample.__file__).st_mtime - 60
    os.utime(out / "sample.json", (older, older))  # written before the generator last changed
    capsys.readouterr()
    sample_main(arguments)
    assert "wrote 40 pages" in capsys.readouterr().out
