"""The shared data's real HTML pages with hand-made gold text (`html/*.jsonl.gz`), read as pages with URLs.

Both builders of real-page data read them here: the real-page crawl (curation.realcrawl) and the experiment's
held-out split (curation.realsplit), so that they agree on every page's URL, and so its site. A page keeps its
real URL: the `url` field, else the page's own `<link rel=canonical>` / `og:url`, else a plausible URL on a
per-set host (`www.<set>-NN.example.org`, ~8 pages a host); a canonical URL that several pages share keeps its
host and gets a per-page path; a URL taken twice gets a `?n=` suffix.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from curation.sample import _slug
from curation.settings import shared_data_dir
from curation.urls import clean_url, declared_url

PAGES_PER_SYNTHETIC_HOST = 8


@dataclass(frozen=True)
class RealPage:
    """One real page: its set (the file's name), id, URL (and where the URL came from), UTF-8 HTML and gold."""

    set: str
    id: str
    url: str
    url_from: str  # field | canonical | synthetic
    html: bytes
    gold: str


GOLD_MARKUP = re.compile(r"<[^>]{0,20}>")


def gold_text(gold: str) -> str:
    """A page's gold text without CleanEval's `URL:` line and <p>/<h>/<l> markers."""
    if gold.startswith("URL:"):
        gold = gold.split("\n", 1)[1] if "\n" in gold else ""
    return GOLD_MARKUP.sub(" ", gold)


def hash_int(*parts) -> int:
    """A 64-bit number from `parts`: the seeded, platform-independent draw of the real-page builders."""
    return int.from_bytes(hashlib.sha1(":".join(map(str, parts)).encode()).digest()[:8], "big")


def html_files(html_dir=None) -> list[Path]:
    """The page files: `html_dir` (a directory of *.jsonl.gz or one file), default the shared data's html/."""
    path = Path(html_dir) if html_dir else shared_data_dir() / "html"
    files = sorted(path.glob("*.jsonl.gz")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"no page files (*.jsonl.gz) at {path}")
    return files


def unique_url(url: str, taken: set[str]) -> str:
    """`url`, or it with a `?n=` (`&n=`) suffix when `taken` holds it already; then taken."""
    candidate, number = url, 1
    while candidate in taken:
        candidate = f"{url}{'&' if '?' in url else '?'}n={number}"
        number += 1
    taken.add(candidate)
    return candidate


def read_pages(files) -> list[RealPage]:
    """Every page of `files` in file order, each with a unique URL (see the module docstring)."""
    pages, taken = [], set()
    for path in files:
        set_name = Path(path).name.removesuffix(".jsonl.gz")
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines]
        hosts = max(1, len(rows) // PAGES_PER_SYNTHETIC_HOST)
        for row in rows:
            url, url_from = clean_url(row.get("url") or ""), "field"
            if url is None:
                url, url_from = declared_url(row["html"]), "canonical"
            if url is None or url in taken:
                tail = _slug(row["id"].rsplit("/", 1)[-1]) or "index"
                if url is None:
                    host = f"www.{_slug(set_name)}-{hash_int(set_name, row['id']) % hosts:02d}.example.org"
                    url = f"http://{host}/articles/{tail}.html"
                else:  # a canonical URL several pages share (a home page): its host, a path of our own
                    url = f"http://{urlsplit(url).netloc}/{_slug(set_name)}/{tail}.html"
                url_from = "synthetic"
            pages.append(
                RealPage(
                    set_name,
                    row["id"],
                    unique_url(url, taken),
                    url_from,
                    row["html"].encode("utf-8", "replace"),
                    row.get("gold") or "",
                )
            )
    return pages
