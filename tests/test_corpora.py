"""Reference-corpus readers: formats, ids, Gutenberg stripping, bad input; and the real reference files."""

from __future__ import annotations

import gzip
import json

import pytest

from curation.corpora import (
    CorpusSpec,
    corpus_files,
    iter_corpus_file,
    parse_corpus_spec,
    read_corpus,
    strip_gutenberg,
)
from curation.errors import ConfigError

MODERN_BOOK = (
    "The Project Gutenberg eBook of Tides, by A. Writer\r\n\r\nThis eBook is for the use of anyone.\r\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK TIDES ***\r\n\r\nCHAPTER 1.\r\nThe sea rose.\r\n\r\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK TIDES ***\r\n\r\nSTART: FULL LICENSE\r\nYou may copy it.\r\n"
)
OLD_BOOK = (
    "The Project Gutenberg Etext of Reefs\n**Welcome To The World of Free Plain Vanilla Electronic Texts**\n"
    "blah licence blah\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\n"
    "CORAL REEFS\n\nby CHARLES DARWIN\n\nEnd of The Project Gutenburg Etext of Coral Reefs, by Charles Darwin\n"
)


def test_strip_gutenberg_modern_old_and_lowercase_markers():
    assert strip_gutenberg(MODERN_BOOK) == "CHAPTER 1.\nThe sea rose."
    assert strip_gutenberg(OLD_BOOK) == "CORAL REEFS\n\nby CHARLES DARWIN"
    lower = (
        "header\n***start of this project gutenberg ebook x***\nbody\n***end of this project gutenberg ebook x***\nlic"
    )
    assert strip_gutenberg(lower) == "body"
    assert strip_gutenberg("no markers\r\nhere") == "no markers\nhere"


def test_parse_corpus_spec():
    spec = parse_corpus_spec("books=/data/books.jsonl.gz,strip_gutenberg=true,text_field=body")
    assert spec == CorpusSpec("books", "/data/books.jsonl.gz", None, "body", None, True)
    assert parse_corpus_spec("/data/webtext.jsonl.gz").name == "webtext"
    assert parse_corpus_spec("wiki=/x/dump,format=wikiextractor,id_field=url").fmt == "wikiextractor"
    for bad in ("=x", "a b=x", "w=x,colour=red", "w=x,format=xml", "w=x,strip_gutenberg=maybe"):
        with pytest.raises(ConfigError):
            parse_corpus_spec(bad)


def test_bad_corpus_paths_fail_before_spark(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        corpus_files(str(tmp_path / "missing.jsonl"))
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        corpus_files(str(tmp_path / "empty.jsonl"))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.txt").write_text("text")
    (mixed / "b.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(ConfigError, match="mixes formats"):
        corpus_files(str(mixed))
    assert corpus_files(str(mixed), "txt") == ("txt", [str(mixed / "a.txt")])


def test_jsonl_reader_ids_and_counted_problems(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    lines = [
        json.dumps({"id": "a", "body": "first\r\ndoc"}),
        "{broken",
        json.dumps({"id": "c"}),
        "",
        json.dumps({"body": "no id"}),
    ]
    with gzip.open(path, "wt") as out:
        out.write("\n".join(lines) + "\n")
    spec = CorpusSpec("c", str(path), text_field="body")
    records = list(iter_corpus_file(str(path), "c.jsonl.gz", "jsonl", spec))
    assert [r["text"] for r in records] == ["first\ndoc", None, None, "no id"]
    assert records[0]["doc_id"] == "a" and records[2]["doc_id"] == "c"
    assert records[1]["parse_error"].startswith("bad_json") and records[2]["parse_error"].startswith("no_text_field")
    again = list(iter_corpus_file(str(path), "c.jsonl.gz", "jsonl", spec))
    assert [r["doc_id"] for r in again] == [r["doc_id"] for r in records]  # hashed ids are stable
    assert len({r["doc_id"] for r in records}) == 4


def test_wikiextractor_txt_dir_and_parquet_through_spark(spark, tmp_path):
    wiki = tmp_path / "wiki" / "AA"
    wiki.mkdir(parents=True)
    (wiki / "wiki_00").write_text(
        '<doc id="12" url="https://en.wikipedia.org/wiki?curid=12" title="Anarchism">\nAnarchism\n\n'
        "Anarchism is a political philosophy.\n</doc>\n"
        '<doc id="25" url="https://en.wikipedia.org/wiki?curid=25" title="Autism">\nAutism\n\nAutism is a '
        "developmental disorder.\n</doc>\n"
    )
    rows = read_corpus(spark, str(tmp_path / "wiki"), source="wikipedia").orderBy("doc_id").collect()
    assert [r.doc_id for r in rows] == ["12", "25"]
    assert rows[0].text == "Anarchism\n\nAnarchism is a political philosophy." and rows[0].source == "wikipedia"

    books = tmp_path / "books"
    books.mkdir()
    (books / "tides.txt").write_bytes(MODERN_BOOK.encode())
    (books / "reefs.txt").write_text(OLD_BOOK)
    (books / "_SUCCESS").write_text("")
    frame = read_corpus(spark, str(books), strip_gutenberg=True)
    texts = {r.path: r.text for r in frame.collect()}
    assert texts == {"tides.txt": "CHAPTER 1.\nThe sea rose.", "reefs.txt": "CORAL REEFS\n\nby CHARLES DARWIN"}
    assert frame.select("source").distinct().collect()[0].source == "books"

    parquet = tmp_path / "docs"
    spark.createDataFrame([("d1", "x\r\ny"), ("d2", None)], "doc_id string, text string").coalesce(1).write.parquet(
        str(parquet)
    )
    rows = read_corpus(spark, str(parquet), source="crawl").orderBy("doc_id").collect()
    assert [(r.doc_id, r.text, r.parse_error) for r in rows] == [("d1", "x\ny", None), ("d2", None, "null_text")]
    no_ids = tmp_path / "noid"
    spark.createDataFrame([("a",), ("b",)], "body string").coalesce(1).write.parquet(str(no_ids))
    first = read_corpus(spark, str(no_ids), text_field="body").orderBy("text").collect()
    second = read_corpus(spark, str(no_ids), text_field="body").orderBy("text").collect()
    assert [r.doc_id for r in first] == [r.doc_id for r in second] and first[0].doc_id != first[1].doc_id
    with pytest.raises(ConfigError, match="no column"):
        read_corpus(spark, str(no_ids))


def test_sample_and_real_reference_corpora(spark, sample_dir, shared_data):
    books = read_corpus(spark, str(sample_dir / "reference" / "books.jsonl.gz"), strip_gutenberg=True)
    sample_text = books.first().text
    assert "\r" not in sample_text and "GUTENBERG" not in sample_text.upper() and "LICENSE" not in sample_text

    real = read_corpus(spark, str(shared_data / "reference" / "books.jsonl.gz"), strip_gutenberg=True)
    stats = real.selectExpr(
        "count(*) AS docs",
        "count(DISTINCT doc_id) AS ids",
        "sum(CAST(parse_error IS NOT NULL AS INT)) AS errors",
        "sum(CAST(instr(text, '\r') > 0 AS INT)) AS with_cr",
        "sum(CAST(upper(text) LIKE '%START OF THE PROJECT GUTENBERG%' "
        "OR upper(text) LIKE '%START OF THIS PROJECT GUTENBERG%' OR upper(text) LIKE '%END*THE SMALL PRINT%' "
        "AS INT)) AS with_header",
        "min(length(text)) AS shortest",
    ).first()
    assert stats.docs == stats.ids == 150 and stats.errors == 0 and stats.with_cr == 0
    assert stats.with_header == 0 and stats.shortest > 1000
    webtext = read_corpus(spark, str(shared_data / "reference" / "webtext.jsonl.gz"))
    assert webtext.count() == 1000 and webtext.filter("doc_id = 'webtext-0'").count() == 1
