"""The committed notebooks stay output-free and read the run directory from $CURATION_RUN; the runner names the
notebook and cell that fail. (CI executes the real notebooks against the demo with `make notebooks`.)"""

from __future__ import annotations

import json

import pytest

from curation.notebooks import NOTEBOOK_DIR, RUN_VARIABLE, main, notebook_paths
from curation.report import record_payload
from curation.settings import PROJECT_ROOT
from curation.warc_records import process_archive

NOTEBOOKS = notebook_paths()


def code_cells(path):
    return [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def test_one_notebook_per_stage():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_extraction",
        "02_quality",
        "03_deduplication",
        "04_decontamination",
        "05_mixture",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs(path):
    cells = code_cells(path)
    assert cells
    for cell in cells:
        assert cell["outputs"] == [] and cell["execution_count"] is None, "".join(cell["source"])[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_names_the_run_directory(path):
    first = "".join(code_cells(path)[0]["source"])
    assert f'RUN = Path(os.environ.get("{RUN_VARIABLE}", "data/demo"))' in first


def write_notebook(path, *sources):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)


def test_runner_passes_the_run_and_names_the_failing_cell(tmp_path, capsys):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    run, folder = tmp_path / "run", tmp_path / "notebooks"
    run.mkdir()
    folder.mkdir()
    write_notebook(folder / "a_reads_run.ipynb", "import os\nRUN = os.environ['CURATION_RUN']\nprint(RUN, os.getcwd())")
    write_notebook(folder / "b_broken.ipynb", "x = 1", "# the bad one\n{}['missing']")

    assert main(["--run", str(run), "--notebooks", str(folder)]) == 1
    error = capsys.readouterr().err
    assert "b_broken.ipynb: cell 2 (code cell 2: \"# the bad one\") failed: KeyError: 'missing'" in error
    executed = json.loads((run / "notebooks" / "a_reads_run.ipynb").read_text())
    assert "".join(executed["cells"][0]["outputs"][0]["text"]) == f"{run} {PROJECT_ROOT}\n"
    broken = json.loads((run / "notebooks" / "b_broken.ipynb").read_text())
    assert broken["cells"][1]["outputs"][0]["ename"] == "KeyError"
    assert json.loads((folder / "a_reads_run.ipynb").read_text())["cells"][0]["outputs"] == []


def test_missing_run_directory_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["--run", str(tmp_path / "nowhere"), "--notebooks", str(NOTEBOOK_DIR)]) == 2
    assert capsys.readouterr().err.startswith(f"run directory not found: {tmp_path / 'nowhere'}")


def test_record_payload_is_the_page_extraction_read(sample_dir):
    documents, _ = process_archive(str(min((sample_dir / "crawl").glob("*.warc.gz"))))
    for doc in documents[:5]:
        page = record_payload(doc["warc_path"], doc["warc_offset"], doc["charset"])
        assert page.lstrip().lower().startswith("<!doctype html")
        assert doc["text"].split("\n")[0] in page
