"""The run report and funnel, from stage summaries as the stages write them."""

import json

from curation.report import funnel, funnel_markdown, write_funnel


def test_funnel_follows_the_crawl_through_every_stage(tmp_path):
    summaries = {
        "extract": {"records": 100, "documents": 40, "outcomes": {"extracted": 40, "not_response": 60}},
        "classify": {"documents_in": 40, "kept": 30},
        "dedup": {"datasets": {"crawl": {"documents_in": 30, "kept": 25}, "webtext": {"documents_in": 9, "kept": 9}}},
        "decontaminate": {"datasets": {"crawl": {"documents_in": 25, "dropped": 1, "chars_out": 5000},
                                       "webtext": {"documents_in": 9, "dropped": 0, "chars_out": 900}}},
    }
    for stage, summary in summaries.items():
        (tmp_path / stage).mkdir()
        (tmp_path / stage / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "mixture").mkdir()
    (tmp_path / "mixture" / "manifest.json").write_text(json.dumps(
        {"datasets": [{"name": "common_crawl", "documents": 24, "tokens": 1200}]}))

    crawl = [(r["stage"], r["documents"]) for r in funnel(tmp_path) if r["dataset"] in ("crawl", "common_crawl")]
    assert crawl == [("extract: records", 100), ("extract: documents", 40), ("classify: kept", 30),
                     ("dedup: kept", 25), ("decontaminate: kept", 24), ("mixture: tokenized", 24)]
    rows = write_funnel(tmp_path)
    assert json.loads((tmp_path / "funnel.json").read_text()) == rows
    assert "| decontaminate: kept | crawl | 24 | 5,000 |  |" in funnel_markdown(rows).splitlines()
    assert (tmp_path / "funnel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
