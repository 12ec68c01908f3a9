"""The run report and funnel, from stage summaries as the stages write them."""

import json
import os

from curation.report import ORIGIN_FILES, funnel, funnel_markdown, write_funnel


def decontaminated(documents_in: int, chars_out: int, **outcomes: int) -> dict:
    """One dataset's row of decontaminate's summary: every outcome counted, 0 unless given."""
    names = ("unchanged", "changed", "no_text", "dropped_too_many_pieces", "dropped_nothing_left")
    return {"documents_in": documents_in, "chars_out": chars_out} | {name: outcomes.get(name, 0) for name in names}


def test_funnel_follows_the_crawl_through_every_stage(tmp_path):
    summaries = {
        "extract": {"records": 100, "documents": 40, "outcomes": {"extracted": 40, "not_response": 60}},
        "rules": {"documents_in": 40, "kept": 35, "rejected_by_reason": {"language:not_listed": 5}},
        "classify": {"documents_in": 35, "kept": 30, "rejected_by_reason": {"pareto_draw": 5}},
        "dedup": {
            "datasets": {
                "crawl": {"documents_in": 30, "kept": 25, "removed_exact": 3, "removed_fuzzy": 2},
                "webtext": {"documents_in": 9, "kept": 9, "removed_exact": 0, "removed_fuzzy": 0},
            }
        },
        "decontaminate": {
            "datasets": {
                "crawl": decontaminated(25, unchanged=20, changed=4, dropped_nothing_left=1, chars_out=5000),
                "webtext": decontaminated(9, unchanged=9, chars_out=900),
            }
        },
        "mixture": {"outcomes": {"common_crawl": {"documents_in": 24, "tokenized": 24, "chars": 5000}}},
    }
    for stage, summary in summaries.items():
        (tmp_path / stage).mkdir()
        (tmp_path / stage / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "mixture" / "manifest.json").write_text(
        json.dumps({"datasets": [{"name": "common_crawl", "documents": 24, "tokens": 1200}]})
    )

    crawl = [(r["stage"], r["documents"]) for r in funnel(tmp_path) if r["dataset"] in ("crawl", "common_crawl")]
    assert crawl == [
        ("extract: records", 100),
        ("extract: documents", 40),
        ("rules: kept", 35),
        ("classify: kept", 30),
        ("dedup: kept", 25),
        ("decontaminate: kept", 24),
        ("mixture: tokenized", 24),
    ]
    rows = write_funnel(tmp_path)
    assert json.loads((tmp_path / "funnel.json").read_text()) == rows
    assert "| decontaminate: kept | crawl | 24 | 5,000 |  |" in funnel_markdown(rows).splitlines()
    assert (tmp_path / "funnel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_funnel_characters_for_every_stage(tmp_path):
    """Characters from each stage's summary, or counted from its written output when the summary lacks them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    summaries = {
        "extract": {"records": 10, "documents": 3, "chars": 900, "outcomes": {"extracted": 3, "not_response": 7}},
        "classify": {"documents_in": 3, "kept": 2, "rejected_by_reason": {"pareto_draw": 1}},  # no chars: from kept/
        "dedup": {
            "datasets": {
                "crawl": {"documents_in": 2, "kept": 2, "removed_exact": 0, "removed_fuzzy": 0, "chars": 700},
                "webtext": {"documents_in": 2, "kept": 2, "removed_exact": 0, "removed_fuzzy": 0},
            }
        },  # no chars: counted from the texts
        "decontaminate": {"datasets": {"crawl": decontaminated(2, unchanged=2, chars_out=650)}},
        "mixture": {"outcomes": {"common_crawl": {"documents_in": 2, "tokenized": 2, "chars": 650}}},
    }
    for stage, summary in summaries.items():
        (tmp_path / stage).mkdir()
        (tmp_path / stage / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "classify" / "kept").mkdir()
    pq.write_table(
        pa.table({"text": ["a" * 300, "b" * 400], "n_chars": [300, 400]}),
        tmp_path / "classify" / "kept" / "part-0.parquet",
    )
    (tmp_path / "dedup" / "webtext").mkdir()
    pq.write_table(
        pa.table({"doc_id": ["w1", "w2"], "text": ["Zürich 東京", None]}),
        tmp_path / "dedup" / "webtext" / "part-0.parquet",
    )
    (tmp_path / "mixture" / "manifest.json").write_text(
        json.dumps({"datasets": [{"name": "common_crawl", "documents": 2, "tokens": 160}]})
    )

    chars = {(r["stage"], r["dataset"]): r.get("chars") for r in funnel(tmp_path)}
    assert chars == {
        ("extract: records", "crawl"): None,
        ("extract: documents", "crawl"): 900,
        ("classify: kept", "crawl"): 700,
        ("dedup: kept", "crawl"): 700,
        ("dedup: kept", "webtext"): 9,
        ("decontaminate: kept", "crawl"): 650,
        ("mixture: tokenized", "common_crawl"): 650,
    }
    assert "| mixture: tokenized | common_crawl | 2 | 650 | 160 |" in funnel_markdown(funnel(tmp_path)).splitlines()


def test_funnel_says_whether_its_data_is_generated_or_real(tmp_path):
    """The funnel names where the stages' input files came from: the demo's generated sample is said to be so."""
    sample, run = tmp_path / "sample", tmp_path / "run"
    (sample / "crawl").mkdir(parents=True)
    (sample / "sample.json").write_text("{}")
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "summary.json").write_text(json.dumps({"records": 2, "documents": 1, "outcomes": {}}))
    marker = {"inputs": {"files": [{"path": str(sample / "crawl" / "a.warc.gz"), "size": 1}]}}
    (run / "extract" / "_SUCCESS").write_text(json.dumps(marker))
    write_funnel(run)
    first = (run / "funnel.md").read_text().splitlines()[0]
    assert first == f"Data: {os.path.relpath(sample)}: {ORIGIN_FILES[0][1]}" and "GENERATED" in first
