"""Input listing and opening: local files, globs, directories, path listings, http(s) and s3.

Remote archives are streamed in chunks to a local temporary file (retrying with exponential
backoff and resuming with HTTP Range requests), so that a connection dropped mid-file costs
one retry, not the file, and a damaged record can be skipped by seeking to the next one.

Timeouts are per socket operation, not per file: a short one to connect, and one per read that a
stalled server (connected, silent) runs out of quickly while a slow but moving stream never does,
however long the whole file takes. Every retry is printed to stderr (file, attempt, wait), so a
struggling source shows in the task's log instead of looking like a hang.
"""

from __future__ import annotations

import glob
import gzip
import http.client
import io
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from curation.errors import ConfigError

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".wet", ".warc.wet", ".warc.wet.gz", ".wet.gz")
LISTING_SUFFIXES = (".paths", ".paths.gz", ".txt", ".txt.gz", ".list", ".list.gz")
REMOTE_SCHEMES = ("http://", "https://", "s3://")
RETRY_STATUS = {429, 500, 502, 503, 504}
BOTO3_HINT = "pip install -e '.[s3]' in the repository (make's environment: .venv/bin/pip)"


def is_remote(path: str) -> bool:
    """A URL this module streams (http, https, s3)."""
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
            os.path.join(root, name) for root, _, names in os.walk(path) for name in names if is_archive(name)
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
    connect_timeout_s: float = 10.0  # to open the connection
    read_timeout_s: float = 30.0  # each read, the response headers included: a silent server fails here

    def delay(self, attempt: int) -> float:
        return min(self.max_delay_s, self.base_delay_s * 2**attempt)

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """Defaults, overridden by $CURATION_RETRY_ATTEMPTS, $CURATION_RETRY_BASE_S (the first backoff delay),
        $CURATION_CONNECT_TIMEOUT_S and $CURATION_READ_TIMEOUT_S."""
        names = {
            "attempts": "CURATION_RETRY_ATTEMPTS",
            "base_delay_s": "CURATION_RETRY_BASE_S",
            "connect_timeout_s": "CURATION_CONNECT_TIMEOUT_S",
            "read_timeout_s": "CURATION_READ_TIMEOUT_S",
        }
        defaults = cls()
        return cls(
            **{
                field: type(getattr(defaults, field))(os.environ[env])
                for field, env in names.items()
                if os.environ.get(env)
            }
        )


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


def _timed_connection(base: type, retry: RetryPolicy) -> type:
    """`base` (HTTPConnection or HTTPSConnection) connecting within the connect timeout, then waiting at
    most the read timeout for each read (the TLS handshake and the response headers included)."""

    class TimedConnection(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "timeout": retry.connect_timeout_s})

        def connect(self):
            super().connect()
            self.sock.settimeout(retry.read_timeout_s)

    return TimedConnection


class _TimedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, retry: RetryPolicy):
        super().__init__()
        self.connection = _timed_connection(http.client.HTTPConnection, retry)

    def http_open(self, request):
        return self.do_open(self.connection, request)


class _TimedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, retry: RetryPolicy):
        super().__init__()
        self.connection = _timed_connection(http.client.HTTPSConnection, retry)

    def https_open(self, request):
        return self.do_open(self.connection, request, context=self._context)


def download_http(url: str, out, retry: RetryPolicy) -> int:
    """Stream `url` into `out`, retrying 429/5xx, timeouts and dropped connections with exponential backoff.

    A retry after a partial body resumes where it stopped with a Range request. Each retry is one line
    on stderr; the last failure is raised.
    """
    opener = urllib.request.build_opener(_TimedHTTPHandler(retry), _TimedHTTPSHandler(retry))
    written = 0
    for attempt in range(retry.attempts):
        request = urllib.request.Request(url, headers={"User-Agent": "curation-extract/0.1"})
        if written:
            request.add_header("Range", f"bytes={written}-")
        try:
            with opener.open(request) as response:
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
            reason = f"HTTP {err.code} {err.reason}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as err:
            if attempt == retry.attempts - 1:
                raise
            reason = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
        wait = retry.delay(attempt)
        print(
            f"download: {url}: attempt {attempt + 1}/{retry.attempts} failed ({reason}); "
            f"retrying in {wait:g}s from byte {written}",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(wait)
    raise OSError(f"giving up on {url}")  # unreachable: the last attempt re-raises


def download_s3(uri: str, out) -> int:
    try:
        import boto3
    except ImportError as err:  # checked before Spark starts by check_remote_support
        raise OSError(f"s3:// input needs boto3: {BOTO3_HINT}") from err
    bucket, _, key = uri[len("s3://") :].partition("/")
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    shutil.copyfileobj(body, out, 1 << 20)
    return out.tell()


def check_remote_support(paths: list[str]) -> None:
    """Fail before Spark starts when s3:// inputs are named but boto3 is missing."""
    if any(p.startswith("s3://") for p in paths):
        try:
            import boto3  # noqa: F401
        except ImportError:
            raise ConfigError(f"s3:// inputs need boto3: {BOTO3_HINT}") from None
