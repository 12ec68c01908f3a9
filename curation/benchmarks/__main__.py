"""`python -m curation.benchmarks STAGE [options]`: run one stage's benchmark and print its JSON line last."""

from __future__ import annotations

import importlib
import sys

from curation.benchmarks.harness import emit

STAGES = ("extract", "rules", "classify", "dedup", "decontaminate", "mixture", "pipeline", "train", "cluster")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in STAGES:
        print(f"usage: python -m curation.benchmarks {{{','.join(STAGES)}}} [options]", file=sys.stderr)
        return 2
    emit(importlib.import_module(f"curation.benchmarks.{argv[0]}").bench(argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
