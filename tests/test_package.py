"""`make package` without building anything large: the lock's contents, the code archive's bytes, and the
modules the executors' pre-flight imports (curation.package)."""

from __future__ import annotations

import importlib.metadata
import zipfile

from curation.package import (
    PROVIDED_BY_SPARK,
    RUNTIME_MODULES,
    canonical,
    code_archive,
    dependency_closure,
    lock_text,
    runtime_requirements,
)


def test_lock_pins_every_runtime_dependency_but_sparks_own():
    requirements = runtime_requirements()
    pinned = dependency_closure(requirements)
    assert {canonical(r.name) for r in requirements} - PROVIDED_BY_SPARK <= set(pinned)
    assert not PROVIDED_BY_SPARK & set(pinned)
    assert not {"pytest", "torch", "ruff", "venv-pack"} & set(pinned)  # test and train extras stay out
    assert pinned["numpy"] == importlib.metadata.version("numpy")
    assert lock_text(pinned) == lock_text(dependency_closure(requirements))


def test_code_archive_is_the_package_and_byte_identical_when_rebuilt(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    archives = [code_archive(str(out)) for out in (first, second)]
    assert open(archives[0], "rb").read() == open(archives[1], "rb").read()
    names = zipfile.ZipFile(archives[0]).namelist()
    assert "curation/__init__.py" in names and "curation/weights/gpt3.json" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_preflight_modules_are_the_runtime_dependencies():
    provides = importlib.metadata.packages_distributions()
    owners = {canonical(dist) for module in RUNTIME_MODULES for dist in provides[module]}
    unconditional = {canonical(r.name) for r in runtime_requirements() if r.marker is None}  # not tomli: <3.11 only
    assert owners == unconditional - PROVIDED_BY_SPARK
