"""Real-page crawl: the project's real HTML pages wrapped into Common-Crawl-like gzip WARC shards.

Why: benchmarks and quality claims (extraction F1, dedup precision/recall, pages per second) must be measured
on real pages, not on the sample's generated prose, whose markup and vocabulary are far too regular. The
shared data holds ~2,200 real pages with hand-made gold text (`html/*.jsonl.gz`) but no crawl around them;
this module builds one, deterministically, at any size:

- every chosen page once (`original`), at its real URL (or a plausible one: curation.gold_pages);
- planted byte-identical copies (`exact_duplicate`) and copies with a few % of their visible words
  substituted, deleted, inserted or sentences swapped (`near_duplicate`; markup, scripts and styles are never
  touched), at other URLs (URL variants on the same host, or mirror hosts) and always on another shard;
  `--responses` above the number of pages is reached by adding copies (100,000 for throughput runs);
- a few % of non-HTML (robots.txt, JSON, PNG, PDF), 404 and 301/302 responses on the pages' hosts.

Each shard is warcinfo, then request -> response -> metadata per capture, one record per gzip member, with
CC's WARC headers (record ids, dates, IP address, payload and block digests, identified payload type) and
plausible HTTP headers. `truth.jsonl` has a line per response: url, shard, offset, record_id, category,
status, content_type, page ({set, id} of the gold page, for extraction F1), duplicate_of / near_duplicate_of
(the original's URL) and edit ({kind, rate, edits}), location for redirects.

Deterministic: the plan comes from a seeded RNG, each capture's bytes from a RNG seeded with (seed, url), dates
from a fixed start, gzip headers carry mtime 0; shards are written by worker processes (any number, same
bytes). `realcrawl.json` records the parameters; a build whose parameters and files match is not redone.

  python -m curation.realcrawl --output DIR [--responses 3000] [--shards 8] [--seed 0] [--pages K]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from math import ceil
from pathlib import Path
from urllib.parse import urlsplit

from curation.errors import EXIT_CONFIG
from curation.gold_pages import RealPage, hash_int, html_files, read_pages, unique_url
from curation.manifest import file_sha256
from curation.near_copies import NEAR_EDITS, NEAR_RATES, TextNodes, near_duplicate, text_nodes
from curation.sample import (
    REASONS,
    USER_AGENT,
    _gzip_member,
    _record_id,
    _warc_date,
    non_html_body,
    payload_digest,
    status_html,
)

FORMAT = 1  # bump when the same parameters would give different bytes
DEFAULT_RESPONSES = 3000
DEFAULT_SHARDS = 8
DEFAULT_LEVEL = 6  # zlib level: ~1.4x the speed of 9 for the same size on HTML
MIN_RESPONSES = 20
SPECIAL_SHARES = {"not_html": 0.02, "not_found": 0.015, "redirect": 0.02}  # of --responses, at least 1 each
MIN_COPY_SHARE = 0.2  # of --responses: copies always get this much, even when it leaves pages out
SAME_HOST_COPY_SHARE = 0.3  # copies at a URL variant of the original's own host; the rest on mirror hosts
MIRROR_NAMES = ("news-archive", "feed-reader", "web-digest", "content-mirror", "daily-clips", "link-cache")
NOT_HTML = ("text/plain", "application/json", "image/png", "application/pdf")
SERVERS = (
    "nginx",
    "Apache",
    "cloudflare",
    "Apache/2.4.41 (Ubuntu)",
    "nginx/1.18.0",
    "Microsoft-IIS/10.0",
    "LiteSpeed",
    "openresty",
    "Apache/2.2.22 (Debian)",
    "GSE",
)
POWERED_BY = ("PHP/5.3.10-1ubuntu3.26", "PHP/7.4.33", "ASP.NET", "Express", "WP Engine", "PHP/5.6.40")
CACHE_CONTROL = ("max-age=600", "no-cache", "private, max-age=0", "public, max-age=3600", "max-age=0, must-revalidate")
CRAWL_START = datetime(2024, 5, 18, 1, 0, 0, tzinfo=timezone.utc)
SHARD_NAME = "realcrawl-{:05d}.warc.gz"
SUMMARY = "realcrawl.json"


@dataclass(frozen=True)
class Capture:
    """One planned response: what the shard writer needs to produce its records and truth line."""

    url: str
    category: str
    shard: int
    page: int | None = None  # index into the pages: the original, or what a copy copies
    status: int = 200
    content_type: str = ""  # not_html only
    location: str = ""  # redirects


def _seeded_order(pages: list[RealPage], seed: int) -> list[int]:
    return sorted(range(len(pages)), key=lambda i: hash_int(seed, "choose", pages[i].set, pages[i].id))


def choose_pages(pages: list[RealPage], count: int | None, seed: int) -> list[RealPage]:
    """A seeded choice of `count` pages (all when None), in their original order."""
    if count is None or count >= len(pages):
        return list(pages)
    return [pages[i] for i in sorted(_seeded_order(pages, seed)[:count])]


# ------------------------------------------------------------------------------------------ plan
def _copy_url(rng: random.Random, original: str, number: int, mirrors: int) -> str:
    parts = urlsplit(original)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if rng.random() < SAME_HOST_COPY_SHARE:
        variant = rng.randrange(3)
        if variant == 0:
            return f"{original}{'&' if parts.query else '?'}utm_source=feed&utm_medium=rss&utm_id={number}"
        if variant == 1:
            return f"{parts.scheme}://{parts.netloc}/print{parts.path}?copy={number}"
        return f"{parts.scheme}://m.{parts.netloc.removeprefix('www.')}{path}{'&' if parts.query else '?'}ref={number}"
    mirror = rng.randrange(mirrors)
    return f"https://{MIRROR_NAMES[mirror % len(MIRROR_NAMES)]}-{mirror:03d}.example.net/{number}/{parts.netloc}{path}"


def _special_capture(category: str, number: int, original: RealPage, shard: int) -> Capture:
    parts = urlsplit(original.url)
    base = f"{parts.scheme}://{parts.netloc}"
    if category == "not_html":
        content_type = NOT_HTML[number % len(NOT_HTML)]
        path = {
            "text/plain": "/robots.txt",
            "application/json": f"/wp-json/wp/v2/posts?page={number}",
            "image/png": f"/images/photo-{number}.png",
            "application/pdf": f"/files/report-{number}.pdf",
        }
        return Capture(base + path[content_type], category, shard, content_type=content_type)
    if category == "not_found":
        return Capture(f"{base}{parts.path.rsplit('/', 1)[0]}/removed-{number}.html", category, shard, status=404)
    if number % 2:  # 302 from a tracking link, 301 from the other www form of the URL
        return Capture(f"{base}/go/{number}", category, shard, status=302, location=original.url)
    host = parts.netloc.removeprefix("www.") if parts.netloc.startswith("www.") else "www." + parts.netloc
    query = f"?{parts.query}" if parts.query else ""
    return Capture(f"http://{host}{parts.path}{query}", category, shard, status=301, location=original.url)


def plan_crawl(pages: list[RealPage], responses: int, shards: int, seed: int) -> list[list[Capture]]:
    """Per shard, the captures in write order: originals (a host's pages together), copies on other shards
    than their original, the non-HTML/404/redirect responses; every URL unique."""
    specials = {category: max(1, round(share * responses)) for category, share in SPECIAL_SHARES.items()}
    n_originals = min(len(pages), responses - sum(specials.values()) - ceil(MIN_COPY_SHARE * responses))
    originals = sorted(_seeded_order(pages, seed)[:n_originals])
    by_host = sorted(originals, key=lambda i: (hash_int(seed, "host", urlsplit(pages[i].url).netloc), pages[i].url))
    shard_of = {page: rank * shards // len(by_host) for rank, page in enumerate(by_host)}
    taken = {pages[i].url for i in originals}
    captures = [Capture(pages[i].url, "original", shard_of[i], page=i) for i in originals]

    rng = random.Random(f"{seed}:realcrawl:plan")
    copies = responses - sum(specials.values()) - n_originals
    mirrors = max(len(MIRROR_NAMES), copies // 40)
    for number in range(copies):
        source = rng.choice(originals)
        shard = (shard_of[source] + 1 + rng.randrange(shards - 1)) % shards
        url = unique_url(_copy_url(rng, pages[source].url, number, mirrors), taken)
        captures.append(Capture(url, "exact_duplicate" if number % 2 == 0 else "near_duplicate", shard, page=source))
    for category, count in specials.items():
        for number in range(count):
            capture = _special_capture(category, number, pages[rng.choice(originals)], rng.randrange(shards))
            captures.append(replace(capture, url=unique_url(capture.url, taken)))
    plan: list[list[Capture]] = [[] for _ in range(shards)]
    for capture in sorted(captures, key=lambda c: hash_int(seed, "order", c.url)):
        plan[capture.shard].append(capture)
    return plan


# ------------------------------------------------------------------------------------------ WARC
def _warc_member(
    level: int,
    record_type: str,
    record_id: str,
    date: str,
    block: bytes,
    content_type: str,
    fields=(),
    identified_type: str = "",
) -> bytes:
    """One WARC record as one gzip member, its headers in Common Crawl's order."""
    head = [
        "WARC/1.0",
        f"WARC-Type: {record_type}",
        f"WARC-Date: {date}",
        f"WARC-Record-ID: {record_id}",
        f"Content-Length: {len(block)}",
        f"Content-Type: {content_type}",
        *(f"{k}: {v}" for k, v in fields),
        f"WARC-Block-Digest: {payload_digest(block)}",
    ]
    if identified_type:
        head.append(f"WARC-Identified-Payload-Type: {identified_type}")
    return _gzip_member(("\r\n".join(head) + "\r\n\r\n").encode() + block + b"\r\n\r\n", level)


def _ip_address(host: str) -> str:
    h = hash_int("ip", host)
    return f"{h % 200 + 23}.{h >> 8 & 255}.{h >> 16 & 255}.{(h >> 24) % 253 + 1}"


def _robots_txt(rng: random.Random, base: str) -> bytes:
    rules = rng.sample(["/admin/", "/search", "/cgi-bin/", "/wp-admin/", "/tmp/", "/print/", "/login", "/cart"], 4)
    lines = ["User-agent: *", *(f"Disallow: {rule}" for rule in rules)]
    if rng.random() < 0.5:
        lines.append(f"Crawl-delay: {rng.randint(1, 10)}")
    return ("\n".join(lines + ["", f"Sitemap: {base}/sitemap.xml", ""])).encode()


def _pdf(rng: random.Random) -> bytes:
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Length 3 0 R /Filter /FlateDecode >>\nstream\n"
        + rng.randbytes(rng.randint(500, 4000))
        + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


class ShardWriter:
    """Writes one shard's captures: a callable for worker processes, each with its own cache of text nodes."""

    def __init__(self, pages: list[RealPage], seed: int, level: int):
        self.pages, self.seed, self.level = pages, seed, level
        self.nodes: dict[int, TextNodes] = {}

    def _text_nodes(self, page: int) -> TextNodes:
        if page not in self.nodes:
            self.nodes[page] = text_nodes(self.pages[page].html)
        return self.nodes[page]

    def _payload(self, capture: Capture, rng: random.Random, host: str) -> tuple[bytes, str, dict]:
        """(HTTP body, Content-Type, the truth line's own keys) of one capture."""
        html_type = f"text/html; charset={'UTF-8' if hash_int('charset', host) % 2 else 'utf-8'}"
        if capture.page is not None:
            page = self.pages[capture.page]
            truth = {"page": {"set": page.set, "id": page.id}}
            nodes = self._text_nodes(capture.page) if capture.category == "near_duplicate" else None
            if nodes is None or not nodes.words:  # a page with no visible word can only be copied as it is
                if capture.category != "original":
                    truth.update(category="exact_duplicate", duplicate_of=page.url)
                return page.html, html_type, truth
            kind, rate = rng.choice(NEAR_EDITS), rng.choice(NEAR_RATES)
            body, kind, edits = near_duplicate(nodes, rng, kind, rate)
            truth.update(near_duplicate_of=page.url, edit={"kind": kind, "rate": rate, "edits": edits})
            return body, html_type, truth
        if capture.category == "not_html":
            if capture.content_type == "text/plain":
                body = _robots_txt(rng, "{0.scheme}://{0.netloc}".format(urlsplit(capture.url)))
            elif capture.content_type == "application/pdf":
                body = _pdf(rng)
            else:
                body = non_html_body(rng, capture.content_type)
            charset = "; charset=utf-8" if capture.content_type in ("text/plain", "application/json") else ""
            return body, capture.content_type + charset, {"page": None}
        if capture.status == 404:
            return status_html(404), html_type, {"page": None}
        return (
            status_html(capture.status, capture.location),
            "text/html; charset=iso-8859-1",
            {"page": None, "location": capture.location},
        )

    def __call__(self, job: tuple[Path, int, list[Capture]]) -> dict:
        """Write shard `job` = (path, shard number, captures); returns its truth lines and sizes."""
        path, shard, captures = job
        warcinfo_id = _record_id(random.Random(f"{self.seed}:realcrawl:warcinfo:{shard}"))
        clock = CRAWL_START + timedelta(minutes=10 * shard)
        fields = (
            f"isPartOf: realcrawl-seed-{self.seed}\r\npublisher: curation.realcrawl\r\ndescription: real HTML "
            "pages with gold text, wrapped as a crawl with planted copies\r\noperator: curation tests and "
            "benchmarks\r\nsoftware: curation.realcrawl\r\nrobots: classic\r\nformat: WARC File Format 1.0\r\n"
            "conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/\r\n"
        )
        truth, payload_bytes = [], 0
        with open(path, "wb") as out:
            out.write(
                _warc_member(
                    self.level,
                    "warcinfo",
                    warcinfo_id,
                    _warc_date(clock),
                    fields.encode(),
                    "application/warc-fields",
                    [("WARC-Filename", path.name)],
                )
            )
            for capture in captures:
                rng = random.Random(f"{self.seed}:realcrawl:{capture.url}")
                clock += timedelta(seconds=rng.randint(0, 3))
                url = urlsplit(capture.url)
                host, ip, date = url.hostname, _ip_address(url.hostname), _warc_date(clock)
                body, content_type, own = self._payload(capture, rng, host)
                request_id, response_id, metadata_id = (_record_id(rng) for _ in range(3))
                target = (url.path or "/") + (f"?{url.query}" if url.query else "")
                request = (
                    f"GET {target} HTTP/1.1\r\nUser-Agent: {USER_AGENT}\r\nAccept: text/html,application/"
                    "xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n"
                    f"Accept-Encoding: br,gzip\r\nHost: {url.netloc}\r\nConnection: Keep-Alive\r\n\r\n"
                )
                out.write(
                    _warc_member(
                        self.level,
                        "request",
                        request_id,
                        date,
                        request.encode(),
                        "application/http; msgtype=request",
                        [("WARC-Warcinfo-ID", warcinfo_id), ("WARC-IP-Address", ip), ("WARC-Target-URI", capture.url)],
                    )
                )
                offset = out.tell()
                response = self._http_head(capture, rng, clock, host, content_type, len(body)) + body
                out.write(
                    _warc_member(
                        self.level,
                        "response",
                        response_id,
                        date,
                        response,
                        "application/http; msgtype=response",
                        [
                            ("WARC-Warcinfo-ID", warcinfo_id),
                            ("WARC-Concurrent-To", request_id),
                            ("WARC-IP-Address", ip),
                            ("WARC-Target-URI", capture.url),
                            ("WARC-Payload-Digest", payload_digest(body)),
                        ],
                        content_type.split(";")[0],
                    )
                )
                charset = content_type.partition("charset=")[2]
                metadata = f"fetchTimeMs: {rng.randint(20, 2500)}\r\n" + (
                    f"charset-detected: {charset.upper()}\r\n" if charset else ""
                )
                out.write(
                    _warc_member(
                        self.level,
                        "metadata",
                        metadata_id,
                        date,
                        metadata.encode(),
                        "application/warc-fields",
                        [
                            ("WARC-Warcinfo-ID", warcinfo_id),
                            ("WARC-Concurrent-To", response_id),
                            ("WARC-Target-URI", capture.url),
                        ],
                    )
                )
                payload_bytes += len(body)
                truth.append(
                    json.dumps(
                        {
                            "url": capture.url,
                            "shard": path.name,
                            "offset": offset,
                            "record_id": response_id,
                            "category": capture.category,
                            "status": capture.status,
                            "content_type": content_type.split(";")[0],
                            **own,
                        },
                        ensure_ascii=False,
                    )
                )
        return {
            "file": path.name,
            "responses": len(captures),
            "bytes": path.stat().st_size,
            "payload_bytes": payload_bytes,
            "truth": truth,
        }

    @staticmethod
    def _http_head(
        capture: Capture, rng: random.Random, date: datetime, host: str, content_type: str, length: int
    ) -> bytes:
        lines = [
            f"HTTP/1.1 {capture.status} {REASONS[capture.status]}",
            f"Date: {format_datetime(date, usegmt=True)}",
            f"Server: {SERVERS[hash_int('server', host) % len(SERVERS)]}",
        ]
        if capture.status == 200 and hash_int("powered", host) % 3 == 0:
            lines.append(f"X-Powered-By: {POWERED_BY[hash_int('powered', host) % len(POWERED_BY)]}")
        if capture.location:
            lines.append(f"Location: {capture.location}")
        if capture.status == 200 and rng.random() < 0.5:
            modified = date - timedelta(days=rng.randint(1, 900), seconds=rng.randint(0, 86399))
            lines.append(f"Last-Modified: {format_datetime(modified, usegmt=True)}")
        lines += [
            f"Cache-Control: {rng.choice(CACHE_CONTROL)}",
            "Vary: Accept-Encoding",
            f"Content-Type: {content_type}",
            f"Content-Length: {length}",
            "Connection: close",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


_WRITER: ShardWriter | None = None  # the worker process's writer, inherited through fork


def _set_writer(writer: ShardWriter) -> None:
    global _WRITER
    _WRITER = writer


def _write_job(job) -> dict:
    return _WRITER(job)


# ---------------------------------------------------------------------------------------- driver
def _previous_build(out: Path, parameters: dict) -> dict | None:
    """The summary of the build already in `out` when it had these parameters and all its files are there."""
    try:
        summary = json.loads((out / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if summary.get("parameters") != parameters:
        return None
    files = [(out / f["file"], f["bytes"]) for f in summary["files"]]
    return summary if all(path.is_file() and path.stat().st_size == size for path, size in files) else None


def build_realcrawl(
    output,
    responses: int = DEFAULT_RESPONSES,
    shards: int = DEFAULT_SHARDS,
    seed: int = 0,
    pages: int | None = None,
    html_dir=None,
    level: int = DEFAULT_LEVEL,
    workers: int | None = None,
) -> dict:
    """Build the crawl under `output` (crawl/realcrawl-NNNNN.warc.gz, truth.jsonl, realcrawl.json) and return the
    summary, plus `seconds` and `skipped` (True when `output` already held this build). `pages`: a seeded choice
    of that many pages (default all); `html_dir`: a directory of *.jsonl.gz or one file (default shared data);
    `workers`: processes writing shards (default one per core; the bytes do not depend on it)."""
    if responses < MIN_RESPONSES or shards < 2 or (pages is not None and pages < 1) or not 0 <= level <= 9:
        raise ValueError(
            f"need responses >= {MIN_RESPONSES}, shards >= 2 (copies go to another shard), pages >= 1 "
            f"and 0 <= level <= 9; got responses={responses} shards={shards} pages={pages} level={level}"
        )
    started = time.perf_counter()
    files = html_files(html_dir)
    parameters = {
        "format": FORMAT,
        "responses": responses,
        "shards": shards,
        "seed": seed,
        "pages": pages,
        "level": level,
        "sources": [{"file": f.name, "sha256": file_sha256(f)} for f in files],
    }
    out = Path(output)
    previous = _previous_build(out, parameters)
    if previous:
        return {**previous, "seconds": round(time.perf_counter() - started, 2), "skipped": True}

    (out / SUMMARY).unlink(missing_ok=True)  # a build cut short leaves no summary, so it is redone
    (out / "crawl").mkdir(parents=True, exist_ok=True)
    for stale in (out / "crawl").glob(SHARD_NAME.replace("{:05d}", "*")):
        stale.unlink()
    available = read_pages(files)
    chosen = choose_pages(available, pages, seed)
    jobs = [
        (out / "crawl" / SHARD_NAME.format(shard), shard, captures)
        for shard, captures in enumerate(plan_crawl(chosen, responses, shards, seed))
    ]
    writer = ShardWriter(chosen, seed, level)
    workers = min(shards, workers or os.cpu_count() or 1)
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers, _set_writer, (writer,)) as pool:
            results = pool.map(_write_job, jobs, chunksize=1)
    else:
        results = [writer(job) for job in jobs]

    truth = [json.loads(line) for result in results for line in result["truth"]]
    (out / "truth.jsonl").write_text("".join(line + "\n" for r in results for line in r["truth"]), encoding="utf-8")
    originals = [
        chosen[i] for i in sorted({c.page for _, _, captures in jobs for c in captures if c.category == "original"})
    ]
    summary = {
        "parameters": parameters,
        "responses": len(truth),
        "records": len(results) + 3 * len(truth),  # warcinfo; request, response, metadata
        "categories": dict(sorted(Counter(t["category"] for t in truth).items())),
        "near_edits": dict(sorted(Counter(t["edit"]["kind"] for t in truth if "edit" in t).items())),
        "pages": {
            "available": len(available),
            "originals": len(originals),
            "url_from": dict(sorted(Counter(p.url_from for p in originals).items())),
            "sets": dict(sorted(Counter(p.set for p in originals).items())),
        },
        "bytes": sum(r["bytes"] for r in results),
        "payload_bytes": sum(r["payload_bytes"] for r in results),
        "files": [{"file": f"crawl/{r['file']}", "responses": r["responses"], "bytes": r["bytes"]} for r in results]
        + [{"file": "truth.jsonl", "bytes": (out / "truth.jsonl").stat().st_size}],
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return {**summary, "seconds": round(time.perf_counter() - started, 2), "skipped": False}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m curation.realcrawl", description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="the build's directory (reused when it holds this build)")
    parser.add_argument("--responses", type=int, default=DEFAULT_RESPONSES, help="response records in all")
    parser.add_argument("--shards", type=int, default=DEFAULT_SHARDS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pages", type=int, default=None, help="a seeded choice of this many pages (default all)")
    parser.add_argument(
        "--html",
        default=None,
        help="page files: a directory of *.jsonl.gz or one file (default: the shared data's html/)",
    )
    parser.add_argument("--level", type=int, default=DEFAULT_LEVEL, help="gzip level of the WARC members")
    parser.add_argument("--workers", type=int, default=None, help="processes writing shards (default: one per core)")
    args = parser.parse_args(argv)
    try:
        summary = build_realcrawl(
            args.output, args.responses, args.shards, args.seed, args.pages, args.html, args.level, args.workers
        )
    except (ValueError, FileNotFoundError) as error:
        parser.exit(EXIT_CONFIG, f"realcrawl: {error}\n")
    print(
        json.dumps(
            {
                "output": args.output,
                "responses": summary["responses"],
                "shards": args.shards,
                "categories": summary["categories"],
                "bytes": summary["bytes"],
                "payload_bytes": summary["payload_bytes"],
                "seconds": summary["seconds"],
                "skipped": summary["skipped"],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
