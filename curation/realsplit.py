"""Held-out real text for `make experiment-real`: the shared data split into what the pipeline may read and
what no model may see.

Why: the experiment asks whether curation lowers the loss on real text, so it must be measured on real
documents that none of its three models trained on. The shared reference corpora are training data of the
curated mixture (C), and the real pages are what the crawl (A, B) is made of; evaluating on either as it is
would score memorisation. This module splits both, deterministically, into derived files under OUT (git
ignores data/; the shared data is read, never copied into the repository):

  OUT/html/SET.jsonl.gz          the real pages of every site kept: the real-page crawl's input
                                 (`python -m curation.realcrawl --html OUT/html`)
  OUT/reference/NAME.jsonl.gz    each reference corpus less its held-out documents: configs/realcrawl.toml's
                                 [reference]
  OUT/held_out/web.jsonl.gz      the gold main text of the held-out sites' pages ({id, set, site, url, text})
  OUT/held_out/NAME.jsonl.gz     the held-out documents of each reference corpus, records as in the source
  OUT/split.json                 parameters, every count, the held-out sites, each file's sha256; a split
                                 whose parameters and sources match is not redone

- Web pages are held out by SITE, not by page: pages of one site share boilerplate, topics and authors, so a
  page of a crawled site would be half-seen. A site is the registered domain of the page's URL as the crawl
  records it (curation.gold_pages.read_pages); a page with no URL of its own (the crawl invents a host for it)
  is its own site. A site is held out when a hash of (seed, site) falls below `site_share`.
- Each reference corpus holds out its `held_out_docs` documents with the lowest hash of (seed, corpus, id),
  so small corpora (150 books) still give enough held-out text and large ones lose little.
- A held-out document whose text (whitespace-normalised, lower-cased) equals a training document's stays in
  training (`duplicate_of_training`): it is not unseen. Pages with no gold text are counted (`no_gold`).
- Held-out files are written in hash order, so their first documents (what the trainer's evaluation reads,
  `--eval-tokens` at most) are a random sample, not the first set or the first corpus's start.

  python -m curation.realsplit --output data/realsplit [--seed 0] [--site-share 0.05] [--held-out-docs 32]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

from curation.errors import EXIT_CONFIG
from curation.gold_pages import gold_text, hash_int, html_files, read_pages
from curation.manifest import file_sha256
from curation.settings import shared_data_dir
from curation.urls import registered_domain

FORMAT = 2  # bump when the same parameters would give different files or a different split.json
SUMMARY = "split.json"
DEFAULT_SITE_SHARE = 0.05
DEFAULT_HELD_OUT_DOCS = 32
GZIP_LEVEL = 6
# the shared reference corpora: name, file, the corpus-spec options their readers need
REFERENCE_FILES = (
    ("webtext", "webtext.jsonl.gz", ""),
    ("wikipedia", "wikipedia.jsonl.gz", ""),
    ("books", "books.jsonl.gz", ",strip_gutenberg=true"),
)
HASH_SPAN = 1 << 64  # hash_int's range


def page_site(url: str, url_from: str) -> str:
    """The site a crawled page belongs to: its URL's registered domain, or the URL itself when the crawl invented
    it (`url_from` "synthetic" on an example.org host: the page has no known site)."""
    if url_from == "synthetic" and url.split("/")[2].endswith(".example.org"):
        return url
    return registered_domain(url) or url


def held_out_site(seed: int, site: str, share: float) -> bool:
    return hash_int(seed, "held-out-site", site) < share * HASH_SPAN


def text_key(text: str) -> str:
    """What makes two documents the same text: their words, lower-cased."""
    return hashlib.sha1(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def clean_gold(gold: str) -> str:
    """Gold main text as running text: no CleanEval `URL:` line or markers, spaces collapsed, no empty lines."""
    return "\n".join(line for line in (" ".join(raw.split()) for raw in gold_text(gold).splitlines()) if line)


def choose_held_out(keys: list[str], seed: int, corpus: str, count: int) -> list[int]:
    """Positions of the `count` keys with the lowest hash of (seed, corpus, key), in that hash order."""
    return sorted(range(len(keys)), key=lambda i: hash_int(seed, "held-out-doc", corpus, keys[i]))[:count]


def _write_gzip_lines(path: Path, lines) -> int:
    """Write text lines (each ending in a newline) as a gzip file with mtime 0: the same lines, the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as out:
        for line in lines:
            out.write(line.encode("utf-8"))
            written += 1
    return written


def _read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [line if line.endswith("\n") else line + "\n" for line in lines if line.strip()]


def split_pages(html_dir: Path, out: Path, seed: int, site_share: float) -> dict:
    """OUT/html/SET.jsonl.gz (pages of the kept sites, lines as in the source) and OUT/held_out/web.jsonl.gz."""
    files = html_files(html_dir)
    pages = read_pages(files)  # the URLs the crawl will record, in file order
    held_out, outcomes, sites = [], Counter(), {"kept": set(), "held_out": set()}
    kept_keys = set()
    position = 0
    for path in files:
        lines, kept = _read_lines(path), []
        for line in lines:
            page = pages[position]
            position += 1
            site = page_site(page.url, page.url_from)
            if not held_out_site(seed, site, site_share):
                kept.append(line)
                kept_keys.add(text_key(clean_gold(page.gold)))
                sites["kept"].add(site)
                outcomes["crawl"] += 1
                continue
            sites["held_out"].add(site)
            text = clean_gold(page.gold)
            if not text:
                outcomes["no_gold"] += 1
                continue
            held_out.append({"id": page.id, "set": page.set, "site": site, "url": page.url, "text": text})
        _write_gzip_lines(out / "html" / path.name, kept)
    unseen = []
    for record in held_out:
        if text_key(record["text"]) in kept_keys:
            outcomes["duplicate_of_training"] += 1  # its page is in the crawl elsewhere: not unseen
        else:
            unseen.append(record)
    unseen.sort(key=lambda r: hash_int(seed, "held-out-order", r["set"], r["id"]))
    outcomes["held_out"] = _write_gzip_lines(
        out / "held_out" / "web.jsonl.gz", (json.dumps(r, ensure_ascii=False) + "\n" for r in unseen)
    )
    return {
        "pages": position,
        "outcomes": dict(sorted(outcomes.items())),
        "sites": {"kept": len(sites["kept"]), "held_out": len(sites["held_out"])},
        "held_out_sites": sorted(sites["held_out"]),
    }


def split_reference(source: Path, name: str, out: Path, seed: int, held_out_docs: int) -> dict:
    """OUT/reference/NAME.jsonl.gz (training part) and OUT/held_out/NAME.jsonl.gz (held-out part)."""
    lines = _read_lines(source)
    records = [json.loads(line) for line in lines]
    keys = [str(r.get("id", position)) for position, r in enumerate(records)]
    chosen = choose_held_out(keys, seed, name, held_out_docs)
    chosen_set = set(chosen)
    training_texts = {text_key(r.get("text") or "") for i, r in enumerate(records) if i not in chosen_set}
    moved = {i for i in chosen if text_key(records[i].get("text") or "") in training_texts}
    held_out = [i for i in chosen if i not in moved]
    training = [line for i, line in enumerate(lines) if i not in chosen_set or i in moved]
    _write_gzip_lines(out / "reference" / source.name, training)
    _write_gzip_lines(out / "held_out" / source.name, (lines[i] for i in held_out))
    return {
        "documents": len(lines),
        "training": len(training),
        "held_out": len(held_out),
        "duplicate_of_training": len(moved),
    }


def held_out_specs(out: Path) -> list[tuple[str, str]]:
    """(name, corpus spec) of every held-out text of the split at `out`: web pages first, then the references."""
    summary = json.loads((Path(out) / SUMMARY).read_text(encoding="utf-8"))
    return [(entry["name"], str(Path(out) / entry["file"]) + entry["options"]) for entry in summary["held_out"]]


def build_split(
    output,
    seed: int = 0,
    site_share: float = DEFAULT_SITE_SHARE,
    held_out_docs: int = DEFAULT_HELD_OUT_DOCS,
    shared=None,
) -> dict:
    """Write the split under `output` (see the module docstring) and return its summary, plus `seconds` and
    `skipped` (True when `output` already held this split). `shared`: the shared data (default settings')."""
    if not 0 < site_share < 1 or held_out_docs < 1:
        raise ValueError(f"need 0 < site_share < 1 and held_out_docs >= 1; got {site_share} and {held_out_docs}")
    started = time.perf_counter()
    shared = Path(shared) if shared else shared_data_dir()
    references = [(name, shared / "reference" / file, options) for name, file, options in REFERENCE_FILES]
    missing = [str(path) for _, path, _ in references if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"reference corpus {missing[0]} not found")
    sources = [*html_files(shared / "html"), *(path for _, path, _ in references)]
    parameters = {
        "format": FORMAT,
        "seed": seed,
        "site_share": site_share,
        "held_out_docs": held_out_docs,
        "sources": [{"file": f"{p.parent.name}/{p.name}", "sha256": file_sha256(p)} for p in sources],
    }
    out = Path(output)
    try:
        previous = json.loads((out / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None
    if (
        previous
        and previous["parameters"] == parameters
        and all(
            (out / f["file"]).is_file() and (out / f["file"]).stat().st_size == f["bytes"] for f in previous["files"]
        )
    ):
        return {**previous, "seconds": round(time.perf_counter() - started, 2), "skipped": True}

    (out / SUMMARY).unlink(missing_ok=True)  # a split cut short leaves no summary, so it is redone
    web = split_pages(shared / "html", out, seed, site_share)
    corpora = {name: split_reference(path, name, out, seed, held_out_docs) for name, path, _ in references}
    files = sorted(p for p in out.rglob("*.jsonl.gz"))
    summary = {
        "parameters": parameters,
        "web": web,
        "reference": corpora,
        "held_out": [
            {"name": "web", "file": "held_out/web.jsonl.gz", "options": "", "documents": web["outcomes"]["held_out"]}
        ]
        + [
            {"name": name, "file": f"held_out/{path.name}", "options": options, "documents": corpora[name]["held_out"]}
            for name, path, options in references
        ],
        "files": [
            {"file": str(p.relative_to(out)), "bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in files
        ],
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return {**summary, "seconds": round(time.perf_counter() - started, 2), "skipped": False}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m curation.realsplit", description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="the split's directory (reused when it holds this split)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--site-share", type=float, default=DEFAULT_SITE_SHARE, help="share of sites held out")
    parser.add_argument(
        "--held-out-docs", type=int, default=DEFAULT_HELD_OUT_DOCS, help="documents held out of each reference corpus"
    )
    args = parser.parse_args(argv)
    try:
        summary = build_split(args.output, args.seed, args.site_share, args.held_out_docs)
    except (ValueError, FileNotFoundError) as error:
        print(f"realsplit: error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    web = {**summary["web"], "held_out_sites": len(summary["web"]["held_out_sites"])}
    print(
        json.dumps(
            {
                "output": args.output,
                "web": web,
                "reference": summary["reference"],
                "seconds": summary["seconds"],
                "skipped": summary["skipped"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
