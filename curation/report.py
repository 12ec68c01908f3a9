"""`python -m curation.report RUN_DIR`: where a pipeline run's outputs are, and what each stage did."""

from __future__ import annotations

import json
import sys
from pathlib import Path

STAGES = ("extract", "classify", "dedup", "decontaminate", "mixture")


def stage_summaries(run_dir: Path) -> dict[str, dict]:
    """summary.json of every stage present under `run_dir`, in pipeline order."""
    found = {}
    for stage in STAGES:
        path = run_dir / stage / "summary.json"
        if path.exists():
            found[stage] = json.loads(path.read_text())
    return found


def format_report(run_dir: Path) -> str:
    lines = [f"run: {run_dir}"]
    for stage, summary in stage_summaries(run_dir).items():
        headline = ", ".join(f"{k} {v}" for k, v in summary.items() if isinstance(v, (int, float)) and k != "conserved")
        lines.append(f"  {stage:<14} {run_dir / stage}  ({headline})")
        if stage == "extract":
            outcomes = ", ".join(f"{k} {v}" for k, v in summary["outcomes"].items())
            lines.append(f"  {'':<14} outcomes: {outcomes}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m curation.report RUN_DIR", file=sys.stderr)
        return 2
    print(format_report(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
