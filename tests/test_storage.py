"""Outputs on a Hadoop filesystem URI (`file://`, as `hdfs://` or `s3a://` would be): curation.storage's
operations, the atomic publish, the pipeline's markers and an extraction resumed there."""

from __future__ import annotations

import json
import os

import pytest

from curation import storage
from curation.extract import ExtractJob
from curation.job import partial_path, publish
from curation.pipeline import SUCCESS, is_complete, output_files, read_marker, write_marker


@pytest.mark.parametrize(
    ("path", "uri"), [("/data/run", False), ("run/x", False), ("file:///data/run", True), ("hdfs://nn:8020/r", True)]
)
def test_is_uri_sends_every_scheme_to_hadoop_and_only_paths_to_os(path, uri):
    assert storage.is_uri(path) is uri


def test_partial_path_keeps_the_uri_scheme_and_authority():
    assert partial_path("hdfs://nn:8020/runs/x/extract/") == "hdfs://nn:8020/runs/x/.extract.partial"
    assert partial_path("file:///runs/extract") == "file:///runs/.extract.partial"
    assert partial_path("runs//extract/") == "runs/.extract.partial"


@pytest.mark.parametrize("scheme", ["", "file://"])
def test_files_publish_and_markers_through_one_interface(spark, tmp_path, scheme):
    root = f"{scheme}{tmp_path}"
    output, staged = f"{root}/stage", partial_path(f"{root}/stage")
    for directory, text in ((output, "old"), (staged, "new")):
        storage.make_dirs(f"{directory}/part")
        storage.write_text(f"{directory}/part/data.txt", text)
    assert storage.read_text(f"{staged}/part/data.txt") == "new"
    assert storage.file_sizes(staged) == {"part/data.txt": 3}
    assert storage.file_size(f"{staged}/part/data.txt") == 3 and storage.file_size(f"{staged}/none") is None
    with pytest.raises(FileNotFoundError):
        storage.read_text(f"{staged}/none")

    write_marker(staged, SUCCESS, {"fingerprint": "abc", "files": output_files(staged)})
    assert read_marker(staged) == {"fingerprint": "abc", "files": {"part/data.txt": 3}}
    assert is_complete(staged, "abc") and not is_complete(staged, "other")
    publish(staged, output)
    assert not storage.exists(staged) and not storage.exists(f"{partial_path(output)}.old")
    assert storage.read_text(f"{output}/part/data.txt") == "new" and is_complete(output, "abc")
    storage.write_text(f"{output}/part/data.txt", "changed")  # a file that is not what the marker recorded
    assert not is_complete(output, "abc")
    storage.remove_tree(output)
    assert not storage.exists(output) and read_marker(output) is None
    assert sorted(os.listdir(tmp_path)) == []


def test_extraction_to_a_uri_is_published_and_resumed_there(spark, sample_dir, tmp_path):
    output = f"file://{tmp_path}/extract"
    argv = ["--input", str(sample_dir / "crawl"), "--output", output, "--commit-every=1", "--extractor=resiliparse"]
    assert ExtractJob().main(argv) == 0
    summary = json.loads(storage.read_text(f"{output}/summary.json"))
    documents = sorted(spark.read.parquet(f"{output}/documents").select("doc_id").toPandas()["doc_id"])
    assert not storage.exists(partial_path(output))

    staged = partial_path(output)  # a run interrupted after its first chunks: the last one uncommitted
    storage.rename(output, staged)
    ledger = sorted(name for name in storage.file_sizes(f"{staged}/ledger") if name.startswith("chunk-"))
    storage.remove_tree(f"{staged}/ledger/{ledger[-1]}")
    storage.remove_tree(f"{staged}/summary.json")
    assert ExtractJob().main([*argv, "--resume"]) == 0
    assert json.loads(storage.read_text(f"{output}/summary.json")) == summary
    assert sorted(spark.read.parquet(f"{output}/documents").select("doc_id").toPandas()["doc_id"]) == documents
    assert not storage.exists(staged)

    # a URI that holds files is replaced only with --overwrite, as a local directory is
    assert ExtractJob().main(argv) == 2
    assert json.loads(storage.read_text(f"{output}/summary.json")) == summary
    assert ExtractJob().main([*argv, "--overwrite"]) == 0
