"""Extraction: the pure per-record core, damaged input, sources, and the Spark job on real and sample WARCs."""

from __future__ import annotations

import gzip
import http.server
import io
import json
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from curation.errors import ConfigError
from curation.extract import ExtractJob
from curation.html_text import decode_html, extract_text
from curation.settings import PROJECT_ROOT
from curation.sources import RetryPolicy, download_http, expand_inputs
from curation.spark import check_java
from curation.warc_records import OUTCOMES, ExtractOptions, doc_id_for, process_archive

ARTICLE = (
    "<html><head><title>T</title></head><body><nav><a href='/'>Home</a> | <a href='/a'>About</a></nav>"
    "<article><h1>The harbor survey</h1>"
    + "".join(
        f"<p>The council documented the harbor in paragraph {i}, and the merchants restored the old "
        f"warehouses along the river before the winter storms arrived.</p>"
        for i in range(6)
    )
    + "</article><footer>Copyright 2024 Example Ltd. All rights reserved.</footer></body></html>"
)


def warcio_record_count(path: Path) -> int:
    with open(path, "rb") as stream:
        return sum(1 for _ in ArchiveIterator(stream, arc2warc=True))


# --- pure core ----------------------------------------------------------------------------


@pytest.mark.parametrize("extractor", ["resiliparse", "trafilatura"])
def test_extractors_keep_main_text_and_drop_navigation(extractor):
    text = extract_text(ARTICLE, extractor)
    assert "merchants restored the old warehouses" in text
    assert "About" not in text.split()


def test_decode_prefers_http_charset_then_meta_then_utf8():
    latin = "<html><body><p>Café crème à la française</p></body></html>".encode("cp1252")
    assert decode_html(latin, "windows-1252") == (latin.decode("cp1252"), "cp1252")
    meta = '<html><head><meta charset="shift_jis"></head><body>日本語のページ</body></html>'.encode("shift_jis")
    text, charset = decode_html(meta, None)
    assert "日本語のページ" in text and charset in ("shift_jis", "cp932")
    # a wrong HTTP charset label and invalid UTF-8 still decode without raising
    text, _ = decode_html(latin, "no-such-charset")
    assert "Caf" in text


def test_doc_id_is_stable_and_falls_back_to_position():
    assert doc_id_for("<urn:uuid:1>", "a.warc.gz", 0) == doc_id_for("<urn:uuid:1>", "b.warc.gz", 99)
    assert doc_id_for(None, "a.warc.gz", 0) != doc_id_for(None, "a.warc.gz", 1)
    assert len(doc_id_for("<urn:uuid:1>", "", 0)) == 20


def _single_response_warc(path: Path, body: bytes, content_type: str = "text/html; charset=utf-8") -> Path:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                "http://bomb.example/", "response", payload=io.BytesIO(body), http_headers=headers
            )
        )
    return path


def test_html_bombs_are_counted_not_fatal(tmp_path):
    deep = ("<html><body>" + "<div>" * 50_000 + "x" + "</div>" * 50_000 + "</body></html>").encode()
    _, ledger = process_archive(str(_single_response_warc(tmp_path / "deep.warc.gz", deep)))
    assert ledger.outcomes == Counter(too_deep=1)
    huge = b"<html><body>" + b"<p>word</p>" * 100_000 + b"</body></html>"
    _, ledger = process_archive(
        str(_single_response_warc(tmp_path / "huge.warc.gz", huge)), ExtractOptions(max_html_bytes=100_000)
    )
    assert ledger.outcomes == Counter(too_large=1)


def test_slow_extractor_hits_the_time_limit(tmp_path, monkeypatch):
    import time

    from curation import html_text

    monkeypatch.setitem(html_text.EXTRACTORS, "trafilatura", lambda parsed: time.sleep(5) or "late")
    path = _single_response_warc(tmp_path / "slow.warc.gz", ARTICLE.encode())
    _, ledger = process_archive(str(path), ExtractOptions(extractor="trafilatura", time_limit_s=0.2))
    assert ledger.outcomes == Counter(timeout=1)


def test_sample_shards_ledger_counts_every_record(sample_dir):
    truth = [json.loads(line) for line in (sample_dir / "truth.jsonl").read_text().splitlines()]
    for shard in sorted((sample_dir / "crawl").glob("sample-0*.warc.gz")):
        docs, ledger = process_archive(str(shard))
        assert set(ledger.outcomes) <= set(OUTCOMES)
        assert ledger.records == sum(ledger.outcomes.values())
        assert ledger.outcomes["extracted"] == len(docs) > 0
        if any(t["category"] == "malformed" and t["shard"] == shard.name for t in truth):
            assert ledger.outcomes["malformed_record"] == 1 and ledger.file_error is None
    docs, ledger = process_archive(str(sample_dir / "crawl" / "sample-truncated.warc.gz"))
    assert ledger.file_error == "truncated_file" and ledger.outcomes["truncated_file"] == 1
    assert len(docs) == 3  # the three complete pages before the cut


def test_damaged_copies_of_a_real_file(shared_data, tmp_path):
    real = (shared_data / "warc" / "cc-main-2020-34-excerpt.warc.gz").read_bytes()
    total = warcio_record_count(shared_data / "warc" / "cc-main-2020-34-excerpt.warc.gz")
    corrupt = bytearray(real)
    corrupt[len(real) // 3 : len(real) // 3 + 200] = b"x" * 200
    (tmp_path / "corrupt.warc.gz").write_bytes(bytes(corrupt))
    (tmp_path / "cut.warc.gz").write_bytes(real[: int(len(real) * 0.6)])
    (tmp_path / "empty.warc.gz").write_bytes(b"")
    _, ledger = process_archive(str(tmp_path / "corrupt.warc.gz"))
    assert ledger.outcomes["malformed_record"] >= 1 and ledger.records <= total
    assert ledger.outcomes["extracted"] >= 10  # the records after the damage were read too
    _, ledger = process_archive(str(tmp_path / "cut.warc.gz"))
    assert ledger.file_error == "truncated_file" and 0 < ledger.records < total
    _, ledger = process_archive(str(tmp_path / "empty.warc.gz"))
    assert ledger.outcomes == Counter(empty_file=1)
    _, ledger = process_archive(str(tmp_path / "missing.warc.gz"))
    assert ledger.outcomes == Counter(unreadable_file=1)


def test_files_that_are_not_archives_are_not_warc_not_truncated(shared_data, tmp_path):
    noise = random.Random(0).randbytes  # seeded: the same bytes every run
    wrong = {
        "random.warc.gz": noise(5000),
        "notes.warc.gz": b"hello\nthis is plain text\n",
        "text.warc.gz": gzip.compress(b"plain text, gzipped\n" * 50),
        "page.warc": ARTICLE.encode(),
        "gzip-garbage.warc.gz": b"\x1f\x8b\x08" + noise(3000),
    }
    for name, data in wrong.items():
        (tmp_path / name).write_bytes(data)
        docs, ledger = process_archive(str(tmp_path / name))
        assert (docs, ledger.outcomes, ledger.file_error) == ([], Counter(not_warc=1), "not_warc"), name
    real = (shared_data / "warc" / "wget-sample-0000.warc.gz").read_bytes()
    for cut in (10, 60, 120, 300):  # inside the first gzip header, the first WARC header, the first record
        (tmp_path / "cut.warc.gz").write_bytes(real[:cut])
        _, ledger = process_archive(str(tmp_path / "cut.warc.gz"))
        assert ledger.outcomes == Counter(truncated_file=1), cut


def test_ledger_counts_the_characters_extracted(sample_dir):
    docs, ledger = process_archive(str(sample_dir / "crawl" / "sample-00000.warc.gz"))
    assert ledger.chars == sum(doc["n_chars"] for doc in docs) == sum(len(doc["text"]) for doc in docs) > 0
    assert ledger.as_row()["chars"] == ledger.chars


def test_real_files_every_record_counted_once(shared_data):
    """The ledger's record count equals an independent warcio count for every real file."""
    for path in sorted((shared_data / "warc").glob("*.warc*.gz")):
        if path.name.endswith(".paths.gz"):
            continue
        docs, ledger = process_archive(str(path))
        assert ledger.records == warcio_record_count(path), path.name
        assert ledger.outcomes["extracted"] == len(docs)
    ja_docs, _ = process_archive(str(shared_data / "warc" / "clueweb09-ja-warc018-quirk.warc.gz"))
    assert len(ja_docs) == 29 and all("\ufffd" not in d["text"][:200] for d in ja_docs)
    assert {d["charset"] for d in ja_docs} - {"utf-8"}  # non-UTF-8 charsets were honoured
    wet_docs, _ = process_archive(str(shared_data / "warc" / "cc-main-2024-22-one-page.warc.wet.gz"))
    assert len(wet_docs) == 1 and "Escopete" in wet_docs[0]["text"]


# --- sources ------------------------------------------------------------------------------


def test_listing_with_prefix_and_config_errors(sample_dir, tmp_path):
    shards = sorted(p.name for p in (sample_dir / "crawl").glob("*.warc.gz"))
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress(("\n".join(f"crawl/{s}" for s in shards) + "\n").encode()))
    assert expand_inputs([str(listing)], prefix=str(sample_dir)) == [f"{sample_dir}/crawl/{s}" for s in shards]
    with pytest.raises(ConfigError, match="--prefix"):
        expand_inputs([str(listing)])
    with pytest.raises(ConfigError, match="does not exist"):
        expand_inputs([str(tmp_path / "nope.warc.gz")])
    with pytest.raises(ConfigError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.warc.gz")])
    assert len(expand_inputs([str(sample_dir / "crawl")], limit=2)) == 2


class FlakyHandler(http.server.BaseHTTPRequestHandler):
    """Answers 503 SlowDown twice, then serves the file (Range requests honoured)."""

    failures_left = 2
    body = b""

    def do_GET(self):  # noqa: N802 - http.server's naming
        if FlakyHandler.failures_left > 0:
            FlakyHandler.failures_left -= 1
            self.send_response(503, "SlowDown")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_http_source_retries_503_then_succeeds(shared_data, monkeypatch):
    path = shared_data / "warc" / "wget-sample-0000.warc.gz"
    FlakyHandler.body = path.read_bytes()
    FlakyHandler.failures_left = 2
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/wget-sample-0000.warc.gz"
        out = io.BytesIO()
        assert download_http(url, out, RetryPolicy(base_delay_s=0.01)) == len(FlakyHandler.body)
        FlakyHandler.failures_left = 2
        monkeypatch.setenv("CURATION_RETRY_BASE_S", "0.01")
        docs, ledger = process_archive(url)
        assert ledger.records == warcio_record_count(path) and len(docs) == 22
        FlakyHandler.failures_left = 99
        _, ledger = process_archive(url)
        assert ledger.outcomes == Counter(unreadable_file=1)
    finally:
        server.shutdown()


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """Serves its body in pieces with a pause before each: slow, but never silent for long."""

    body = b""
    pieces = 5
    pause_s = 0.2

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        step = -(-len(self.body) // self.pieces)
        for start in range(0, len(self.body), step):
            time.sleep(self.pause_s)
            self.wfile.write(self.body[start : start + step])
            self.wfile.flush()

    def log_message(self, *args):
        pass


def test_stalled_server_fails_fast_slow_stream_does_not(shared_data, monkeypatch, capsys):
    """A server that accepts and never answers costs attempts x read timeout, each retry printed; a stream
    slower in total than the read timeout, but never silent that long, is read whole."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel accepts connections; nobody ever reads or answers them
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/stalled.warc.gz"
    policy = RetryPolicy(attempts=3, base_delay_s=0.01, connect_timeout_s=1.0, read_timeout_s=0.3)
    try:
        with pytest.raises(TimeoutError):
            download_http(url, io.BytesIO(), policy)
        retries = capsys.readouterr().err.splitlines()
        assert len(retries) == 2 and all(url in line and "TimeoutError" in line for line in retries)
        assert "attempt 1/3" in retries[0] and "retrying in 0.01s" in retries[0] and "attempt 2/3" in retries[1]
        for name, value in {
            "CURATION_RETRY_ATTEMPTS": "2",
            "CURATION_RETRY_BASE_S": "0.01",
            "CURATION_READ_TIMEOUT_S": "0.3",
        }.items():
            monkeypatch.setenv(name, value)
        docs, ledger = process_archive(url)
        assert docs == [] and ledger.outcomes == Counter(unreadable_file=1) and "timed out" in ledger.error_detail
    finally:
        silent.close()

    SlowHandler.body = (shared_data / "warc" / "wget-sample-0000.warc.gz").read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = io.BytesIO()
        slow = RetryPolicy(attempts=1, read_timeout_s=0.6)  # the whole body takes ~1 s: longer than one read may
        assert download_http(f"http://127.0.0.1:{server.server_port}/slow.warc.gz", out, slow) == len(SlowHandler.body)
        assert out.getvalue() == SlowHandler.body
    finally:
        server.shutdown()


def test_s3_inputs_need_boto3(monkeypatch):
    from curation.sources import check_remote_support

    monkeypatch.setitem(sys.modules, "boto3", None)  # import fails as if boto3 were not installed
    with pytest.raises(ConfigError, match=r"boto3: pip install -e '\.\[s3\]' in the repository"):
        check_remote_support(["s3://commoncrawl/crawl-data/x.warc.gz"])


def test_large_listing_is_one_task_per_file(spark):
    from curation.extract import file_tasks

    paths = [f"crawl-data/segment/{i:05d}.warc.gz" for i in range(50_000)]
    assert file_tasks(spark, paths).rdd.getNumPartitions() == 50_000
    assert file_tasks(spark, paths, files_per_task=7).rdd.getNumPartitions() == 7143


def test_missing_java_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="install Java 17"):
        check_java()


def test_cli_rejects_missing_input_before_spark_starts(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "jobs" / "extract.py"),
            "--input",
            str(tmp_path / "nope.warc.gz"),
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"extract: error: input does not exist: {tmp_path}/nope.warc.gz"]


# --- the Spark job --------------------------------------------------------------------------


def test_spark_job_over_real_and_sample_files(spark, shared_data, sample_dir, tmp_path):
    warc = shared_data / "warc"
    inputs = [str(warc / "*.warc.gz"), str(warc / "*.wet.gz"), str(sample_dir / "crawl")]
    out = tmp_path / "extract"
    assert ExtractJob().main(["--input", *inputs, "--output", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    docs = spark.read.parquet(str(out / "documents"))
    ledger = {r["warc_path"]: r.asDict() for r in spark.read.parquet(str(out / "ledger")).collect()}
    paths = expand_inputs(inputs)
    assert sorted(ledger) == sorted(paths) and summary["files"] == len(paths)
    assert summary["conserved"] and docs.count() == summary["documents"]
    assert summary["chars"] == docs.agg({"n_chars": "sum"}).first()[0] == sum(r["chars"] for r in ledger.values())
    for path, row in ledger.items():
        if row["file_error"] is None and row["outcomes"].get("malformed_record", 0) == 0:
            assert row["records"] == warcio_record_count(Path(path)), path
    per_file = {r["warc_path"]: r["count"] for r in docs.groupBy("warc_path").count().collect()}
    assert all(per_file.get(p, 0) == row["outcomes"].get("extracted", 0) for p, row in ledger.items())
    assert docs.select("doc_id").distinct().count() == docs.count()
    assert {"zh", "en"} <= {r["language"] for r in docs.select("language").distinct().collect()}
    assert summary["bad_files"] == [
        {"warc_path": str(sample_dir / "crawl" / "sample-truncated.warc.gz"), "file_error": "truncated_file"}
    ]

    # same documents whatever the partitioning
    again = tmp_path / "extract-3"
    assert ExtractJob().main(["--input", *inputs, "--output", str(again), "--files-per-task", "3"]) == 0
    first = docs.select("doc_id", "text").orderBy("doc_id").collect()
    assert spark.read.parquet(str(again / "documents")).select("doc_id", "text").orderBy("doc_id").collect() == first
    # a non-empty output needs --overwrite; --max-bad-files makes bad input an exit status
    assert ExtractJob().main(["--input", *inputs, "--output", str(again)]) == 2
    assert ExtractJob().main(["--input", *inputs, "--output", str(again), "--overwrite", "--max-bad-files", "0"]) == 3


def test_job_fails_when_no_input_file_could_be_read(tmp_path, capsys):
    for name in ("a.warc.gz", "b.warc.gz"):
        (tmp_path / name).write_bytes(b"not an archive\n")
    out = tmp_path / "out"
    assert ExtractJob().main(["--input", str(tmp_path / "*.warc.gz"), "--output", str(out)]) == 3
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("extract: error")]
    assert errors == [
        f"extract: error: none of the 2 input files could be read (e.g. not_warc: {tmp_path}/a.warc.gz; "
        f"details in {out}/ledger)"
    ]
    assert json.loads((out / "summary.json").read_text())["outcomes"] == {"not_warc": 2}


def test_bag_of_words_f1_and_gold_cleaning():
    from curation.benchmarks.realpages import bag_of_words_f1
    from curation.gold_pages import gold_text

    assert bag_of_words_f1("the cat sat", "The cat sat") == 1.0
    assert bag_of_words_f1("the cat", "the cat sat on the mat") == pytest.approx(2 * 1.0 * (2 / 6) / (1 + 2 / 6))
    assert bag_of_words_f1("", "gold") == 0.0 and bag_of_words_f1("", "") == 1.0
    assert gold_text("URL: http://x.example/\n<p>Hello <h>world").split() == ["Hello", "world"]
