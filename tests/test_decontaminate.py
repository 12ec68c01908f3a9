"""Decontamination: normalisation, benchmark loading and bad input, cutting, and the Spark job with planted
contamination (a whole book, a web page, a too-common N-gram), on the generated sample and the real files."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from curation.benchmark_sets import (
    DEFAULT_MAPPINGS,
    Benchmark,
    FieldMapping,
    auto_ngram_size,
    build_matcher,
    example_texts,
    load_benchmarks,
    parse_field_mapping,
    read_benchmark,
    split_of,
)
from curation.decontaminate import (
    CUT_FIELDS,
    HITS_SCHEMA,
    DecontaminateJob,
    contamination,
    cut_key_batches,
    cut_texts,
    decontaminate,
    format_report,
    summarize,
)
from curation.errors import ConfigError
from curation.ngram_overlap import (
    CutPolicy,
    batch_hits,
    cut_spans,
    decontaminate_text,
    document_hits,
    normalize_words,
    words_with_offsets,
)

WORDS = (
    "amber basin cedar delta ember fjord garnet harbor indigo juniper kettle lantern meadow nectar orchard "
    "pebble quarry raven saddle thistle umber velvet willow yonder zephyr anchor bramble cobalt dune "
    "falcon glacier hollow island jasper kelp lagoon marble nettle opal prairie quill ridge spruce "
    "tundra valley walnut"
).split()


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
    assert normalize_words(text) == [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "the",
        "lazydogs",
        "back",
        "olé",
        "314",
    ]
    words, starts, ends = words_with_offsets(text)
    assert words == normalize_words(text)
    assert text[starts[0] : ends[0]] == "The" and text[starts[-1] : ends[-1]] == "3.14"
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
    texts = [
        prose(rng, 300) + " " + " ".join(words[:8]),  # the item split across two documents...
        " ".join(words[8:]) + " " + prose(rng, 300),  # ...must not match
        prose(rng, 200) + " " + item + " " + prose(rng, 100),
        "",
        item,
    ]
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
    assert cleaned == book[: start - 200] + "\n\n" + book[start + len(item) + 200 :]
    assert item not in cleaned and len(book) - cut.chars_removed == len(cleaned) - 2


def test_pass_two_cuts_the_marked_texts_and_leaves_the_others_to_spark():
    rng = random.Random(7)
    item = " ".join(rng.choice(WORDS) for _ in range(30))
    bench = Benchmark("b", "b.jsonl", FieldMapping(("text",)), [[normalize_words(item)]], {})
    matcher = build_matcher([bench])
    dirty, _ = plant(prose(rng, 2000), item, 1000)
    clean = "naïve café " + prose(rng, 400)
    cuts = cut_texts(pa.array([dirty, None, clean, item]), matcher, CutPolicy()).to_pylist()
    cleaned, cut, collisions = decontaminate_text(dirty, matcher, CutPolicy())
    assert collisions > 0 and cuts[0] == {
        "text": cleaned,
        "outcome": "changed",
        "chars_removed": cut.chars_removed,
        "pieces": cut.split_into,
        "pieces_kept": len(cut.pieces),
        "collisions": collisions,
    }
    assert cuts[1] == dict.fromkeys(CUT_FIELDS.names)  # not marked: Spark passes the document through
    unchanged = {"outcome": "unchanged", "chars_removed": 0, "pieces": 1, "pieces_kept": 1, "collisions": 0}
    assert cuts[2] == {"text": clean, **unchanged}  # what Spark's expressions give an unmarked document
    assert cuts[3]["text"] == item and cuts[3]["outcome"] == "dropped_nothing_left"  # a dropped text is kept

    hashes = bench.example_hashes[0]
    hits = pa.RecordBatch.from_pydict(
        {"doc_id": ["a", "b", "c"], "n": [13, 13, 8], "hash": hashes[[0, 1, 0]].view(np.int64)},
        schema=HITS_SCHEMA,
    )
    to_cut = type("Broadcast", (), {"value": matcher.with_ngrams({13: hashes[1:2], 8: hashes[0:1]})})
    (keys,) = cut_key_batches([hits], to_cut)
    assert keys.column(0).to_pylist() == ["b", "c"]  # each hit whose (N, hash) is to be cut


# --- benchmarks ---------------------------------------------------------------------------


def test_field_layouts_give_what_a_model_sees():
    assert example_texts({"query": "Q:", "choices": ["a", "b"], "gold": 1}, FieldMapping(("query",), ("choices",))) == [
        "Q: a",
        "Q: b",
    ]
    assert example_texts(
        {"context_options": ["x said", "y said"], "continuation": "go."},
        FieldMapping(("context_options",), ("continuation",)),
    ) == ["x said go.", "y said go."]
    assert example_texts(
        {"context": "Q", "chain_of_thought": "so 2", "answer": 2},
        FieldMapping(("context",), ("chain_of_thought", "answer")),
    ) == ["Q so 2 2"]


def test_benchmark_bad_input_is_a_counted_skip_or_a_clear_error(tmp_path):
    good = json.dumps({"context": "one two three", "continuation": "four"}).encode()
    path = tmp_path / "cloze.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                good,
                b"\xff\xfe not utf-8",
                b"{broken",
                b"",
                b"[1, 2]",
                json.dumps({"context": "no continuation"}).encode(),
                good,
            ]
        )
        + b"\n"
    )
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


# One hand-made record per layout, in the field names of each benchmark's public distribution (official
# release, then the Hugging Face export), and the texts GPT-3's prompts would show a model of it.
P = "The city council met on Tuesday to discuss the new bridge over the river near the old mill."
Q = "What did the council discuss?"
LAYOUT_CASES = [
    (
        "hellaswag_val.jsonl",
        [
            {
                "ind": 24,
                "activity_label": "Roof shingle removal",
                "ctx_a": "A man is on a roof.",
                "ctx_b": "he",
                "ctx": "A man is on a roof. he",
                "split": "val",
                "split_type": "indomain",
                "label": 1,
                "endings": ["is ripping tiles off.", "sings."],
                "source_id": "activitynet~v_-JhWjGDPHMY",
            }
        ],
        [
            [
                "Roof shingle removal A man is on a roof. he is ripping tiles off.",
                "Roof shingle removal A man is on a roof. he sings.",
            ]
        ],
    ),
    (
        "race_high_test.jsonl",
        [
            {
                " example_id": "high132.txt",
                " article": P,
                " question": Q,  # keys as released
                " options": ["the bridge", "the mill"],
                " answer": "A",
            }
        ],
        [[f"{P} {Q} the bridge", f"{P} {Q} the mill"]],
    ),
    (
        "race_middle_test.json",
        [
            {
                "answers": ["A", "B"],
                "options": [["the bridge", "taxes"], ["Tuesday", "Monday"]],
                "questions": [Q, "When?"],
                "article": P,
                "id": "middle1.txt",
            }
        ],
        [[f"{P} {Q} the bridge", f"{P} {Q} taxes"], [f"{P} When? Tuesday", f"{P} When? Monday"]],
    ),
    (
        "boolq_val.jsonl",
        [{"question": "is the bridge new", "passage": P, "idx": 0, "label": True}],
        [[f"{P} is the bridge new"]],
    ),
    (
        "boolq_dev.jsonl",
        [{"question": "is the bridge new", "title": "Bridge", "answer": True, "passage": P}],
        [[f"{P} is the bridge new"]],
    ),
    (
        "cb_val.jsonl",
        [{"premise": P, "hypothesis": "A bridge exists.", "label": "entailment", "idx": 0}],
        [[f"{P} A bridge exists."]],
    ),
    (
        "anli_r1_test.jsonl",
        [
            {
                "uid": "x",
                "context": P,
                "hypothesis": "A bridge exists.",
                "label": "e",
                "model_label": "n",
                "emturk": False,
                "genre": "",
                "reason": "it says so",
                "tag": "",
            }
        ],
        [[f"{P} A bridge exists."]],
    ),
    (
        "anli_r2_test_hf.jsonl",
        [{"uid": "x", "premise": P, "hypothesis": "No.", "label": 2, "reason": ""}],
        [[f"{P} No."]],
    ),
    (
        "copa_val.jsonl",
        [
            {
                "premise": "The man broke his toe.",
                "choice1": "He dropped a hammer on his foot.",
                "choice2": "He got a hole in his sock.",
                "question": "cause",
                "idx": 0,
                "label": 0,
            }
        ],
        [
            [
                "The man broke his toe. He dropped a hammer on his foot.",
                "The man broke his toe. He got a hole in his sock.",
            ]
        ],
    ),
    (
        "multirc_val.jsonl",
        [
            {
                "idx": 0,
                "version": 1.1,
                "passage": {
                    "text": P,
                    "questions": [
                        {
                            "question": Q,
                            "idx": 0,
                            "answers": [
                                {"text": "a bridge", "idx": 0, "label": 1},
                                {"text": "taxes", "idx": 1, "label": 0},
                            ],
                        }
                    ],
                },
            }
        ],
        [[f"{P} {Q} a bridge", f"{P} {Q} taxes"]],
    ),
    (
        "multirc_hf_val.jsonl",
        [
            {
                "paragraph": P,
                "question": Q,
                "answer": "a bridge",
                "idx": {"paragraph": 0, "question": 0, "answer": 0},
                "label": 1,
            }
        ],
        [[f"{P} {Q} a bridge"]],
    ),
    (
        "record_val.jsonl",
        [
            {
                "source": "Daily mail",
                "idx": 0,
                "passage": {"text": P, "entities": [{"start": 4, "end": 7}]},
                "qas": [
                    {
                        "query": "@placeholder met on Tuesday",
                        "idx": 0,
                        "answers": [{"start": 4, "end": 7, "text": "city council"}],
                    }
                ],
            }
        ],
        [[f"{P} city council met on Tuesday"]],
    ),
    (
        "record_hf_val.jsonl",
        [
            {
                "passage": P,
                "query": "The @placeholder met",
                "entities": ["council"],
                "entity_spans": {"text": ["council"], "start": [9], "end": [16]},
                "answers": ["council"],
                "idx": {"passage": 0, "query": 0},
            }
        ],
        [[f"{P} The council met"]],
    ),
    (
        "wic_val.jsonl",
        [
            {
                "word": "place",
                "sentence1": "Do you want to come over to my place later?",
                "sentence2": "A political system with no place for the less prominent groups.",
                "idx": 0,
                "label": False,
                "start1": 31,
                "start2": 27,
                "end1": 36,
                "end2": 32,
            }
        ],
        [
            [
                "Do you want to come over to my place later? "
                "A political system with no place for the less prominent groups."
            ]
        ],
    ),
    (
        "wsc_val.jsonl",
        [
            {
                "text": P,
                "target": {"span1_text": "council", "span2_text": "it", "span1_index": 2, "span2_index": 9},
                "idx": 0,
                "label": False,
            }
        ],
        [[P]],
    ),
    (
        "squad_dev-v2.0.json",
        {
            "version": "v2.0",
            "data": [
                {
                    "title": "Bridges",
                    "paragraphs": [
                        {
                            "context": P,
                            "qas": [
                                {
                                    "question": Q,
                                    "id": "1",
                                    "answers": [{"text": "the new bridge", "answer_start": 40}],
                                    "is_impossible": False,
                                },
                                {
                                    "question": "Who paid?",
                                    "id": "2",
                                    "answers": [],
                                    "is_impossible": True,
                                    "plausible_answers": [{"text": "the council", "answer_start": 4}],
                                },
                            ],
                        }
                    ],
                }
            ],
        },
        [[f"{P} {Q} the new bridge"], [f"{P} Who paid?"]],
    ),
    (
        "squad_validation.jsonl",
        [
            {
                "id": "1",
                "title": "Bridges",
                "context": P,
                "question": Q,
                "answers": {"text": ["the new bridge", "bridge"], "answer_start": [40, 44]},
            }
        ],
        [[f"{P} {Q} the new bridge", f"{P} {Q} bridge"]],
    ),
    (
        "quac_val_v0.2.json",
        {
            "data": [
                {
                    "paragraphs": [
                        {
                            "context": P + " CANNOTANSWER",
                            "id": "C_1",
                            "qas": [
                                {
                                    "question": Q,
                                    "id": "C_1_q#0",
                                    "followup": "y",
                                    "yesno": "x",
                                    "answers": [{"text": "the new bridge", "answer_start": 40}],
                                    "orig_answer": {"text": "the new bridge", "answer_start": 40},
                                }
                            ],
                        }
                    ],
                    "section_title": "History",
                    "background": "A town.",
                    "title": "Millbrook",
                }
            ]
        },
        [[f"{P} CANNOTANSWER {Q} the new bridge"]],
    ),
    (
        "quac_hf_validation.jsonl",
        [
            {
                "dialogue_id": "C_1",
                "wikipedia_page_title": "Millbrook",
                "background": "A town.",
                "section_title": "History",
                "context": P,
                "turn_ids": ["C_1_q#0", "C_1_q#1"],
                "questions": [Q, "When?"],
                "followups": [0, 1],
                "yesnos": [2, 2],
                "answers": {"texts": [["the new bridge"], ["on Tuesday"]], "answer_starts": [[40], [25]]},
                "orig_answers": {"texts": ["the new bridge", "on Tuesday"], "answer_starts": [40, 25]},
            }
        ],
        [[f"{P} {Q} the new bridge"], [f"{P} When? on Tuesday"]],
    ),
    (
        "coqa-dev-v1.0.json",
        {
            "version": "1.0",
            "data": [
                {
                    "source": "mctest",
                    "id": "3dr",
                    "filename": "mc160.test.41",
                    "story": P,
                    "name": "mc160.test.41",
                    "questions": [{"input_text": Q, "turn_id": 1}],
                    "answers": [
                        {
                            "span_start": 40,
                            "span_end": 54,
                            "turn_id": 1,
                            "span_text": "the new bridge",
                            "input_text": "a bridge",
                        }
                    ],
                    "additional_answers": {"0": []},
                }
            ],
        },
        [[f"{P} {Q} a bridge"]],
    ),
    (
        "coqa_hf_validation.jsonl",
        [
            {
                "source": "mctest",
                "story": P,
                "questions": [Q, "When?"],
                "answers": {"input_text": ["a bridge", "Tuesday"], "answer_start": [40, 25], "answer_end": [54, 32]},
            }
        ],
        [[f"{P} {Q} a bridge"], [f"{P} When? Tuesday"]],
    ),
    (
        "drop_dataset_dev.json",
        {
            "nfl_1184": {
                "passage": P,
                "wiki_url": "https://en.wikipedia.org/wiki/x",
                "qa_pairs": [
                    {
                        "question": "How many bridges?",
                        "query_id": "f37",
                        "validated_answers": [],
                        "answer": {"number": "1", "date": {"day": "", "month": "", "year": ""}, "spans": []},
                    },
                    {
                        "question": "Who met?",
                        "query_id": "f38",
                        "answer": {
                            "number": "",
                            "date": {"day": "", "month": "", "year": ""},
                            "spans": ["city council"],
                        },
                    },
                ],
            }
        },
        [[f"{P} How many bridges? 1"], [f"{P} Who met? city council"]],
    ),
    (
        "drop_hf_validation.jsonl",
        [
            {
                "section_id": "nfl_1184",
                "query_id": "f38",
                "passage": P,
                "question": "Who met?",
                "answers_spans": {"spans": ["city council"], "types": ["span"]},
            }
        ],
        [[f"{P} Who met? city council"]],
    ),
    (
        "cloze_test_val__spring2016.csv",
        "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,RandomFifthSentenceQuiz1,"
        "RandomFifthSentenceQuiz2,AnswerRightEnding\n"
        "138d5bfb,Rick grew up poor.,He joined a gang.,He got shot.,He quit.,He is happy now.,He joined again.,1\n",
        [
            [
                "Rick grew up poor. He joined a gang. He got shot. He quit. He is happy now.",
                "Rick grew up poor. He joined a gang. He got shot. He quit. He joined again.",
            ]
        ],
    ),
    (
        "story_cloze_hf_test.jsonl",
        [
            {
                "story_id": "b9",
                "input_sentence_1": "A.",
                "input_sentence_2": "B.",
                "input_sentence_3": "C.",
                "input_sentence_4": "D.",
                "sentence_quiz1": "E.",
                "sentence_quiz2": "F.",
                "answer_right_ending": 1,
            }
        ],
        [["A. B. C. D. E.", "A. B. C. D. F."]],
    ),
    (
        "webquestions.examples.test.json",
        [
            {
                "url": "http://www.freebase.com/view/en/justin_bieber",
                "targetValue": '(list (description "Jazmyn Bieber"))',
                "utterance": "what is the name of justin bieber brother?",
            }
        ],
        [["what is the name of justin bieber brother?"]],
    ),
    (
        "web_questions_hf_test.jsonl",
        [{"url": "http://x", "question": "who is he?", "answers": ["Jazmyn", "Jaxon"]}],
        [["who is he? Jazmyn", "who is he? Jaxon"]],
    ),
    (
        "nq_simplified_dev.jsonl",
        [
            {
                "document_text": "Email marketing <P> Opt-in email is ...",
                "question_text": Q,
                "long_answer_candidates": [{"start_token": 0, "top_level": True, "end_token": 9}],
                "annotations": [],
                "document_url": "https://x",
                "example_id": 56,
            }
        ],
        [[Q]],
    ),
    (
        "nq_open_test.jsonl",
        [{"question": Q, "answer": ["a bridge", "the bridge"]}],
        [[f"{Q} a bridge", f"{Q} the bridge"]],
    ),
    (
        "unfiltered-web-dev.json",
        {
            "Data": [
                {
                    "Answer": {
                        "Aliases": ["Sunset Blvd"],
                        "Value": "Sunset Boulevard",
                        "NormalizedValue": "sunset boulevard",
                        "Type": "WikipediaEntity",
                    },
                    "EntityPages": [],
                    "Question": "Which musical premiered in 1993?",
                    "QuestionId": "tc_33",
                    "QuestionSource": "http://x",
                    "SearchResults": [],
                },
                {
                    "EntityPages": [],
                    "Question": "Who wrote it?",
                    "QuestionId": "tc_34",
                    "QuestionSource": "http://x",
                    "SearchResults": [],
                },
            ],
            "Domain": "Web",
            "Split": "dev",
            "VerifiedEval": False,
            "Version": 1.0,
        },
        [["Which musical premiered in 1993? Sunset Boulevard"], ["Who wrote it?"]],
    ),
    (
        "trivia_qa_hf_validation.jsonl",
        [
            {
                "question": "Which musical?",
                "question_id": "tc_33",
                "question_source": "x",
                "entity_pages": {"title": []},
                "search_results": {"title": []},
                "answer": {
                    "aliases": ["Sunset Blvd"],
                    "value": "Sunset Boulevard",
                    "normalized_value": "sunset boulevard",
                    "type": "Wiki",
                },
            }
        ],
        [["Which musical? Sunset Boulevard"]],
    ),
    ("lambada_test.jsonl", [{"text": P}], [[P]]),
    ("lambada_hf_test.jsonl", [{"text": P, "domain": None}], [[P]]),
    (
        "piqa_valid.jsonl",
        [{"goal": "How do I ready a guinea pig cage?", "sol1": "Use paper.", "sol2": "Use jello.", "id": "a"}],
        [["How do I ready a guinea pig cage? Use paper.", "How do I ready a guinea pig cage? Use jello."]],
    ),
    (
        "winogrande_dev.jsonl",
        [
            {
                "qID": "3QHITW7OYO7Q6B6ISU2UMJB84ZLAQE-2",
                "sentence": "Ian volunteered to eat Dennis's menudo after already having a bowl "
                "because _ despised eating intestine.",
                "option1": "Ian",
                "option2": "Dennis",
                "answer": "2",
            }
        ],
        [
            [
                "Ian volunteered to eat Dennis's menudo after already having a bowl "
                "because Ian despised eating intestine.",
                "Ian volunteered to eat Dennis's menudo after already having a bowl because Dennis despised eating "
                "intestine.",
            ]
        ],
    ),
    (
        "ARC-Challenge-Test.jsonl",
        [
            {
                "id": "Mercury_7175875",
                "answerKey": "C",
                "question": {
                    "stem": "An astronomer observes that a planet rotates faster.",
                    "choices": [
                        {"text": "Planetary density will decrease.", "label": "A"},
                        {"text": "Gravity will grow.", "label": "B"},
                    ],
                },
            }
        ],
        [
            [
                "An astronomer observes that a planet rotates faster. Planetary density will decrease.",
                "An astronomer observes that a planet rotates faster. Gravity will grow.",
            ]
        ],
    ),
    (
        "ai2_arc_hf_test.jsonl",
        [
            {
                "id": "M_1",
                "question": "Which is a gas?",
                "choices": {"text": ["Steam", "Ice"], "label": ["A", "B"]},
                "answerKey": "A",
            }
        ],
        [["Which is a gas? Steam", "Which is a gas? Ice"]],
    ),
    (
        "openbookqa_test.jsonl",
        [
            {
                "id": "8-376",
                "question": {
                    "stem": "Frilled sharks live",
                    "choices": [{"text": "on the ocean floor", "label": "A"}, {"text": "in trees", "label": "B"}],
                },
                "answerKey": "A",
                "fact1": "deep sea animals live deep in the ocean",
                "humanScore": 1.0,
                "clarity": 2.0,
                "turkIdAnonymized": "b356d338b7",
            }
        ],
        [["Frilled sharks live on the ocean floor", "Frilled sharks live in trees"]],
    ),
    (
        "openbookqa_hf_test.jsonl",
        [
            {
                "id": "8-376",
                "question_stem": "Frilled sharks live",
                "choices": {"text": ["deep", "high"], "label": ["A", "B"]},
                "answerKey": "A",
            }
        ],
        [["Frilled sharks live deep", "Frilled sharks live high"]],
    ),
]


def write_benchmark_file(path: Path, payload) -> Path:
    if isinstance(payload, str):
        path.write_text(payload, encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps(payload), encoding="utf-8")
    else:
        write_jsonl(path, payload)
    return path


@pytest.mark.parametrize("file_name, payload, expected", LAYOUT_CASES, ids=[c[0] for c in LAYOUT_CASES])
def test_gpt3_benchmarks_are_read_in_their_distributed_layouts(tmp_path, file_name, payload, expected):
    bench = read_benchmark(str(write_benchmark_file(tmp_path / file_name, payload)))
    assert not bench.skipped
    assert [sorted(texts) for texts in bench.examples] == [
        sorted(normalize_words(text) for text in texts) for texts in expected
    ]
    assert parse_field_mapping(str(bench.mapping)) == replace(bench.mapping, ignore=frozenset())  # the notebook's way


def test_every_layout_round_trips_and_bad_mappings_are_one_clear_error():
    for mapping in DEFAULT_MAPPINGS:
        assert parse_field_mapping(str(mapping)) == replace(mapping, ignore=frozenset())
    for spec in ("", ":answer", "a..b", "a[_=]", "x>", "a|"):
        with pytest.raises(ConfigError, match="bad field mapping"):
            parse_field_mapping(spec)
    record = {"passage": {"text": "p"}, "qas": [{"query": "q @x", "answers": [{"text": "a"}, {"text": "b"}]}]}
    mapping = parse_field_mapping("qas>passage.text,qas.query[@x=qas.answers.text]:more?")
    assert [example_texts(e, mapping) for e in mapping.examples(record)] == [["p q a", "p q b"]]


def test_split_comes_from_the_records_or_the_file_name():
    assert split_of("hellaswag", [{"split": "val"}, {"split": "val"}]) == "validation"
    assert split_of("cloze_test_val__spring2016", []) == "validation"
    assert split_of("cloze_test_test__spring2016", []) == "test"
    assert split_of("dev-v2.0", []) == "dev" and split_of("ARC-Challenge-Test", []) == "test"
    assert split_of("lambada_openai", [{"text": "x"}]) == "unknown"


def test_contamination_table_reads_like_gpt3_table_c1(tmp_path):
    rng = random.Random(7)
    sizes = {"a_test": 4, "b_dev": 2, "c": 2, "d_validation": 2}
    for name, count in sizes.items():
        write_jsonl(tmp_path / f"{name}.jsonl", [{"text": prose(rng, 120)} for _ in range(count)])
    with open(tmp_path / "c.jsonl", "a") as out:
        out.write(json.dumps({"text": "too short to match"}) + "\n")
    (tmp_path / "e_train.jsonl").write_text("")
    loaded = {b.name: b for b in load_benchmarks(str(tmp_path)).benchmarks}
    dirty = [loaded[name].example_hashes[0][0] for name in ("a_test", "b_dev", "c")]
    _, report, totals = contamination(list(loaded.values()), [(13, int(h), "web", 1) for h in dirty], CutPolicy())
    summary = summarize({}, report, {"benchmark": 0, **totals}, CutPolicy())
    table = summary["contamination_table"]
    assert [
        (r["benchmark"], r["split"], r["total"], r["dirty"], r["clean"], r["too_short"], r["clean_percent"])
        for r in table
    ] == [
        ("b_dev", "dev", 2, 1, 1, 0, 50.0),
        ("c", "unknown", 3, 1, 1, 1, 33.3),
        ("a_test", "test", 4, 1, 3, 0, 75.0),
        ("d_validation", "validation", 2, 0, 2, 0, 100.0),
        ("e_train", "train", 0, 0, 0, 0, None),
    ]
    assert json.loads(json.dumps(summary))["contamination_table"] == table
    lines = format_report(summary).splitlines()
    assert lines[0] == "| benchmark | split | N | total | dirty | clean | too short | clean % | found in |"
    assert lines[2:7] == [
        "| b_dev | dev | 13 | 2 | 1 | 1 | 0 | 50.0 | web 1 |",
        "| c | unknown | 13 | 3 | 1 | 1 | 1 | 33.3 | web 1 |",
        "| a_test | test | 13 | 4 | 1 | 3 | 0 | 75.0 | web 1 |",
        "| d_validation | validation | 13 | 2 | 0 | 2 | 0 | 100.0 | - |",
        "| e_train | train | 13 | 0 | 0 | 0 | 0 | - | - |",
    ]


# --- the Spark job ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Benchmarks and two training datasets with known contamination, and what the job must report."""
    root = tmp_path_factory.mktemp("planted")
    rng = random.Random(11)
    cloze = [{"context": prose(rng, 160), "continuation": " " + rng.choice(WORDS)} for _ in range(6)]
    cloze[2] = {"context": "a short item", "continuation": " indeed"}  # fewer than 13 words
    qa = [
        {"query": "Question: " + prose(rng, 90) + "?", "choices": [prose(rng, 40), prose(rng, 40)], "gold": 1}
        for _ in range(2)
    ]
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
    web = (
        [("page", page), ("fragmented", fragmented), ("whole-item", seen[4]), ("no-text", None)]
        + [(f"common-{k}", plant(prose(rng, 800), common, 300)[0]) for k in range(12)]
        + [(f"clean-{k}", prose(rng, 1200)) for k in range(5)]
    )
    books = [("book", book), ("other-book", prose(rng, 300_000))]
    page_item = len(qa[0]["query"]) + 1 + len(qa[0]["choices"][1])
    expect = {
        "books_removed": len(seen[0]) + 400,
        "web_removed": page_item + 400 + len(fragmented) + len(seen[4]),
        "book": (book_at, len(seen[0])),
        "page_text": page[: page_at - 200] + "\n\n" + page[page_at + page_item + 200 :],
    }
    return root, bench_dir, {"web": web, "books": books}, expect


def write_dataset(spark, path: Path, rows: list, partitions: int) -> str:
    frame = spark.createDataFrame(
        [(doc_id, f"https://example.com/{doc_id}", text) for doc_id, text in rows],
        "doc_id string, url string, text string",
    )
    frame.repartition(partitions).write.mode("overwrite").parquet(str(path))
    return str(path)


def run_planted(spark, planted, out: Path, partitions: int) -> dict:
    from curation.corpora import CorpusSpec

    root, bench_dir, datasets, _ = planted
    inputs = {
        name: CorpusSpec(name, write_dataset(spark, out / "in" / name, rows, partitions))
        for name, rows in datasets.items()
    }
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
    assert book == original[: start - 200] + "\n\n" + original[start + length + 200 :]
    ledger = spark.read.parquet(str(run / "books" / "ledger")).collect()
    assert [(r["doc_id"], r["outcome"], r["chars_removed"]) for r in ledger] == [("book", "changed", length + 400)]
    assert "| cloze | unknown | 13 | 6 | 3 | 2 | 1 | 33.3 | books 1, web 2 |" in (run / "report.md").read_text()

    again = run_planted(spark, planted, tmp_path / "again", partitions=1)  # other partitioning, same result
    assert again == summary
    rerun = {
        r["doc_id"]: r["text"]
        for r in spark.read.parquet(str(tmp_path / "again" / "run" / "web" / "documents")).collect()
    }
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
    from curation.extract import extract_to_parquet
    from curation.warc_records import ExtractOptions

    crawl = [str(p) for p in sorted((sample_dir / "crawl").glob("*.warc.gz"))]
    extract_to_parquet(spark, crawl, str(tmp_path / "extract"), ExtractOptions(extractor="resiliparse"))
    inputs = {
        "crawl": CorpusSpec("crawl", str(tmp_path / "extract" / "documents")),
        "books": CorpusSpec("books", str(sample_dir / "reference" / "books.jsonl.gz")),
    }
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
