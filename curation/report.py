"""`python -m curation.report RUN_DIR`: where a pipeline run's outputs are, and what each stage did.

The funnel follows documents and characters through the stages (tokens from the mixture on): documents
alone hide a stage that keeps most pages but cuts most text, or one that drops a few very long books.
A stage's summary.json gives the characters it passed on; for one that does not, they are counted
from its written Parquet output (the narrow `n_chars` column when it has one, else the text).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STAGES = ("extract", "rules", "classify", "dedup", "decontaminate", "mixture")


def stage_summaries(run_dir: Path) -> dict[str, dict]:
    """summary.json of every stage present under `run_dir`, in pipeline order."""
    found = {}
    for stage in STAGES:
        path = run_dir / stage / "summary.json"
        if path.exists():
            found[stage] = json.loads(path.read_text())
    return found


def written_chars(path: Path) -> int | None:
    """Characters of the documents in the Parquet dataset at `path` (None when there is none): the sum of
    its `n_chars` column when it has one (extracted pages), else of its texts' lengths, a batch at a time."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    if not path.is_dir():
        return None
    dataset = ds.dataset(str(path), format="parquet", partitioning="hive")
    column = next((c for c in ("n_chars", "text") if c in dataset.schema.names), None)
    if column is None:
        return None
    total = 0
    for batch in dataset.to_batches(columns=[column]):
        values = batch.column(0) if column == "n_chars" else pc.utf8_length(batch.column(0))
        total += pc.sum(values).as_py() or 0
    return total


def funnel(run_dir: Path) -> list[dict]:
    """Documents and characters per stage and dataset (tokens from the mixture on), in pipeline order."""
    summaries = stage_summaries(run_dir)
    rows = []

    def chars(summary: dict, output: Path) -> int | None:
        return summary["chars"] if "chars" in summary else written_chars(output)

    if "extract" in summaries:
        extract = summaries["extract"]
        rows.append({"stage": "extract: records", "dataset": "crawl", "documents": extract["records"]})
        rows.append(
            {
                "stage": "extract: documents",
                "dataset": "crawl",
                "documents": extract["documents"],
                "chars": chars(extract, run_dir / "extract" / "documents"),
            }
        )
    for stage in ("rules", "classify"):  # the crawl-only stages: what each kept
        if stage in summaries:
            summary = summaries[stage]
            rows.append(
                {
                    "stage": f"{stage}: kept",
                    "dataset": "crawl",
                    "documents": summary["kept"],
                    "chars": chars(summary, run_dir / stage / "kept"),
                }
            )
    for name, row in summaries.get("dedup", {}).get("datasets", {}).items():
        rows.append(
            {
                "stage": "dedup: kept",
                "dataset": name,
                "documents": row["kept"],
                "chars": chars(row, run_dir / "dedup" / name),
            }
        )
    for name, row in summaries.get("decontaminate", {}).get("datasets", {}).items():
        rows.append(
            {
                "stage": "decontaminate: kept",
                "dataset": name,
                "documents": row["documents_in"] - row["dropped"],
                "chars": row["chars_out"],
            }
        )
    manifest = run_dir / "mixture" / "manifest.json"
    if manifest.exists():
        outcomes = summaries.get("mixture", {}).get("outcomes", {})
        for row in json.loads(manifest.read_text())["datasets"]:
            rows.append(
                {
                    "stage": "mixture: tokenized",
                    "dataset": row["name"],
                    "documents": row["documents"],
                    "chars": outcomes.get(row["name"], {}).get("chars"),
                    "tokens": row["tokens"],
                }
            )
    return rows


def funnel_markdown(rows: list[dict]) -> str:
    lines = ["| stage | dataset | documents | characters | tokens |", "|---|---|---:|---:|---:|"]
    for row in rows:
        cells = [row["stage"], row["dataset"]] + [_count(row.get(key)) for key in ("documents", "chars", "tokens")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _count(value) -> str:
    return "" if value is None else f"{value:,}"


def write_funnel(run_dir: Path) -> list[dict]:
    """funnel.json, funnel.md and funnel.png (documents per stage, one bar group per dataset) in `run_dir`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = funnel(run_dir)
    (run_dir / "funnel.json").write_text(json.dumps(rows, indent=2))
    (run_dir / "funnel.md").write_text(funnel_markdown(rows) + "\n")
    figure, axes = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.2))
    labels = [f"{row['stage']} [{row['dataset']}]" for row in rows]
    axes.barh(labels[::-1], [row["documents"] for row in rows][::-1], color="#4477aa")
    axes.set_xscale("log")
    axes.set_xlabel("documents (log scale)")
    axes.set_title(f"curation funnel: {run_dir}")
    figure.tight_layout()
    figure.savefig(run_dir / "funnel.png", dpi=100)
    plt.close(figure)
    return rows


def format_report(run_dir: Path) -> str:
    lines = [f"run: {run_dir}"]
    for stage, summary in stage_summaries(run_dir).items():
        headline = ", ".join(f"{k} {v}" for k, v in summary.items() if isinstance(v, (int, float)) and k != "conserved")
        lines.append(f"  {stage:<14} {run_dir / stage}  ({headline})")
        if stage == "extract":
            outcomes = ", ".join(f"{k} {v}" for k, v in summary["outcomes"].items())
            lines.append(f"  {'':<14} outcomes: {outcomes}")
    return "\n".join(lines)


def record_payload(warc_path: str, offset: int, charset: str) -> str:
    """The payload of the record at `offset` (an extracted document's `warc_path`, `warc_offset`, `charset`):
    the page as extraction read it, to look at beside the text it kept."""
    from warcio.archiveiterator import ArchiveIterator

    from curation.sources import open_input

    with open_input(warc_path) as stream:
        stream.seek(offset)
        record = next(iter(ArchiveIterator(stream, arc2warc=True)))
        return record.content_stream().read().decode(charset, errors="replace")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m curation.report RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    print(format_report(run_dir))
    rows = write_funnel(run_dir)
    if rows:
        print(funnel_markdown(rows))
        print(f"funnel: {run_dir / 'funnel.json'}, {run_dir / 'funnel.md'}, {run_dir / 'funnel.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
