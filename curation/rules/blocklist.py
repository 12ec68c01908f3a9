"""URL and domain blocklists (like the UT1 blacklists' per-category `domains` and `urls` files).

A list is a file with one entry a line, or a directory holding `domains` and/or `urls` files (a UT1
category directory). An entry with a `/` is a URL, matched exactly after normalization (scheme, `www.`
kept as written, default port, fragment and trailing `/` dropped; host lower-cased); any other entry is a
host or domain, matched by the host and all of its subdomains (`example.com` blocks `a.b.example.com`, not
`notexample.com`). Blank lines, `#` comments and invalid entries (spaces, characters no host name has) are
counted in the summary, never fatal. A document is blocked by the first category (in config order) whose
list matches its URL; the reason is `blocklist:<category>`.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
HOST = re.compile(rf"^(?=.{{1,253}}$){LABEL}(?:\.{LABEL})*$")
DEFAULT_PORTS = {"http": "80", "https": "443"}
LIST_FILES = ("domains", "urls")


@dataclass(frozen=True)
class Blocklist:
    category: str
    domains: frozenset[str]
    urls: frozenset[str]
    entries: dict = field(default_factory=dict)  # domains, urls, comments, blank, invalid


def split_host_port(netloc: str) -> tuple[str, str]:
    host, _, port = netloc.rpartition("@")[2].partition(":")
    return host.lower().rstrip("."), port


def normalize_url(url: str | None) -> str | None:
    """`host[:port]/path[?query]`, or None when there is no host: the form url entries are compared in."""
    if not url:
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host, port = split_host_port(parts.netloc)
    if not host:
        return None
    port = "" if not port or DEFAULT_PORTS.get(parts.scheme.lower()) == port else f":{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{host}{port}{parts.path}".rstrip("/") + query


def url_host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = split_host_port(urlsplit(url if "://" in url else f"http://{url}").netloc)[0]
    except ValueError:
        return None
    return host or None


def parse_entries(lines, counts: Counter) -> tuple[set[str], set[str]]:
    """(domains, urls) from the lines of a list; counts every line as domains, urls, comments, blank, invalid."""
    domains, urls = set(), set()
    for raw in lines:
        entry = raw.strip()
        if not entry:
            counts["blank"] += 1
        elif entry.startswith("#"):
            counts["comments"] += 1
        elif "/" in entry:
            normalized = normalize_url(entry)
            if normalized and HOST.match(normalized.split("/")[0].split(":")[0]):
                urls.add(normalized)
                counts["urls"] += 1
            else:
                counts["invalid"] += 1
        else:
            host = entry.lower().removeprefix("*.").strip(".")
            if HOST.match(host):
                domains.add(host)
                counts["domains"] += 1
            else:
                counts["invalid"] += 1
    return domains, urls


def load_blocklist(category: str, path: str) -> Blocklist:
    """The list at `path` (a file, or a directory with `domains`/`urls` files); OSError when unreadable."""
    files = (
        [os.path.join(path, name) for name in LIST_FILES if os.path.isfile(os.path.join(path, name))]
        if os.path.isdir(path)
        else [path]
    )
    counts: Counter = Counter({key: 0 for key in ("domains", "urls", "comments", "blank", "invalid")})
    domains, urls = set(), set()
    for name in files:
        with open(name, encoding="utf-8", errors="replace") as stream:
            found_domains, found_urls = parse_entries(stream, counts)
        domains |= found_domains
        urls |= found_urls
    return Blocklist(category, frozenset(domains), frozenset(urls), dict(counts))


def blocked_by(url: str | None, blocklists: list[Blocklist]) -> str | None:
    """The category of the first list that blocks `url` (its host or a parent domain, or the exact URL)."""
    host = url_host(url)
    if not host or not blocklists:
        return None
    labels = host.split(".")
    suffixes = [".".join(labels[i:]) for i in range(len(labels))]
    normalized = None
    for blocklist in blocklists:
        if any(suffix in blocklist.domains for suffix in suffixes):
            return blocklist.category
        if blocklist.urls:
            normalized = normalized or normalize_url(url)
            if normalized in blocklist.urls:
                return blocklist.category
    return None
