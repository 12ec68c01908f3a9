"""The site and the URL of a web page: what groups pages of one site (the classifier's held-out split, the
real-page split of curation.realsplit) and the URL a saved page declares for itself (curation.realcrawl).
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

CANONICAL = re.compile(
    r"""<link\b[^>]*\brel\s*=\s*["']?canonical\b[^>]*>|"""
    r"""<meta\b[^>]*\bproperty\s*=\s*["']og:url["'][^>]*>""",
    re.I,
)
LINK_TARGET = re.compile(r"""\b(?:href|content)\s*=\s*["']([^"']+)["']""", re.I)


def registered_domain(url: str | None) -> str | None:
    """The site of a URL: its host's registered domain by the Public Suffix List (`news.bbc.co.uk` and
    `www.bbc.co.uk` -> `bbc.co.uk`; `data.gov.uk` and `x.blogspot.com` stay whole, their parents being
    public suffixes); the host itself where the list has no rule (an IP address, `localhost`); None without
    a host. The list is the copy the `tld` package ships (trafilatura's courlan depends on it): nothing is
    fetched at run time."""
    from tld import get_fld

    try:
        host = urlsplit(url).hostname if url else None
    except ValueError:  # e.g. an unbalanced '[' of an IPv6 literal
        return None
    host = (host or "").rstrip(".")
    return (get_fld(host, fix_protocol=True, fail_silently=True) or host) if host else None


def clean_url(url: str) -> str | None:
    """An absolute http(s) URL as a crawler would record it (entities decoded, no fragment, percent-encoded),
    or None."""
    url = html.unescape(url.strip()).split("#", 1)[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return quote(url if parts.path else url + "/", safe="!$%&'()*+,-./:;=?@[]_~")


def declared_url(page_html: str) -> str | None:
    """The URL a saved page declares for itself (`<link rel=canonical>` or `og:url`, absolute http(s) only)."""
    for tag in CANONICAL.finditer(page_html):
        target = LINK_TARGET.search(tag.group(0))
        url = clean_url(target.group(1)) if target else None
        if url:
            return url
    return None
