"""Tests for the real experiment's held-out text (curation.realsplit) and the experiment's refusal to evaluate a
run on text it may have trained on (curation.experiment.check_run_excludes). Small hand-made inputs: no Spark,
no training."""

import gzip
import json
from pathlib import Path

import pytest

from curation.errors import ConfigError
from curation.experiment import check_run_excludes, split_held_out_specs
from curation.realcrawl import SUMMARY as CRAWL_SUMMARY
from curation.realcrawl import build_realcrawl
from curation.realsplit import build_split, choose_held_out, clean_gold, page_site

SITES = [f"site{n}.com" for n in range(24)]


def write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def page(n: int, site: str | None, gold: str) -> dict:
    url = f"http://www.{site}/story-{n}.html" if site else None
    return {
        "id": f"p{n}",
        "source": "test",
        "url": url,
        "gold": gold,
        "html": f"<html><body><h1>Story {n}</h1><p>{gold}</p></body></html>",
    }


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """A miniature of ../shared/data: two page sets on 24 sites (3 pages a site, one without gold, pages without
    URL too), three reference corpora of 20 documents, one of them twice in webtext."""
    root = tmp_path_factory.mktemp("shared")
    pages = [
        page(3 * i + k, site, f"Page {3 * i + k} of {site}: words about topic {i} and part {k}.")
        for i, site in enumerate(SITES)
        for k in range(3)
    ]
    pages[1]["gold"] = ""
    pages += [page(100 + n, None, f"URL: http://nowhere\n<p> An anonymous page {n}.\n\n <h> Heading") for n in range(6)]
    write_jsonl_gz(root / "html" / "news.jsonl.gz", pages[:40])
    write_jsonl_gz(root / "html" / "blogs.jsonl.gz", pages[40:])
    for name in ("webtext", "wikipedia", "books"):
        docs = [{"id": f"{name}-{n}", "text": f"{name} document {n} with its own words."} for n in range(20)]
        if name == "webtext":
            docs.append({"id": "webtext-copy", "text": docs[0]["text"].upper()})  # same words as webtext-0
        write_jsonl_gz(root / "reference" / f"{name}.jsonl.gz", docs)
    return root


@pytest.fixture(scope="module")
def split(shared, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("split")
    build_split(out, seed=0, site_share=0.3, held_out_docs=5, shared=shared)
    return out


def test_every_page_and_document_lands_in_exactly_one_part(shared, split):
    summary = json.loads((split / "split.json").read_text())
    pages = [r for f in sorted((shared / "html").glob("*.jsonl.gz")) for r in read_jsonl_gz(f)]
    crawl = [r for f in sorted((split / "html").glob("*.jsonl.gz")) for r in read_jsonl_gz(f)]
    web = read_jsonl_gz(split / "held_out" / "web.jsonl.gz")
    assert summary["web"]["pages"] == len(pages) == sum(summary["web"]["outcomes"].values())
    assert summary["web"]["outcomes"]["crawl"] == len(crawl) and summary["web"]["outcomes"]["held_out"] == len(web)
    assert web and crawl
    assert {r["id"] for r in web}.isdisjoint(r["id"] for r in crawl)
    for name in ("webtext", "wikipedia", "books"):
        source = read_jsonl_gz(shared / "reference" / f"{name}.jsonl.gz")
        training = read_jsonl_gz(split / "reference" / f"{name}.jsonl.gz")
        held_out = read_jsonl_gz(split / "held_out" / f"{name}.jsonl.gz")
        counts = summary["reference"][name]
        assert counts["documents"] == len(source) == counts["training"] + counts["held_out"]
        assert sorted(r["id"] for r in training + held_out) == sorted(r["id"] for r in source)
        assert len(held_out) == counts["held_out"] == 5 - counts["duplicate_of_training"]


def test_pages_are_held_out_by_site_and_never_seen_by_the_crawl(split):
    summary = json.loads((split / "split.json").read_text())
    held_out_sites = set(summary["web"]["held_out_sites"])
    crawl = [r for f in sorted((split / "html").glob("*.jsonl.gz")) for r in read_jsonl_gz(f)]
    crawl_sites = {page_site(r["url"], "field") for r in crawl if r["url"]}
    assert held_out_sites and crawl_sites.isdisjoint(held_out_sites)
    for record in read_jsonl_gz(split / "held_out" / "web.jsonl.gz"):
        assert record["site"] in held_out_sites and record["text"]


def test_page_site_is_the_registered_domain_or_the_page_when_the_crawl_invented_its_host():
    assert page_site("http://news.bbc.co.uk/a.html", "field") == "bbc.co.uk"
    assert page_site("http://www.bbc.co.uk/b.html", "canonical") == "bbc.co.uk"
    invented = "http://www.dragnet-03.example.org/articles/x.html"
    assert page_site(invented, "synthetic") == invented


def test_gold_text_is_cleaned_of_cleaneval_markup():
    assert clean_gold("URL: http://x.org\n\n <p>  One   two.\n\n\n <h> Three") == "One two.\nThree"


def test_a_held_out_document_with_a_training_twin_stays_in_training(shared, tmp_path):
    ids = [r["id"] for r in read_jsonl_gz(shared / "reference" / "webtext.jsonl.gz")]
    ranking = [ids[i] for i in choose_held_out(ids, 0, "webtext", len(ids))]
    first_twin = min(ranking.index("webtext-0"), ranking.index("webtext-copy"))
    build_split(tmp_path, seed=0, site_share=0.3, held_out_docs=first_twin + 1, shared=shared)  # one twin chosen
    counts = json.loads((tmp_path / "split.json").read_text())["reference"]["webtext"]
    assert counts["duplicate_of_training"] == 1 and counts["held_out"] == first_twin
    training_ids = {r["id"] for r in read_jsonl_gz(tmp_path / "reference" / "webtext.jsonl.gz")}
    assert {"webtext-0", "webtext-copy"} <= training_ids and len(training_ids) == len(ids) - first_twin


def test_split_is_deterministic_and_reused(shared, split, tmp_path):
    again = build_split(tmp_path, seed=0, site_share=0.3, held_out_docs=5, shared=shared)
    assert not again["skipped"]
    files = json.loads((split / "split.json").read_text())["files"]
    assert files == json.loads((tmp_path / "split.json").read_text())["files"]  # same bytes (sha256)
    assert build_split(tmp_path, seed=0, site_share=0.3, held_out_docs=5, shared=shared)["skipped"]
    other = build_split(tmp_path / "other", seed=1, site_share=0.3, held_out_docs=5, shared=shared)
    assert other["web"]["held_out_sites"] != again["web"]["held_out_sites"]


def test_held_out_specs_name_every_held_out_text(split):
    specs = split_held_out_specs(split)
    assert [s.split("=")[0] for s in specs] == ["real.web", "real.webtext", "real.wikipedia", "real.books"]
    assert specs[-1].endswith("books.jsonl.gz,strip_gutenberg=true")


def fake_run(root: Path, reference: Path, crawl: Path) -> Path:
    """The markers of a pipeline run whose dedup read `reference`'s corpora and whose extract read `crawl`."""
    run = root / "run"
    inputs = {
        "dedup": [reference / f"{name}.jsonl.gz" for name in ("webtext", "wikipedia", "books")],
        "extract": sorted((crawl / "crawl").glob("*.warc.gz")),
    }
    for stage, files in inputs.items():
        (run / stage).mkdir(parents=True, exist_ok=True)
        marker = {"stage": stage, "inputs": {"files": [{"path": str(f)} for f in files], "stages": {}}}
        (run / stage / "_SUCCESS").write_text(json.dumps(marker))
    return run


def test_experiment_refuses_a_run_that_may_have_seen_the_held_out_text(shared, split, tmp_path):
    crawl = tmp_path / "crawl"
    build_realcrawl(crawl, responses=40, shards=2, html_dir=split / "html", workers=1)
    check_run_excludes(fake_run(tmp_path / "good", split / "reference", crawl), split)

    with pytest.raises(ConfigError, match="reference corpora are not the training parts"):
        check_run_excludes(fake_run(tmp_path / "shared-refs", shared / "reference", crawl), split)

    full_crawl = tmp_path / "full-crawl"
    build_realcrawl(full_crawl, responses=40, shards=2, html_dir=shared / "html", workers=1)
    with pytest.raises(ConfigError, match="was not built from"):
        check_run_excludes(fake_run(tmp_path / "full", split / "reference", full_crawl), split)

    (crawl / CRAWL_SUMMARY).unlink()
    with pytest.raises(ConfigError, match="not a real-page crawl"):
        check_run_excludes(fake_run(tmp_path / "no-summary", split / "reference", crawl), split)
