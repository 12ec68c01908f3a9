"""`python -m curation.notebooks [--run DIR]`: execute every notebook in notebooks/ against a run's outputs.

Notebooks that are never run rot, so CI runs them after `make demo`. Each notebook's first cell reads the run
directory from $CURATION_RUN (default data/demo). The committed notebooks stay output-free: executed copies go
to RUN/notebooks/. A failing cell stops the run with one line naming the notebook and the cell.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from curation.settings import PROJECT_ROOT

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
RUN_VARIABLE = "CURATION_RUN"
CELL_TIMEOUT_S = 600


class NotebookFailed(Exception):
    """A cell raised, timed out or killed the kernel; the message names the notebook and the cell."""


def notebook_paths(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    return sorted(directory.glob("*.ipynb"))


def execute_notebook(path: Path, run_dir: Path, executed_dir: Path) -> Path:
    """Run `path` top to bottom with $CURATION_RUN = `run_dir`, in the project root; write the executed copy
    (outputs included, also when a cell fails) to `executed_dir` and return its path."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    current = {}
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # not a transport notice per kernel
        on_cell_start=lambda cell, cell_index: current.update(cell=cell, index=cell_index),
    )
    executed = executed_dir / path.name
    executed_dir.mkdir(parents=True, exist_ok=True)
    try:
        client.execute(cwd=str(PROJECT_ROOT), env={**os.environ, RUN_VARIABLE: str(run_dir)})
    except Exception as err:  # noqa: BLE001 - whatever stopped it, say which cell
        raise NotebookFailed(
            f"{path.name}: {describe_cell(notebook, current)} failed: {failure(err)} (executed copy: {executed})"
        ) from err
    finally:
        nbformat.write(notebook, executed)
    return executed


def describe_cell(notebook, current: dict) -> str:
    """`cell 4 (code cell 3: "first line")`, 1-based, as Jupyter numbers them."""
    if "cell" not in current:
        return "the kernel"
    code_number = sum(1 for c in notebook.cells[: current["index"] + 1] if c.cell_type == "code")
    first_line = next((line for line in current["cell"].source.splitlines() if line.strip()), "")
    return f'cell {current["index"] + 1} (code cell {code_number}: "{first_line[:60]}")'


def failure(err: Exception) -> str:
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    return f"{ename}: {evalue}" if ename else f"{type(err).__name__}: {err}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m curation.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="data/demo", help="the pipeline run to explore (default data/demo)")
    parser.add_argument("--notebooks", default=str(NOTEBOOK_DIR), help="folder of *.ipynb (default notebooks/)")
    args = parser.parse_args(argv)
    run_dir = Path(args.run).resolve()
    paths = notebook_paths(Path(args.notebooks))
    if not run_dir.is_dir():
        print(f"run directory not found: {args.run} (run `make demo` first, or pass --run DIR)", file=sys.stderr)
        return 2
    if not paths:
        print(f"no notebooks (*.ipynb) in {args.notebooks}", file=sys.stderr)
        return 2
    executed_dir = run_dir / "notebooks"
    for path in paths:
        started = time.perf_counter()
        try:
            executed = execute_notebook(path, run_dir, executed_dir)
        except NotebookFailed as err:
            print(f"notebook failed: {err}", file=sys.stderr)
            return 1
        print(f"{path.name:<28} ok  {time.perf_counter() - started:5.1f} s  -> {executed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
