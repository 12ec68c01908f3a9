"""The real-page crawl builder: deterministic shards, truth that matches the WARCs, planted copies that are what
the truth says, and records that the extractor reads with the expected outcomes."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from curation.near_copies import NEAR_EDITS, near_duplicate, text_nodes, visible_text
from curation.realcrawl import build_realcrawl, main
from curation.sample import word_ngram_jaccard
from curation.warc_records import ExtractOptions, process_archive

PAGES_PER_SET = 12
BUILD = dict(responses=180, shards=3, seed=3)

PAGE = (
    b'<html><head><title>Head words stay</title><style>p { color: red; }</style></head>\n<body class="x">'
    b"<h1>A Title Here</h1><p>The first sentence is here. The second one follows it. A third closes it.</p>"
    b'<script>var notText = "do not touch";</script><p>More words in <a href="/x">a link</a> and after.</p>'
    b"<!-- a comment stays --></body></html>"
)


@pytest.fixture(scope="module")
def pages_dir(shared_data, tmp_path_factory) -> Path:
    """The first pages of every shared page set, as files of the same names (a fast build of real pages)."""
    out = tmp_path_factory.mktemp("pages")
    for path in sorted((shared_data / "html").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            head = [next(lines) for _ in range(PAGES_PER_SET)]
        with gzip.open(out / path.name, "wt", encoding="utf-8") as target:
            target.writelines(head)
    return out


@pytest.fixture(scope="module")
def crawl(pages_dir, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("realcrawl")
    return out, build_realcrawl(out, html_dir=pages_dir, workers=2, **BUILD)


def _truth(out: Path) -> list[dict]:
    return [json.loads(line) for line in open(out / "truth.jsonl", encoding="utf-8")]


@pytest.fixture(scope="module")
def responses(crawl) -> dict[str, tuple[str, int, bytes]]:
    """record id -> (target URI, HTTP status, payload) of every response, digests checked on the way."""
    out, found = crawl[0], {}
    for path in sorted((out / "crawl").glob("*.warc.gz")):
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream, check_digests=True):
                if record.rec_type == "response":
                    found[record.rec_headers.get_header("WARC-Record-ID")] = (
                        record.rec_headers.get_header("WARC-Target-URI"),
                        int(record.http_headers.get_statuscode()),
                        record.content_stream().read(),
                    )
    return found


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_near_duplicate_edits_visible_text_only():
    nodes = text_nodes(PAGE)
    for kind in NEAR_EDITS:
        for seed in range(5):
            copy, applied, edits = near_duplicate(nodes, random.Random(seed), kind, 0.1)
            assert applied == kind and edits >= 1 and copy != PAGE
            assert text_nodes(copy).parts[0::2] == nodes.parts[0::2]  # head, tags, script, comment unchanged
            assert b'var notText = "do not touch";' in copy and b"Head words stay" in copy
    assert visible_text(PAGE).startswith("A Title Here The first sentence is here.")
    repeated = text_nodes(b"<body><p>same same same other</p><p>same</p></body>")
    for seed in range(20):  # a substitution keeps the word count, even when it draws the same word
        copy = near_duplicate(repeated, random.Random(seed), "substitute", 1.0)[0]
        assert len(visible_text(copy).split()) == repeated.words
    no_sentences = text_nodes(b"<body><p>one two three</p></body>")
    assert near_duplicate(no_sentences, random.Random(0), "sentence_swap", 0.5)[1] == "substitute"


def test_build_is_deterministic_skips_a_rerun_and_redoes_a_changed_one(crawl, pages_dir, tmp_path):
    out, summary = crawl
    assert not summary["skipped"] and summary["responses"] == BUILD["responses"]
    again = build_realcrawl(tmp_path, html_dir=pages_dir, workers=1, **BUILD)  # another process count
    assert _files(tmp_path) == _files(out)
    assert set(again) == set(summary) and again["categories"] == summary["categories"]
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    rerun = build_realcrawl(tmp_path, html_dir=pages_dir, **BUILD)
    assert rerun["skipped"] and {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == mtimes
    changed = build_realcrawl(tmp_path, html_dir=pages_dir, responses=120, shards=2, seed=3)
    assert not changed["skipped"] and changed["responses"] == 120
    assert len(list((tmp_path / "crawl").glob("*.warc.gz"))) == 2  # the old build's third shard is gone


def test_truth_covers_every_response_and_matches_the_warcs(crawl, responses):
    out, summary = crawl
    truth = _truth(out)
    assert sorted(t["record_id"] for t in truth) == sorted(responses)
    assert len({t["url"] for t in truth}) == len(truth)
    categories = Counter(t["category"] for t in truth)
    assert categories == summary["categories"]
    assert set(categories) == {"original", "exact_duplicate", "near_duplicate", "not_html", "not_found", "redirect"}
    assert categories["original"] == 4 * PAGES_PER_SET
    assert 0 < categories["not_html"] + categories["not_found"] + categories["redirect"] < 0.1 * len(truth)
    for line in truth:
        url, status, payload = responses[line["record_id"]]
        assert (url, status) == (line["url"], line["status"])
        assert status == {"not_found": 404, "redirect": line.get("status")}.get(line["category"], 200)
        assert (line["page"] is None) == (line["category"] in ("not_html", "not_found", "redirect"))
        if line["category"] == "not_html":
            assert not payload.lstrip().lower().startswith((b"<!doctype", b"<html"))
    assert set(summary["pages"]["url_from"]) == {"field", "canonical", "synthetic"}


def test_copies_are_byte_identical_or_slightly_edited_elsewhere(crawl, responses):
    truth = _truth(crawl[0])
    by_url = {t["url"]: t for t in truth}
    payload = {t["url"]: responses[t["record_id"]][2] for t in truth}
    exact = [t for t in truth if t["category"] == "exact_duplicate"]
    near = [t for t in truth if t["category"] == "near_duplicate"]
    assert exact and near
    for line in exact:
        original = by_url[line["duplicate_of"]]
        assert original["category"] == "original" and original["page"] == line["page"]
        assert payload[line["url"]] == payload[original["url"]]
        assert line["shard"] != original["shard"] and line["url"] != original["url"]
    for line in near:
        original = by_url[line["near_duplicate_of"]]
        assert original["category"] == "original" and line["shard"] != original["shard"]
        assert line["edit"]["kind"] in NEAR_EDITS and 0.01 <= line["edit"]["rate"] <= 0.1 and line["edit"]["edits"] >= 1
        similarity = word_ngram_jaccard(visible_text(payload[original["url"]]), visible_text(payload[line["url"]]))
        assert 0.3 < similarity < 1, line
        assert text_nodes(payload[line["url"]]).parts[0::2] == text_nodes(payload[original["url"]]).parts[0::2]


def test_extractor_outcomes_add_up(crawl):
    out, summary = crawl
    truth = _truth(out)
    category_of = {t["url"]: t["category"] for t in truth}
    outcomes: Counter = Counter()
    extracted_from: Counter = Counter()
    for path in sorted((out / "crawl").glob("*.warc.gz")):
        docs, ledger = process_archive(str(path), ExtractOptions(extractor="resiliparse"))
        row = ledger.as_row()
        assert row["records"] == sum(row["outcomes"].values()) and not row["file_error"]
        outcomes.update(row["outcomes"])
        extracted_from.update(category_of[doc["url"]] for doc in docs)
    categories = summary["categories"]
    html_pages = categories["original"] + categories["exact_duplicate"] + categories["near_duplicate"]
    assert outcomes["not_response"] == 2 * len(truth) + BUILD["shards"]
    assert outcomes["not_200"] == categories["not_found"] + categories["redirect"]
    assert outcomes["not_html"] == categories["not_html"]
    assert outcomes["extracted"] + outcomes["empty_text"] == html_pages
    assert set(extracted_from) <= {"original", "exact_duplicate", "near_duplicate"}
    assert sum(extracted_from.values()) == outcomes["extracted"]


def test_cli_rejects_bad_parameters_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--output", str(tmp_path), "--shards", "1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
