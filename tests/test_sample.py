"""Tests for the seeded sample generator: determinism, coverage of every category, WARC well-formedness
(and the intended damage), reference corpora, benchmark and the ground truth of duplicates."""

import gzip
import html
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from curation import sample
from curation.sample import CATEGORY_WEIGHTS, VARIANTS, generate_sample, gzip_member_ends, word_ngram_jaccard

SMALL = dict(pages=60, seed=0, shards=3, reference_docs=20)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate_sample(out, **SMALL)
    return out


def truth(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]


def members(path: Path) -> list[bytes]:
    data = path.read_bytes()
    ends = gzip_member_ends(data)
    return [data[start:end] for start, end in zip([0] + ends, ends)]


def read_member(member: bytes) -> list:
    """(rec_type, warc headers, http headers, payload) of the record in one gzip member."""
    return [
        (r.rec_type, r.rec_headers, r.http_headers, r.content_stream().read())
        for r in ArchiveIterator(io.BytesIO(member))
    ]


def crawl_records(out: Path) -> dict:
    """Every record of the normal shards by WARC-Record-ID, reading member by member so that the
    malformed member can be skipped the way a resynchronising reader would."""
    records = {}
    for shard in sorted((out / "crawl").glob("sample-0*.warc.gz")):
        for member in members(shard):
            try:
                parsed = read_member(member)
            except ArchiveLoadFailed:
                continue
            for record in parsed:
                records[record[1].get_header("WARC-Record-ID")] = (shard.name,) + record
    return records


def article_text(payload: bytes) -> str:
    article = payload.decode("utf-8").split("<article>", 1)[1].split("</article>", 1)[0]
    return " ".join(html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", article))


def test_same_seed_gives_identical_bytes_and_other_seed_differs(small, tmp_path):
    generate_sample(tmp_path / "again", **SMALL)
    generate_sample(tmp_path / "other", **{**SMALL, "seed": 1})
    files = sorted(p.relative_to(small) for p in small.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file())
    for name in files:
        assert (small / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    for name in [
        "truth.jsonl",
        "crawl/sample-00000.warc.gz",
        "reference/webtext.jsonl.gz",
        "benchmarks/sample_bench.jsonl",
    ]:
        assert (small / name).read_bytes() != (tmp_path / "other" / name).read_bytes(), name


def test_gzip_members_carry_no_mtime(small):
    for path in list((small / "crawl").glob("*.warc.gz")) + list((small / "reference").glob("*.gz")):
        for member in members(path):
            assert member[:3] == b"\x1f\x8b\x08" and member[4:8] == b"\0\0\0\0", path


def test_every_category_and_variant_present_at_small_size(small):
    lines = truth(small)
    normal = [t for t in lines if t["shard"] != "sample-truncated.warc.gz"]
    assert len(normal) == SMALL["pages"]
    counts = Counter(t["category"] for t in normal)
    assert set(counts) == set(CATEGORY_WEIGHTS) | {"malformed"}
    assert counts["malformed"] == 1
    assert {t["language"] for t in normal if "language" in t} == set(VARIANTS["non_english"])
    assert {t["encoding"] for t in normal if "encoding" in t} == set(VARIANTS["non_utf8"])
    assert {t["content_type"] for t in normal if "content_type" in t} == set(VARIANTS["non_html"])
    assert {t["variant"] for t in normal if "variant" in t} == set(VARIANTS["list"])
    assert {t["status"] for t in normal if "status" in t} == {301, 302, 404}
    assert len({t["record_id"] for t in lines}) == len(lines)
    urls = [t["url"] for t in lines if t["category"] != "revisit"]
    assert len(set(urls)) == len(urls)


def test_summary_matches_truth_and_files(small):
    summary = json.loads((small / "sample.json").read_text())
    assert summary["seed"] == 0 and summary["pages"] == SMALL["pages"]
    normal = [t for t in truth(small) if t["shard"] != "sample-truncated.warc.gz"]
    assert summary["categories"] == dict(Counter(t["category"] for t in normal))
    assert summary["reference"] == {"webtext": 20, "wikipedia": 20, "books": sample.BOOKS}
    assert all((small / name).is_file() for name in summary["files"])
    assert {f"crawl/sample-{i:05d}.warc.gz" for i in range(3)} <= set(summary["files"])


def read_until_failure(path: Path):
    """The records warcio yields from `path` and the ArchiveLoadFailed it stopped with, if any."""
    seen = []
    with open(path, "rb") as stream:
        try:
            for record in ArchiveIterator(stream):
                record.content_stream().read()
                seen.append(record)
        except ArchiveLoadFailed as error:
            return seen, error
    return seen, None


def test_warcio_reads_every_shard_until_the_malformed_member(small):
    """warcio's ArchiveIterator reads every normal shard to the end, except that in the shard holding
    the malformed member it raises ArchiveLoadFailed (its version line is `WARC/1.x`) when it gets
    there; a reader that restarts at the next gzip member reads all the remaining pages."""
    lines = [t for t in truth(small) if t["shard"] != "sample-truncated.warc.gz"]
    failures = 0
    for shard in sorted((small / "crawl").glob("sample-0*.warc.gz")):
        expected = [t for t in lines if t["shard"] == shard.name]
        seen, error = read_until_failure(shard)
        assert seen[0].rec_type == "warcinfo"
        ids = [r.rec_headers.get_header("WARC-Record-ID") for r in seen if r.rec_type in ("response", "revisit")]
        assert ids == [t["record_id"] for t in expected][: len(ids)]
        if error:
            failures += 1
            assert "WARC/1.x" in str(error) and expected[len(ids)]["category"] == "malformed"
        else:
            assert len(ids) == len(expected)
    assert failures == 1

    resynced = crawl_records(small)
    assert {t["record_id"] for t in lines if t["category"] != "malformed"} <= set(resynced)


def test_record_structure(small):
    records = crawl_records(small)
    by_truth = {t["record_id"]: t for t in truth(small)}
    requests = {r[2].get_header("WARC-Concurrent-To"): r for r in records.values() if r[1] == "request"}
    for record_id, (_shard, rec_type, warc, http, _payload) in records.items():
        if rec_type in ("response", "revisit"):
            assert record_id in requests, "every response and revisit has a request before it"
            assert warc.get_header("WARC-Target-URI") == by_truth[record_id]["url"]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", warc.get_header("WARC-Date"))
            assert http.protocol == "HTTP/1.1" and http.get_header("Content-Type")
            expected_status = str(by_truth[record_id].get("status", 200))
            assert http.get_statuscode() == expected_status
        if rec_type == "response" and by_truth[record_id]["category"] == "redirect":
            assert http.get_header("Location") == by_truth[record_id]["location"]
        if rec_type == "metadata":
            assert records[warc.get_header("WARC-Refers-To")][1] == "response"
        if rec_type == "revisit":
            original = records[by_truth[record_id]["revisit_of"]]
            assert warc.get_header("WARC-Payload-Digest") == original[2].get_header("WARC-Payload-Digest")
            assert warc.get_header("WARC-Refers-To-Target-URI") == original[2].get_header("WARC-Target-URI")
    assert Counter(r[1] for r in records.values())["metadata"] > 0


def test_truncated_shard_fails_before_its_end(small):
    """gzip raises EOFError; warcio itself does not raise but hands back a last response whose
    payload is shorter than its HTTP Content-Length."""
    path = small / "crawl" / "sample-truncated.warc.gz"
    with pytest.raises(EOFError):
        gzip.decompress(path.read_bytes())
    with open(path, "rb") as stream:
        responses = [
            (r.http_headers, r.content_stream().read()) for r in ArchiveIterator(stream) if r.rec_type == "response"
        ]
    lines = [t for t in truth(small) if t["shard"] == path.name]
    assert [t["category"] for t in lines] == ["article"] * sample.TRUNCATED_SHARD_PAGES + ["truncated"]
    assert len(responses) == len(lines)
    for headers, body in responses[:-1]:
        assert len(body) == int(headers.get_header("Content-Length"))
    headers, body = responses[-1]
    assert 0 < len(body) < int(headers.get_header("Content-Length"))


def read_jsonl_gz(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()]


def test_reference_corpora(small):
    fields = {
        "webtext": {"id", "text"},
        "wikipedia": {"id", "title", "text"},
        "books": {"id", "title", "author", "text"},
    }
    for name, keys in fields.items():
        docs = read_jsonl_gz(small / "reference" / f"{name}.jsonl.gz")
        assert docs and all(set(doc) == keys and doc["text"] for doc in docs)
        assert len({doc["id"] for doc in docs}) == len(docs)
    for book in read_jsonl_gz(small / "reference" / "books.jsonl.gz"):
        text, marker = book["text"], book["title"].upper()
        start = text.index(f"*** START OF THE PROJECT GUTENBERG EBOOK {marker} ***")
        end = text.index(f"*** END OF THE PROJECT GUTENBERG EBOOK {marker} ***")
        assert start < end < text.index("LICENSE")
        assert len(text[start:end].split()) >= 20_000
        assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    wikipedia = read_jsonl_gz(small / "reference" / "wikipedia.jsonl.gz")
    assert all(doc["text"].startswith(doc["title"] + " is a") for doc in wikipedia)


def test_reference_documents_are_not_near_duplicates_of_each_other(small):
    docs = [d["text"] for n in ("webtext", "wikipedia") for d in read_jsonl_gz(small / "reference" / f"{n}.jsonl.gz")]
    worst = max(word_ngram_jaccard(a, b) for i, a in enumerate(docs) for b in docs[i + 1 :])
    assert worst < 0.1


def test_benchmark_items(small):
    items = [json.loads(line) for line in (small / "benchmarks" / "sample_bench.jsonl").read_text().splitlines()]
    assert 20 <= len(items) <= 40
    for item in items:
        assert set(item) == {"context", "continuation"}
        assert len(item["context"].split()) >= 30
        assert item["continuation"].startswith(" ") and item["continuation"].strip() in item["context"]


def test_benchmark_overlap_pages_contain_their_item_and_no_other_page_does(small):
    items = [json.loads(line) for line in (small / "benchmarks" / "sample_bench.jsonl").read_text().splitlines()]
    records = crawl_records(small)
    lines = [t for t in truth(small) if t["shard"] != "sample-truncated.warc.gz"]
    thirteen_grams = {}
    for index, item in enumerate(items):
        words = (item["context"] + item["continuation"]).split()
        thirteen_grams.update({" ".join(words[i : i + 13]): index for i in range(len(words) - 12)})
    for line in lines:
        if line["category"] in ("malformed", "revisit"):
            continue
        payload = records[line["record_id"]][4]
        text = " ".join(html.unescape(payload.decode("utf-8", "replace")).split())
        hits = {index for gram, index in thirteen_grams.items() if gram in text}
        if line["category"] == "benchmark_overlap":
            item = items[line["benchmark_item"]]
            assert item["context"] + item["continuation"] in text
            assert hits == {line["benchmark_item"]}
        else:
            assert not hits, line


def test_duplicates_have_the_intended_similarity(small):
    records = crawl_records(small)
    lines = truth(small)
    by_url = {t["url"]: t for t in lines if t["category"] in ("article", "benchmark_overlap")}
    references = {
        d["id"]: d for n in ("webtext", "wikipedia") for d in read_jsonl_gz(small / "reference" / f"{n}.jsonl.gz")
    }
    kinds = Counter()
    for line in lines:
        if line["category"] == "exact_duplicate":
            source = by_url[line["duplicate_of"]]
            assert records[line["record_id"]][4] == records[source["record_id"]][4]
        elif line["category"] in ("near_duplicate", "reference_near_duplicate"):
            copy = article_text(records[line["record_id"]][4])
            if line["category"] == "near_duplicate":
                original = article_text(records[by_url[line["near_duplicate_of"]]["record_id"]][4])
            else:
                original = " ".join(references[line["near_duplicate_of"]]["text"].split("\n\n"))
            similarity = word_ngram_jaccard(original, copy)
            assert 0.7 <= similarity <= 0.95, line
            assert similarity == pytest.approx(line["jaccard_5gram"], abs=1e-4)
        else:
            continue
        kinds[line["category"]] += 1
    assert set(kinds) == {"exact_duplicate", "near_duplicate", "reference_near_duplicate"}


def test_legacy_encodings_are_declared_where_intended(small):
    records = crawl_records(small)
    for line in truth(small):
        if line["category"] != "non_utf8":
            continue
        _, _, _, http, payload = records[line["record_id"]]
        content_type = http.get_header("Content-Type")
        with pytest.raises(UnicodeDecodeError):
            payload.decode("utf-8")
        if line["encoding"] == "shift_jis":
            assert content_type == "text/html" and b'<meta charset="Shift_JIS">' in payload
            assert "ニュース" in payload.decode("shift_jis")
        else:
            assert content_type.endswith("charset=" + line["encoding"]) and b"charset" not in payload
            assert "Zürich" in payload.decode(line["encoding"])


def test_non_english_pages_declare_their_language(small):
    records = crawl_records(small)
    for line in truth(small):
        if line["category"] == "non_english":
            assert f'<html lang="{line["language"]}">'.encode() in records[line["record_id"]][4]


def test_cli_prints_one_summary_line(tmp_path, capsys):
    sample.main(["--output", str(tmp_path), "--pages", "40", "--shards", "2", "--reference-docs", "5", "--seed", "3"])
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "40 pages" in printed[0]
    assert json.loads((tmp_path / "sample.json").read_text())["seed"] == 3


def test_rejects_sizes_that_cannot_hold_every_category(tmp_path):
    with pytest.raises(ValueError):
        generate_sample(tmp_path, pages=sample.MIN_PAGES - 1)


def test_blocklist_names_hosts_of_the_crawls_spam_pages(small):
    from curation.rules.blocklist import blocked_by, load_blocklist

    adult = load_blocklist("adult", str(small / "blocklists" / "adult"))
    assert adult.entries["domains"] >= 1 and adult.entries["invalid"] == 0
    blocked = [row for row in truth(small) if blocked_by(row["url"], [adult])]
    assert blocked and all(row["category"] == "spam" for row in blocked)
    assert "blocklists/adult/domains" in json.loads((small / "sample.json").read_text())["files"]
