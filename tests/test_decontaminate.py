"""Decontamination: normalisation, benchmark loading and bad input, cutting, and the Spark job with planted
contamination (a whole book, a web page, a too-common N-gram), on the generated sample and the real files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from curation.decontaminate import (
    Benchmark,
    CutPolicy,
    DecontaminateJob,
    FieldMapping,
    auto_ngram_size,
    batch_hits,
    build_matcher,
    contamination,
    cut_spans,
    decontaminate,
    decontaminate_text,
    document_hits,
    example_texts,
    load_benchmarks,
    normalize_words,
    read_benchmark,
    words_with_offsets,
)
from curation.spark import ConfigError

WORDS = ("amber basin cedar delta ember fjord garnet harbor indigo juniper kettle lantern meadow nectar orchard "
         "pebble quarry raven saddle thistle umber velvet willow yonder zephyr anchor bramble cobalt dune "
         "falcon glacier hollow island jasper kelp lagoon marble nettle opal prairie quill ridge spruce "
         "tundra valley walnut").split()


def prose(rng: random.Random, chars: int) -> str:
    """Random words: no 13-word run repeats by chance, so only planted text can collide."""
    words, size = [], 0
    while size < chars:
        word = rng.choice(WORDS) + ("." if rng.random() < 0.08 else "")
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


def plant(text: str, item: str, at: int) -> tuple[str, int]:
    """`item` inserted between two words near char `at`; (new text, item start)."""
    cut = text.index(" ", at)
    return text[:cut] + " " + item + text[cut:], cut + 1


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# --- normalisation and matching -----------------------------------------------------------


def test_words_are_lowercased_without_punctuation_and_fast_path_agrees():
    text = "The QUICK, brown fox — “jumps” over the lazy-dog's back... ¡Olé! 3.14 ---"
    assert normalize_words(text) == ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazydogs", "back",
                                     "olé", "314"]
    words, starts, ends = words_with_offsets(text)
    assert words == normalize_words(text)
    assert text[starts[0]:ends[0]] == "The" and text[starts[-1]:ends[-1]] == "3.14"
    bench = Benchmark("b", "b.jsonl", FieldMapping(("text",)), [[normalize_words(text)]], {}, n=3)
    matcher = build_matcher([bench])
    for sample in (text, text.encode("ascii", "ignore").decode(), "unknown words and — the fox"):
        ids = matcher.word_ids(sample)
        assert len(ids) == len(normalize_words(sample))
        assert [matcher.vocab.get(w, 0) for w in normalize_words(sample)] == ids.tolist()


def test_hits_carry_char_offsets_of_the_original_text():
    item = "Elena had waited all summer for the tournament to arrive in Thornbury, said the coach."
    bench = Benchmark("b", "b.jsonl", FieldMapping(("text",)), [[normalize_words(item)]], {})
    matcher = build_matcher([bench])
    text, start = plant(prose(random.Random(1), 3000), item.upper(), 1500)
    hits = document_hits(text, matcher)
    assert len(hits) == len(normalize_words(item)) - 13 + 1
    assert min(h[2] for h in hits) == start and max(h[3] for h in hits) == start + len(item)


# --- cutting ------------------------------------------------------------------------------


def test_a_batch_finds_each_documents_own_hits_and_none_across_documents():
    rng = random.Random(5)
    item = " ".join(rng.choice(WORDS) for _ in range(20))
    bench = Benchmark("b", "b.jsonl", FieldMapping(("text",)), [[normalize_words(item)]], {})
    matcher = build_matcher([bench])
    words = item.split()
    texts = [prose(rng, 300) + " " + " ".join(words[:8]),  # the item split across two documents...
             " ".join(words[8:]) + " " + prose(rng, 300),  # ...must not match
             prose(rng, 200) + " " + item + " " + prose(rng, 100), "", item]
    ids = [matcher.word_ids(t) for t in texts]
    hits = batch_hits(ids, matcher)
    assert hits == [batch_hits([i], matcher)[0] for i in ids]
    assert hits[0] == hits[1] == hits[3] == [] and len(hits[2]) == len(hits[4]) == len(words) - 13 + 1
    assert hits[2][0][1] == len(normalize_words(texts[2])) - len(words) - len(normalize_words(texts[2].split(item)[1]))


def test_cut_removes_span_and_margin_drops_short_pieces_and_fragmented_documents():
    policy = CutPolicy(margin=200, min_piece=200, max_pieces=10)
    cut = cut_spans(2000, [(900, 1000)], policy)
    assert (cut.outcome, cut.pieces, cut.chars_removed, cut.split_into) == ("changed", ((0, 700), (1200, 2000)), 500, 2)
    cut = cut_spans(2000, [(900, 1000), (950, 1100), (1650, 1750)], policy)  # overlaps merge; short pieces go
    assert cut.pieces == ((0, 700),) and cut.chars_removed == 1300 and cut.split_into == 3
    assert cut_spans(2000, [], policy).outcome == "unchanged"
    assert cut_spans(300, [(100, 200)], policy).outcome == "dropped_nothing_left"
    spans = [(1000 * i + 500, 1000 * i + 510) for i in range(10)]
    assert cut_spans(10_000, spans, policy).outcome == "dropped_too_many_pieces"  # 11 pieces
    assert cut_spans(10_000, spans[:9], policy).outcome == "changed"  # 10 pieces are allowed
    assert cut_spans(10_000, spans, CutPolicy(max_pieces=11)).outcome == "changed"


def test_book_length_document_is_cut_near_its_end():
    item = " ".join(normalize_words(prose(random.Random(2), 200)))
    bench = Benchmark("b", "b.jsonl", FieldMapping(("text",)), [[normalize_words(item)]], {})
    matcher = build_matcher([bench])
    book, start = plant(prose(random.Random(3), 800_000), item, 799_000)
    cleaned, cut, collisions = decontaminate_text(book, matcher, CutPolicy())
    assert collisions == len(normalize_words(item)) - 12
    assert cut.pieces == ((0, start - 200), (start + len(item) + 200, len(book)))
    assert cleaned == book[:start - 200] + "\n\n" + book[start + len(item) + 200:]
    assert item not in cleaned and len(book) - cut.chars_removed == len(cleaned) - 2


# --- benchmarks ---------------------------------------------------------------------------


def test_field_layouts_give_what_a_model_sees():
    assert example_texts({"query": "Q:", "choices": ["a", "b"], "gold": 1}, FieldMapping(("query",), ("choices",))) \
        == ["Q: a", "Q: b"]
    assert example_texts({"context_options": ["x said", "y said"], "continuation": "go."},
                         FieldMapping(("context_options",), ("continuation",))) == ["x said go.", "y said go."]
    assert example_texts({"context": "Q", "chain_of_thought": "so 2", "answer": 2},
                         FieldMapping(("context",), ("chain_of_thought", "answer"))) == ["Q so 2 2"]


def test_benchmark_bad_input_is_a_counted_skip_or_a_clear_error(tmp_path):
    good = json.dumps({"context": "one two three", "continuation": "four"}).encode()
    path = tmp_path / "cloze.jsonl"
    path.write_bytes(b"\n".join([good, b"\xff\xfe not utf-8", b"{broken", b"", b"[1, 2]",
                                 json.dumps({"context": "no continuation"}).encode(), good]) + b"\n")
    bench = read_benchmark(str(path))
    assert len(bench.examples) == 2
    assert bench.skipped == {"bad_json": 2, "blank": 1, "missing_fields": 1, "non_utf8": 1}

    odd = write_jsonl(tmp_path / "odd.jsonl", [{"prompt": "a", "target": "b"}])
    with pytest.raises(ConfigError, match=r"odd.jsonl: no known field layout \(it has: prompt, target\)"):
        read_benchmark(str(odd))
    extra = write_jsonl(tmp_path / "extra.jsonl", [{"context": "a", "continuation": "b", "hint": "c"}])
    with pytest.raises(ConfigError, match=r"extra.jsonl: unknown fields hint \(it has: context, continuation, hint\)"):
        read_benchmark(str(extra))
    assert read_benchmark(str(odd), FieldMapping(("prompt",), ("target",))).examples == [[["a", "b"]]]
    with pytest.raises(ConfigError, match=r"mapped fields question not found \(it has: prompt, target\)"):
        read_benchmark(str(odd), FieldMapping(("question",)))

    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    (empty_dir / "nothing.jsonl").write_bytes(b"")
    with pytest.raises(ConfigError, match="no benchmark examples"):
        load_benchmarks(str(empty_dir))
    write_jsonl(empty_dir / "short.jsonl", [{"context": "too short", "continuation": "here"}])
    loaded = load_benchmarks(str(empty_dir))
    assert [(b.name, len(b.examples), b.too_short) for b in loaded.benchmarks] == [("nothing", 0, 0), ("short", 1, 1)]
    with pytest.raises(ConfigError, match="--ngram names no benchmark file: nope"):
        load_benchmarks(str(empty_dir), ngram_overrides={"nope": 8})


def test_auto_ngram_size_is_the_5th_percentile_clamped_to_8_13():
    def bench(lengths):
        return Benchmark("b", "b", FieldMapping(("text",)), [[["w"] * k] for k in lengths], {})

    assert auto_ngram_size(bench([5] * 10 + [40] * 90)) == 8
    assert auto_ngram_size(bench([10] * 10 + [40] * 90)) == 10
    assert auto_ngram_size(bench([40] * 100)) == 13


def test_ngrams_in_more_than_max_docs_documents_are_ignored():
    words = [normalize_words(prose(random.Random(k), 120)) for k in range(2)]
    benchmarks = [Benchmark("b", "b", FieldMapping(("text",)), [[w] for w in words], {})]
    matcher = build_matcher(benchmarks)
    first, second = (int(h[0]) for h in benchmarks[0].example_hashes)
    rows = [(13, first, "web", 7), (13, first, "books", 4), (13, second, "web", 10)]
    cut, report, totals = contamination(benchmarks, rows, CutPolicy(max_docs=10))
    assert cut[13].tolist() == [second]  # 11 documents: too common; 10: contamination
    assert report["b"]["dirty"] == 1 and report["b"]["found_in"] == {"web": 1}
    assert totals == {"matched": 2, "ignored_common": 1, "cut": 1}
    assert matcher.ngrams[13].size == sum(h.size for h in benchmarks[0].example_hashes)


# --- the Spark job ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Benchmarks and two training datasets with known contamination, and what the job must report."""
    root = tmp_path_factory.mktemp("planted")
    rng = random.Random(11)
    cloze = [{"context": prose(rng, 160), "continuation": " " + rng.choice(WORDS)} for _ in range(6)]
    cloze[2] = {"context": "a short item", "continuation": " indeed"}  # fewer than 13 words
    qa = [{"query": "Question: " + prose(rng, 90) + "?", "choices": [prose(rng, 40), prose(rng, 40)], "gold": 1}
          for _ in range(2)]
    bench_dir = root / "benchmarks"
    bench_dir.mkdir()
    write_jsonl(bench_dir / "cloze.jsonl", cloze)
    write_jsonl(bench_dir / "qa.jsonl", qa)
    with open(bench_dir / "qa.jsonl", "ab") as out:
        out.write(b"\xff not utf-8\n{oops\n")
    seen = {i: c["context"] + c["continuation"] for i, c in enumerate(cloze)}

    book, book_at = plant(prose(rng, 600_000), seen[0], 598_000)
    page, page_at = plant(prose(rng, 1500), qa[0]["query"] + " " + qa[0]["choices"][1], 700)
    common = " ".join(seen[1].split()[5:25])  # a 20-word run of cloze[1], in 12 documents
    fragmented = " ".join([prose(rng, 600)] + [seen[3] + " " + prose(rng, 600) for _ in range(11)])
    web = ([("page", page), ("fragmented", fragmented), ("whole-item", seen[4]), ("no-text", None)]
           + [(f"common-{k}", plant(prose(rng, 800), common, 300)[0]) for k in range(12)]
           + [(f"clean-{k}", prose(rng, 1200)) for k in range(5)])
    books = [("book", book), ("other-book", prose(rng, 300_000))]
    page_item = len(qa[0]["query"]) + 1 + len(qa[0]["choices"][1])
    expect = {
        "books_removed": len(seen[0]) + 400,
        "web_removed": page_item + 400 + len(fragmented) + len(seen[4]),
        "book": (book_at, len(seen[0])),
        "page_text": page[:page_at - 200] + "\n\n" + page[page_at + page_item + 200:],
    }
    return root, bench_dir, {"web": web, "books": books}, expect


def write_dataset(spark, path: Path, rows: list, partitions: int) -> str:
    frame = spark.createDataFrame([(doc_id, f"https://example.com/{doc_id}", text) for doc_id, text in rows],
                                  "doc_id string, url string, text string")
    frame.repartition(partitions).write.mode("overwrite").parquet(str(path))
    return str(path)


def run_planted(spark, planted, out: Path, partitions: int) -> dict:
    from curation.corpora import CorpusSpec

    root, bench_dir, datasets, _ = planted
    inputs = {name: CorpusSpec(name, write_dataset(spark, out / "in" / name, rows, partitions))
              for name, rows in datasets.items()}
    return decontaminate(spark, inputs, load_benchmarks(str(bench_dir)), str(out / "run"))


def test_planted_contamination_is_found_cut_and_reported(spark, planted, tmp_path):
    summary = run_planted(spark, planted, tmp_path, partitions=3)
    *_, expect = planted
    cloze, qa = summary["benchmarks"]["cloze"], summary["benchmarks"]["qa"]
    assert (cloze["examples"], cloze["dirty"], cloze["clean"], cloze["too_short"]) == (6, 3, 2, 1)
    assert cloze["found_in"] == {"books": 1, "web": 2}
    assert (qa["examples"], qa["dirty"], qa["clean"], qa["found_in"]) == (2, 1, 1, {"web": 1})
    assert qa["skipped_lines"] == {"bad_json": 1, "non_utf8": 1}
    assert summary["ngrams"]["ignored_common"] == 8  # the 20-word run in 12 documents: its 13-grams
    books, web = summary["datasets"]["books"], summary["datasets"]["web"]
    assert (books["documents_in"], books["unchanged"], books["changed"], books["dropped"]) == (2, 1, 1, 0)
    assert books["chars_removed"] == expect["books_removed"]
    assert (web["documents_in"], web["unchanged"], web["changed"], web["no_text"]) == (21, 17, 1, 1)
    assert (web["dropped_too_many_pieces"], web["dropped_nothing_left"]) == (1, 1)
    assert web["chars_removed"] == expect["web_removed"]
    assert summary["conserved"] and summary["documents_in"] == 23 and summary["dirty_examples"] == 4

    run = tmp_path / "run"
    docs = {r["doc_id"]: r for r in spark.read.parquet(str(run / "web" / "documents")).collect()}
    assert sorted(docs) == sorted(d for d, _ in planted[2]["web"] if d not in ("fragmented", "whole-item"))
    assert docs["page"]["text"] == expect["page_text"] and docs["page"]["url"] == "https://example.com/page"
    assert all(docs[f"common-{k}"]["text"] == dict(planted[2]["web"])[f"common-{k}"] for k in range(12))
    dropped = {r["doc_id"]: r["drop_reason"] for r in spark.read.parquet(str(run / "web" / "dropped")).collect()}
    assert dropped == {"fragmented": "dropped_too_many_pieces", "whole-item": "dropped_nothing_left"}
    book = spark.read.parquet(str(run / "books" / "documents")).filter("doc_id = 'book'").first()["text"]
    start, length = expect["book"]
    original = dict(planted[2]["books"])["book"]
    assert book == original[:start - 200] + "\n\n" + original[start + length + 200:]
    ledger = spark.read.parquet(str(run / "books" / "ledger")).collect()
    assert [(r["doc_id"], r["outcome"], r["chars_removed"]) for r in ledger] == [("book", "changed", length + 400)]
    assert "| cloze | 13 | 6 | 3 | 2 | 1 | 50.0 | books 1, web 2 |" in (run / "report.md").read_text()

    again = run_planted(spark, planted, tmp_path / "again", partitions=1)  # other partitioning, same result
    assert again == summary
    rerun = {r["doc_id"]: r["text"] for r in spark.read.parquet(str(tmp_path / "again" / "run" / "web" / "documents")).collect()}
    assert rerun == {d: r["text"] for d, r in docs.items()}


def test_config_mistakes_fail_before_spark(tmp_path, planted, capsys):
    _, bench_dir, _, _ = planted
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": "1", "text": "hello"}])
    base = ["--input", f"c={corpus}", "--benchmarks", str(bench_dir), "--output", str(tmp_path / "out")]
    odd = tmp_path / "odd"
    odd.mkdir()
    write_jsonl(odd / "weird.jsonl", [{"prompt": "a"}])
    cases = [
        (["--max-pieces", "0"], "--max-pieces must be at least 1"),
        (["--ngram", "cloze=seven"], "bad N-gram size 'seven'"),
        (["--ngram", "missing=8"], "--ngram names no benchmark file: missing"),
        (["--benchmarks", str(odd)], "weird.jsonl: no known field layout (it has: prompt)"),
        (["--benchmarks", str(tmp_path / "nowhere")], "benchmark directory does not exist"),
        (["--input", f"d={tmp_path / 'absent.jsonl'}"], "corpus does not exist"),
    ]
    for extra, message in cases:
        assert DecontaminateJob().main(base + extra) == 2
        assert message in capsys.readouterr().err


# --- the generated sample and the real benchmark files ----------------------------------


def test_sample_overlap_pages_are_found(spark, sample_dir, tmp_path):
    from curation.corpora import CorpusSpec
    from curation.extract import ExtractOptions, extract_to_parquet

    crawl = [str(p) for p in sorted((sample_dir / "crawl").glob("*.warc.gz"))]
    extract_to_parquet(spark, crawl, str(tmp_path / "extract"), ExtractOptions(extractor="resiliparse"))
    inputs = {"crawl": CorpusSpec("crawl", str(tmp_path / "extract" / "documents")),
              "books": CorpusSpec("books", str(sample_dir / "reference" / "books.jsonl.gz"))}
    summary = decontaminate(spark, inputs, load_benchmarks(str(sample_dir / "benchmarks")), str(tmp_path / "run"))
    truth = [json.loads(line) for line in (sample_dir / "truth.jsonl").open()]
    planted_items = {t["benchmark_item"] for t in truth if t["category"] == "benchmark_overlap"}
    bench = summary["benchmarks"]["sample_bench"]
    assert bench["dirty"] == len(planted_items) and bench["found_in"] == {"crawl": len(planted_items)}
    assert summary["datasets"]["crawl"]["changed"] >= len(planted_items) and summary["conserved"]
    assert summary["datasets"]["books"]["changed"] == 0


def test_real_benchmark_files_load_with_their_layouts(shared_data):
    loaded = load_benchmarks(str(shared_data / "benchmarks"))
    layouts = {b.name: str(b.mapping) for b in loaded.benchmarks}
    assert layouts["lambada_openai"] == "context:continuation" and layouts["piqa"] == "query:choices"
    assert layouts["winogrande"] == "context_options:continuation" and layouts["triviaqa_sm_sub"] == "context:answer"
    assert layouts["gsm8k"] == "context:chain_of_thought,answer"
    assert all(b.examples and not b.skipped for b in loaded.benchmarks)
    assert np.all(np.diff(loaded.matcher.ngrams[13].astype(np.float64)) >= 0)
