"""A Spark standalone cluster on this machine, and `spark-submit` to it: what `make test-cluster` and
`make bench-cluster` run, and a way to try the README's cluster recipe on a laptop.

The cluster is the one a user would start: a master and N workers from pyspark's own `spark-class` (the
Spark this project runs everywhere), each worker with one core, 1 GiB and a work directory of its own,
bound to 127.0.0.1. The daemons run without the driver's Python settings (no PYSPARK_*/PYTHON*
variables), so executors use only the Python a job names or the workers' `executor_python` (a bare
one, in the test: then executors have only what the job ships). Each daemon is started in a process
group of its own and stopped with it, executors and their Python workers included.

`submit` runs `spark-submit` in client mode with the driver in this Python and Spark's event log on: the
event log (`job_seconds`) tells how long the job's Spark jobs ran, which is what scales with workers,
apart from the start-up (JVMs, executors, unpacking the shipped environment) that the wall clock adds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from curation.package import PREFLIGHT

START_TIMEOUT_S = 180


def spark_script(name: str) -> str:
    """pyspark's own bin/NAME (spark-class, spark-submit)."""
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / name)


def clean_env(**extra: str) -> dict:
    """This process's environment without the driver venv's Python settings, on 127.0.0.1, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYSPARK_", "PYTHON"))}
    return {**env, "SPARK_LOCAL_IP": "127.0.0.1", **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Cluster:
    url: str  # spark://127.0.0.1:PORT
    ui_port: int  # the master's web UI, whose /json/ says its workers and applications

    def state(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as response:
            return json.load(response)

    def application_names(self) -> list[str]:
        state = self.state()
        return [app["name"] for app in state["completedapps"] + state["activeapps"]]


@contextmanager
def standalone_cluster(root: Path, workers: int, executor_python: str | None = None):
    """A master and `workers` one-core workers started under `root` (their logs and work directories); with
    `executor_python`, the Python executors run unless a job names another. Stopped at the end."""
    env = clean_env(SPARK_DAEMON_MEMORY="512m", **({"PYSPARK_PYTHON": executor_python} if executor_python else {}))
    cluster = Cluster(f"spark://127.0.0.1:{free_port()}", free_port())
    daemons: dict[str, subprocess.Popen] = {}

    def start(name: str, *args: str) -> None:
        with open(root / f"{name}.log", "w") as log:
            command = [spark_script("spark-class"), *args]
            daemons[name] = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    try:
        port = cluster.url.rsplit(":", 1)[1]
        master = ("--host", "127.0.0.1", "--port", port, "--webui-port", str(cluster.ui_port))
        start("master", "org.apache.spark.deploy.master.Master", *master)
        for number in range(1, workers + 1):
            name = f"worker{number}"
            resources = ("--cores", "1", "--memory", "1g", "--webui-port", "0", "--work-dir", str(root / name))
            start(name, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", *resources, cluster.url)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if cluster.state()["aliveworkers"] == workers:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or any(daemon.poll() is not None for daemon in daemons.values()):
                logs = "\n".join((root / f"{name}.log").read_text()[-1500:] for name in daemons)
                raise RuntimeError(f"the standalone cluster did not start:\n{logs}")
            time.sleep(0.5)
        yield cluster
    finally:
        for daemon in daemons.values():
            os.killpg(daemon.pid, signal.SIGTERM)
        for daemon in daemons.values():
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)


def submit(
    cluster: Cluster,
    cores: int,
    script: Path,
    arguments: list[str],
    cwd: Path,
    shipping: list[str],
    conf: dict[str, str] | None = None,
    event_log: Path | None = None,
    timeout: int = 900,
) -> subprocess.CompletedProcess:
    """`spark-submit` `script` with `arguments` to `cluster` on `cores` executor cores, the driver in this
    Python (client mode), with the `shipping` options (--archives, --py-files, the executors' Python); with
    `event_log`, Spark's event log is written into that directory (see `job_seconds`)."""
    settings = {
        "spark.pyspark.driver.python": sys.executable,
        "spark.ui.enabled": "false",
        **(conf or {}),
        **({"spark.eventLog.enabled": "true", "spark.eventLog.dir": event_log.as_uri()} if event_log else {}),
        # one plain JSON-lines file an application (Spark 4 compresses it by default)
        **({"spark.eventLog.rolling.enabled": "false", "spark.eventLog.compress": "false"} if event_log else {}),
    }
    env = clean_env(CURATION_SPARK_LOG_LEVEL="ERROR", PYSPARK_DRIVER_PYTHON=sys.executable)
    command = [
        spark_script("spark-submit"),
        "--master",
        cluster.url,
        "--total-executor-cores",
        str(cores),
        "--executor-memory",
        "1g",
        "--driver-memory",
        "1g",
        *(f"--conf={key}={value}" for key, value in settings.items()),
        *shipping,
        str(script),
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def job_seconds(event_log: Path) -> float:
    """Seconds during which at least one Spark job of the application(s) logged in `event_log` ran (the
    union of their start-end intervals), the pre-flight check left out (curation.package.check_executors:
    its tasks are where each executor fetches and unpacks the shipped environment): the work, without the
    start-up around it."""
    intervals, started = [], {}
    for log in sorted(event_log.iterdir()):
        with open(log, encoding="utf-8") as stream:
            for line in stream:
                event = json.loads(line)
                if event["Event"] == "SparkListenerJobStart":
                    description = (event.get("Properties") or {}).get("spark.job.description") or ""
                    if not description.startswith(PREFLIGHT):
                        started[(log.name, event["Job ID"])] = event["Submission Time"]
                elif event["Event"] == "SparkListenerJobEnd" and (log.name, event["Job ID"]) in started:
                    intervals.append((started.pop((log.name, event["Job ID"])), event["Completion Time"]))
    total, reach = 0, None
    for begin, end in sorted(intervals):
        if reach is None or begin > reach:
            total += end - begin
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total / 1000
