"""`make package`: what a cluster's executors need, built so that a job can ship it (`python -m curation.package`).

Executors on other machines have none of this project's Python packages, and must not need them: a job
ships them. Two archives go with every `spark-submit`:

- `env.tar.gz` (`--archives build/env.tar.gz#env`, `spark.pyspark.python=./env/bin/python`): a fresh virtual
  environment holding only the runtime dependencies (setup.cfg's install_requires and what they require),
  at the versions installed in the project's own environment, packed with venv-pack. pyspark and py4j are
  left out: every executor has Spark's own (python/lib/pyspark.zip and py4j-*.zip of the Spark it runs).
  The versions are written to `requirements.lock` first and the environment is installed from it alone
  (`--no-deps`), so that a rebuild installs the same set; one whose lock is unchanged is not reinstalled.
- `curation.zip` (`--py-files build/curation.zip`): the package's code, its entries sorted and dated
  1980-01-01, so that the same code gives the same bytes. Code changes need only this one rebuilt.

The environment's interpreter is a link to the Python it was made from (venv-pack's one caveat): the
executors need a Python of the same version at the same path, or a container image built from this lock.

`check_executors` is the other half: a job on a cluster first asks its executors to import what it
needs, so that a job submitted without the archives stops with one line that says so, not with a
task failure retried on every executor.
"""

from __future__ import annotations

import argparse
import configparser
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile

from curation.errors import ConfigError
from curation.settings import PROJECT_ROOT

PROVIDED_BY_SPARK = {"pyspark", "py4j"}  # on every executor, from the Spark installation it runs
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can say: entries dated alike, archives byte-identical
LOCK, ENV, ENV_ARCHIVE, CODE_ARCHIVE = "requirements.lock", "env", "env.tar.gz", "curation.zip"
# the top-level module of each of setup.cfg's install_requires but pyspark (tests/test_package.py keeps them in
# step): what a job's executors import, some only inside a UDF; listed here, as the driver may run from
# curation.zip, without setup.cfg or the package's metadata
RUNTIME_MODULES = (
    "numpy",
    "pandas",
    "pyarrow",
    "warcio",
    "trafilatura",
    "lxml_html_clean",
    "resiliparse",
    "pycld2",
    "datasketch",
    "tokenizers",
    "matplotlib",
    "tld",
)
PREFLIGHT = "pre-flight"  # the description of check_executors' Spark job
PACKAGE_HINT = "ship the environment and the code with the job: `make package`, then submit with the lines it prints"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(setup_cfg: str = str(PROJECT_ROOT / "setup.cfg")):
    """The `packaging` Requirements of setup.cfg's install_requires that apply to this interpreter."""
    from packaging.requirements import Requirement

    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    lines = [line.strip() for line in parser["options"]["install_requires"].splitlines() if line.strip()]
    requirements = [Requirement(line) for line in lines]
    return [r for r in requirements if r.marker is None or r.marker.evaluate()]


def dependency_closure(requirements) -> dict[str, str]:
    """{distribution: installed version} of `requirements` and everything they require (the extras they
    name included), read from this interpreter's installed metadata; pyspark and py4j left out."""
    from packaging.requirements import Requirement

    pinned: dict[str, str] = {}
    pending = [(r, set(r.extras)) for r in requirements]
    while pending:
        requirement, extras = pending.pop()
        name = canonical(requirement.name)
        if name in PROVIDED_BY_SPARK or name in pinned:
            continue
        try:
            distribution = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            raise ConfigError(f"{requirement.name} is not installed here: run `make venv` first") from None
        pinned[name] = distribution.version
        for line in distribution.requires or []:
            needed = Requirement(line)
            active = needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras or {""})
            if active:
                pending.append((needed, set(needed.extras)))
    return dict(sorted(pinned.items()))


def lock_text(pinned: dict[str, str]) -> str:
    header = "# make package: the executors' environment, pinned from the project's .venv (pyspark, py4j: Spark's)\n"
    return header + "".join(f"{name}=={version}\n" for name, version in pinned.items())


def build_environment(out: str, lock: str) -> bool:
    """A fresh venv OUT/env with exactly the lock's packages; False when the one there has this lock already."""
    env = os.path.join(out, ENV)
    stamp = os.path.join(env, LOCK)
    if os.path.isfile(stamp) and open(stamp, encoding="utf-8").read() == lock:
        return False
    shutil.rmtree(env, ignore_errors=True)
    subprocess.run([sys._base_executable, "-m", "venv", env], check=True)
    lock_file = os.path.join(out, LOCK)
    pip = [os.path.join(env, "bin", "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", "-r", lock_file], check=True)
    with open(stamp, "w", encoding="utf-8") as stream:
        stream.write(lock)
    return True


def pack_environment(out: str, rebuilt: bool) -> str:
    """OUT/env.tar.gz from OUT/env with venv-pack (again only when the environment changed)."""
    import venv_pack

    archive = os.path.join(out, ENV_ARCHIVE)
    if rebuilt or not os.path.isfile(archive):
        venv_pack.pack(prefix=os.path.join(out, ENV), output=archive, force=True)
    return archive


def code_archive(out: str, package_dir: str = str(PROJECT_ROOT / "curation")) -> str:
    """OUT/curation.zip: every file of the package (code, weights, log4j2.properties), no bytecode."""
    archive = os.path.join(out, CODE_ARCHIVE)
    root = os.path.dirname(package_dir)
    names = sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, folders, files in os.walk(package_dir)
        for name in files
        if "__pycache__" not in folder and not name.endswith(".pyc")
    )
    with zipfile.ZipFile(archive + ".tmp", "w", zipfile.ZIP_DEFLATED) as zipped:
        for name in names:
            entry = zipfile.ZipInfo(name, ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o100644 << 16
            with open(os.path.join(root, name), "rb") as stream:
                zipped.writestr(entry, stream.read())
    os.replace(archive + ".tmp", archive)
    return archive


def submit_lines(out: str) -> dict[str, str]:
    """The spark-submit command lines that ship OUT's archives, per cluster manager."""
    env, code = os.path.join(out, ENV_ARCHIVE), os.path.join(out, CODE_ARCHIVE)
    ship = f"--archives {env}#env --py-files {code} --conf spark.pyspark.python=./env/bin/python"
    return {
        "standalone": f"spark-submit --master spark://HOST:7077 {ship} "
        "--conf spark.pyspark.driver.python=.venv/bin/python jobs/pipeline.py --config run.toml",
        "yarn": f"spark-submit --master yarn --deploy-mode cluster {ship} "
        "--conf spark.pyspark.driver.python=./env/bin/python --files run.toml jobs/pipeline.py --config run.toml",
        "kubernetes": "spark-submit --master k8s://https://API-SERVER:6443 --deploy-mode cluster "
        "--conf spark.kubernetes.container.image=IMAGE-WITH-JAVA-17-AND-THIS-PYTHON "
        "--conf spark.kubernetes.file.upload.path=s3a://BUCKET/uploads "
        f"{ship} --conf spark.pyspark.driver.python=./env/bin/python --files run.toml "
        "jobs/pipeline.py --config run.toml",
    }


def build(out: str) -> dict:
    """Lock, environment, both archives under `out`; what was built and how large, for the line it prints."""
    started = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    lock = lock_text(dependency_closure(runtime_requirements()))
    with open(os.path.join(out, LOCK), "w", encoding="utf-8") as stream:
        stream.write(lock)
    rebuilt = build_environment(out, lock)
    env_archive, code = pack_environment(out, rebuilt), code_archive(out)
    return {
        "lock": os.path.join(out, LOCK),
        "packages": lock.count("=="),
        "environment_rebuilt": rebuilt,
        "env_archive": env_archive,
        "env_archive_mb": round(os.path.getsize(env_archive) / 1e6, 1),
        "code_archive": code,
        "code_archive_kb": round(os.path.getsize(code) / 1e3, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


def check_executors(spark, job_module: str) -> None:
    """On a cluster (not local mode), raise ConfigError with one line unless every executor's Python
    imports what the job needs: its module (and through it the stage code) and RUNTIME_MODULES. One task
    per core, each returning its first failed import rather than raising it (a raised one would be retried
    spark.task.maxFailures times, with a traceback each)."""
    context = spark.sparkContext
    if context.master.startswith("local"):
        return
    modules = [job_module, *RUNTIME_MODULES]

    def first_failure(_):
        import importlib
        import sys

        for module in modules:
            try:
                importlib.import_module(module)
            except Exception as err:  # noqa: BLE001 - any failed import is the answer
                return f"{module} ({type(err).__name__}: {err}; executor Python {sys.executable})"
        return None

    tasks = max(context.defaultParallelism, 1)
    context.setJobDescription(f"{PREFLIGHT}: can the executors import the job's modules?")
    try:
        failures = [f for f in context.parallelize(range(tasks), tasks).map(first_failure).collect() if f]
    except Exception as err:  # noqa: BLE001 - e.g. spark.pyspark.python not found on the executors
        cause = next((line for line in str(err).splitlines() if "Exception" in line or "Error" in line), str(err))
        raise ConfigError(f"executors cannot start this job's Python: {cause.strip()[:300]}; {PACKAGE_HINT}") from None
    finally:
        context.setJobDescription(None)
    if failures:
        raise ConfigError(f"executors cannot import {failures[0]}; {PACKAGE_HINT}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m curation.package", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build", help="where the lock, the environment and the archives go")
    args = parser.parse_args(argv)
    try:
        built = build(args.out)
    except ConfigError as err:
        print(f"package: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(built))
    for manager, line in submit_lines(args.out).items():
        print(f"# {manager}\n{line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
