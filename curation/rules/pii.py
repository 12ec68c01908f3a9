"""PII redaction in kept text: e-mail addresses, public IPv4 addresses and (when asked) phone numbers are
replaced by fixed placeholders, and counted.

Which IPv4 addresses: four dotted numbers 0..255 not glued to other digits, dots or letters, that are
global (`ipaddress`: not private, loopback, link-local, reserved, shared or multicast) and are not a
version number: not preceded by `v`, `ver`, `version` or `release` (+ optional `.`/spaces), so
`version 1.2.3.4` stays. IPv6 addresses are not redacted. Phone numbers: North American 10-digit numbers
(`(555) 123-4567`, `555-123-4567`, `+1 555 123 4567`) and international numbers written with a leading
`+` and 8 to 15 digits in groups; they are off by default (digit groups in prose are often not phones).
"""

from __future__ import annotations

import ipaddress
import re

EMAIL_PLACEHOLDER, IP_PLACEHOLDER, PHONE_PLACEHOLDER = "<EMAIL_ADDRESS>", "<IP_ADDRESS>", "<PHONE_NUMBER>"
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
VERSION_BEFORE = re.compile(r"(?:\bv|\bver|\bversion|\brelease)\.?\s*$", re.IGNORECASE)
PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
    r"|\+\d{1,3}(?:[\s.-]?\d{2,4}){2,5})(?!\w)"
)


def is_public_ipv4(candidate: str) -> bool:
    try:
        address = ipaddress.IPv4Address(candidate)
    except ValueError:
        return False
    return address.is_global and not address.is_multicast


def redact_pii(text: str, phones: bool = False) -> tuple[str, dict[str, int]]:
    """(text with placeholders, {"email": n, "ip": n, "phone": n})."""
    counts = {"email": 0, "ip": 0, "phone": 0}
    if "@" in text:
        text, counts["email"] = EMAIL.subn(EMAIL_PLACEHOLDER, text)

    def ip(match: re.Match) -> str:
        if is_public_ipv4(match.group()) and not VERSION_BEFORE.search(text, max(0, match.start() - 12), match.start()):
            counts["ip"] += 1
            return IP_PLACEHOLDER
        return match.group()

    text = IPV4.sub(ip, text)
    if phones:
        text, counts["phone"] = PHONE.subn(PHONE_PLACEHOLDER, text)
    return text, counts
