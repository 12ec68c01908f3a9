"""Input listing and opening: local files, globs, directories, path listings, http(s) and s3.

Remote archives are streamed in chunks to a local temporary file (retrying with exponential
backoff and resuming with HTTP Range requests), so that a connection dropped mid-file costs
one retry, not the file, and a damaged record can be skipped by seeking to the next one.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from curation.spark import ConfigError

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".wet", ".warc.wet", ".warc.wet.gz", ".wet.gz")
LISTING_SUFFIXES = (".paths", ".paths.gz", ".txt", ".txt.gz", ".list", ".list.gz")
REMOTE_SCHEMES = ("http://", "https://", "s3://")
RETRY_STATUS = {429, 500, 502, 503, 504}


def is_remote(path: str) -> bool:
    return path.startswith(REMOTE_SCHEMES)


def is_listing(path: str) -> bool:
    return path.endswith(LISTING_SUFFIXES)


def is_archive(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def expand_inputs(specs: list[str], prefix: str | None = None, limit: int | None = None) -> list[str]:
    """Every archive named by `specs`, in order, without duplicates; ConfigError on a bad spec.

    A spec is a local file, glob or directory, a listing file (one path per line, optionally
    gzipped, like Common Crawl's `warc.paths.gz`; relative entries get `prefix`), or a URL.
    """
    paths: list[str] = []
    for spec in specs:
        if is_remote(spec):
            paths.extend(read_listing(spec, prefix) if is_listing(spec) else [spec])
        elif glob.has_magic(spec):
            matched = sorted(glob.glob(spec))
            if not matched:
                raise ConfigError(f"input glob matches no file: {spec}")
            for path in matched:
                paths.extend(_local(path, prefix))
        elif not os.path.exists(spec):
            raise ConfigError(f"input does not exist: {spec}")
        else:
            paths.extend(_local(spec, prefix))
    unique = list(dict.fromkeys(paths))
    if not unique:
        raise ConfigError(f"no WARC/ARC/WET files found in: {' '.join(specs)}")
    return unique[:limit] if limit else unique


def _local(path: str, prefix: str | None) -> list[str]:
    if os.path.isdir(path):
        found = sorted(
            os.path.join(root, name)
            for root, _, names in os.walk(path)
            for name in names
            if is_archive(name)
        )
        return found
    if is_listing(path):
        return read_listing(path, prefix)
    return [path]


def read_listing(path: str, prefix: str | None) -> list[str]:
    """Entries of a path listing, joined to `prefix` when relative."""
    with open_input(path) as raw:
        data = raw.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    entries = [line.strip() for line in data.decode("utf-8").splitlines()]
    entries = [e for e in entries if e and not e.startswith("#")]
    if not entries:
        raise ConfigError(f"listing is empty: {path}")
    if prefix:
        return [e if is_remote(e) or os.path.isabs(e) else prefix.rstrip("/") + "/" + e for e in entries]
    first = entries[0]
    if not is_remote(first) and not os.path.isabs(first) and not os.path.exists(first):
        raise ConfigError(
            f"listing {path} holds relative paths (e.g. {first}) that do not exist here; "
            "pass --prefix (e.g. https://data.commoncrawl.org/)"
        )
    return entries


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    timeout_s: float = 60.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay_s, self.base_delay_s * 2**attempt)


    @classmethod
    def from_env(cls) -> "RetryPolicy":
        """Defaults, with the first backoff delay from $CURATION_RETRY_BASE_S."""
        return cls(base_delay_s=float(os.environ.get("CURATION_RETRY_BASE_S", "1.0")))


def open_input(path: str, retry: RetryPolicy | None = None):
    """A seekable binary file for `path`; remote ones are fetched to a temporary file first."""
    retry = retry or RetryPolicy.from_env()
    if path.startswith(("http://", "https://")):
        return _spooled(lambda out: download_http(path, out, retry))
    if path.startswith("s3://"):
        return _spooled(lambda out: download_s3(path, out))
    return open(path, "rb")


def _spooled(fetch) -> io.BufferedRandom:
    tmp = tempfile.TemporaryFile(prefix="curation-", dir=os.environ.get("SPARK_LOCAL_DIRS", "").split(",")[0] or None)
    try:
        fetch(tmp)
        tmp.seek(0)
        return tmp
    except BaseException:
        tmp.close()
        raise


def download_http(url: str, out, retry: RetryPolicy) -> int:
    """Stream `url` into `out`, retrying 429/5xx and dropped connections with exponential backoff.

    A retry after a partial body resumes where it stopped with a Range request.
    """
    written = 0
    for attempt in range(retry.attempts):
        request = urllib.request.Request(url, headers={"User-Agent": "curation-extract/0.1"})
        if written:
            request.add_header("Range", f"bytes={written}-")
        try:
            with urllib.request.urlopen(request, timeout=retry.timeout_s) as response:
                if written and response.status != 206:  # server ignored Range: start over
                    out.seek(0)
                    out.truncate()
                    written = 0
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    written += len(chunk)
                return written
        except urllib.error.HTTPError as err:
            if err.code not in RETRY_STATUS or attempt == retry.attempts - 1:
                raise
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            if attempt == retry.attempts - 1:
                raise
        time.sleep(retry.delay(attempt))
    raise OSError(f"giving up on {url}")  # unreachable: the last attempt re-raises


def download_s3(uri: str, out) -> int:
    try:
        import boto3
    except ImportError as err:  # checked before Spark starts by check_remote_support
        raise OSError("s3:// input needs boto3: pip install 'curation[s3]'") from err
    bucket, _, key = uri[len("s3://"):].partition("/")
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    shutil.copyfileobj(body, out, 1 << 20)
    return out.tell()


def check_remote_support(paths: list[str]) -> None:
    """Fail before Spark starts when s3:// inputs are named but boto3 is missing."""
    if any(p.startswith("s3://") for p in paths):
        try:
            import boto3  # noqa: F401
        except ImportError:
            raise ConfigError("s3:// inputs need boto3: pip install 'curation[s3]'") from None
