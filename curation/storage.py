"""Files and directories on a local path or on any Hadoop filesystem URI, through one set of functions.

A job's output may be a local directory or a URI the cluster's Hadoop configuration can open
(`file://`, `hdfs://`, `s3a://` with the hadoop-aws jar on the classpath, ...). What a job does beside
writing DataFrames (publishing its staged output, its markers, listing what it wrote, resuming) goes
through here: `is_uri` alone decides, os functions for a local path, Hadoop's FileSystem API through
the driver's JVM for a URI (which needs the running SparkSession). So no stage assumes a local disk,
and a local path keeps plain files (Hadoop's local filesystem would add a `.NAME.crc` beside each).

A Hadoop rename is atomic on HDFS and local disks; on object stores (s3a) it is a copy, so a published
output there is complete but not published in one step.
"""

from __future__ import annotations

import os
import re
import shutil

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")  # scheme:/ ... : file:/x, file:///x, hdfs://nn/x, s3a://b/x


def is_uri(path: str) -> bool:
    """True for a filesystem URI (through Hadoop), False for a local path (through os)."""
    return bool(URI.match(path))


def local_path(path: str) -> str | None:
    """The os path of a local path or a `file:` URI; None for a URI of another filesystem (hdfs, s3a, ...)."""
    if not is_uri(path):
        return path
    if path.startswith("file:"):
        return "/" + path.removeprefix("file:").lstrip("/")
    return None


def hadoop_fs(spark, path: str):
    """(FileSystem, Path) of `path` on any Hadoop-supported filesystem (local, HDFS, s3a, ...)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


def active_hadoop_fs(path: str):
    """`hadoop_fs` of the running SparkSession: a URI is opened with the cluster's Hadoop configuration."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        raise RuntimeError(f"{path}: a filesystem URI is opened through a running SparkSession")
    return hadoop_fs(spark, path)


def split(path: str) -> tuple[str, str]:
    """(parent, name) of `path`; a URI keeps its scheme and authority (os.path.normpath would not)."""
    if is_uri(path):
        parent, _, name = path.rstrip("/").rpartition("/")
        return parent, name
    return os.path.split(os.path.normpath(path))


def exists(path: str) -> bool:
    if not is_uri(path):
        return os.path.lexists(path)
    fs, hadoop_path = active_hadoop_fs(path)
    return bool(fs.exists(hadoop_path))


def has_entries(directory: str) -> bool:
    """Whether `directory` is a directory that holds anything: one listing of it, not a walk below it."""
    if not is_uri(directory):
        return os.path.isdir(directory) and bool(os.listdir(directory))
    fs, hadoop_path = active_hadoop_fs(directory)
    if not fs.exists(hadoop_path) or not fs.getFileStatus(hadoop_path).isDirectory():
        return False
    return len(fs.listStatus(hadoop_path)) > 0


def file_size(path: str) -> int | None:
    """Size in bytes of the file `path`; None when it is missing or not a file."""
    if not is_uri(path):
        return os.path.getsize(path) if os.path.isfile(path) else None
    fs, hadoop_path = active_hadoop_fs(path)
    if not fs.exists(hadoop_path):
        return None
    status = fs.getFileStatus(hadoop_path)
    return int(status.getLen()) if status.isFile() else None


def make_dirs(path: str) -> None:
    if not is_uri(path):
        os.makedirs(path, exist_ok=True)
        return
    fs, hadoop_path = active_hadoop_fs(path)
    fs.mkdirs(hadoop_path)


def remove_tree(path: str) -> None:
    """Remove the file or directory `path` (a link itself, not what it points to); nothing when absent."""
    if is_uri(path):
        fs, hadoop_path = active_hadoop_fs(path)
        fs.delete(hadoop_path, True)
    elif os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def rename(source: str, target: str) -> None:
    """Move `source` to `target`, which must not exist (Hadoop would move a directory into it)."""
    if not is_uri(source):
        os.replace(source, target)
        return
    fs, source_path = active_hadoop_fs(source)
    _, target_path = active_hadoop_fs(target)
    if not fs.rename(source_path, target_path):
        raise OSError(f"cannot rename {source} to {target}")


def read_text(path: str) -> str:
    """The UTF-8 text of file `path`; FileNotFoundError when it is missing."""
    if not is_uri(path):
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    fs, hadoop_path = active_hadoop_fs(path)
    if not fs.isFile(hadoop_path):
        raise FileNotFoundError(path)
    stream = fs.open(hadoop_path)
    try:  # commons-io is on every Spark's classpath: the bytes in one py4j call
        return bytes(stream_bytes(stream)).decode("utf-8")
    finally:
        stream.close()


def stream_bytes(stream) -> bytes:
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession().sparkContext._jvm.org.apache.commons.io.IOUtils.toByteArray(stream)


def write_text(path: str, text: str) -> None:
    """Write file `path` (replacing it) with `text` in UTF-8."""
    if not is_uri(path):
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
        return
    fs, hadoop_path = active_hadoop_fs(path)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def file_sizes(directory: str) -> dict[str, int]:
    """{path relative to `directory`: size} of every file under it, sorted."""
    files = {}
    if not is_uri(directory):
        for folder, _, names in os.walk(directory):
            for name in names:
                path = os.path.join(folder, name)
                files[os.path.relpath(path, directory)] = os.path.getsize(path)
        return dict(sorted(files.items()))
    fs, hadoop_path = active_hadoop_fs(directory)
    root = fs.makeQualified(hadoop_path).toString().rstrip("/") + "/"
    listing = fs.listFiles(hadoop_path, True)
    while listing.hasNext():
        status = listing.next()
        files[status.getPath().toString().removeprefix(root)] = int(status.getLen())
    return dict(sorted(files.items()))
