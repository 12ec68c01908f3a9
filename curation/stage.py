"""What a stage of the pipeline declares, beside its job: its contract with curation.pipeline and curation.report.

A stage is a SparkJob (its options, its checks, its work) and a `Stage` subclass written next to it that tells
the pipeline how to run it among the others and how to check it afterwards, so that neither the pipeline nor
the funnel report knows any stage by name:

- its place: `name` (its config table and its directory in a run), `upstream` (the stages whose outputs its
  own depends on: a changed one runs it again), `optional` (run only when the config has its table);
- how it is run: `wire` (the options the pipeline sets, listed in `set_by_pipeline`, as typed values of its
  job's options dataclass: where it writes, and where it reads, which is what earlier stages wrote; the rest of
  the options come from its config table), `seeded` (it draws samples, so the config's top-level `seed` is its
  `seed`), `resumable` (a rerun continues its unfinished output), `required` (config keys it
  cannot do without), `input_options` and `input_files` (files outside the run its output depends on: they
  must exist, and are fingerprinted);
- how it is checked: `counts` reads its own summary (`summary_file`) into typed `Counts`, one per dataset;
  `reads` says which earlier stage's documents each of its datasets is; `kept` and `rejected` say where its
  written outputs are, which `written` counts against the summary; `funnel_label` names its funnel row.

curation.stages lists the stages in pipeline order: a new stage is one subclass and one line there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from curation.corpora import CorpusSpec, corpus_files
from curation.job import SparkJob


@dataclass(frozen=True)
class Counts:
    """One dataset through one stage: documents in, documents passed on, and the others by the reason
    they were not (`dropped`, in the order the stage reports them); characters passed on when its
    summary says."""

    documents_in: int
    documents_out: int
    dropped: dict[str, int]
    chars_out: int | None = None


class Handoff(NamedTuple):
    """Dataset `into` of a stage is what `stage` counted as `count` ("out": it passed them on; "in":
    both stages read the same corpus) of its dataset `dataset`."""

    stage: str
    dataset: str
    count: str
    into: str


@dataclass(frozen=True)
class RunLayout:
    """What wiring a stage needs to know of the whole run: where it is, which stages it has, and the corpora
    and mixture datasets the config names."""

    directory: str
    stages: tuple[Stage, ...]  # the stages of this run, in pipeline order
    reference: dict[str, CorpusSpec]  # reference corpus name -> how to read it
    mixture_sources: dict[str, tuple[str, float | None]]  # mixture dataset -> (curated dataset it reads, weight)

    def path(self, *parts: str) -> str:
        return os.path.join(self.directory, *parts)

    def documents(self, stage: str, dataset: str) -> str:
        """Where `stage` of this run writes the documents of `dataset` it passes on."""
        kept = next(s for s in self.stages if s.name == stage).kept(dataset)
        return self.path(stage, *kept)

    def crawl_stage(self, before: str) -> str:
        """The last stage before `before` in this run that passes crawl documents on: what `before` reads."""
        names = [s.name for s in self.stages]
        earlier = self.stages[: names.index(before)]
        return next(s.name for s in reversed(earlier) if s.kept("crawl") is not None)

    def crawl(self, before: str) -> str:
        return self.documents(self.crawl_stage(before), "crawl")

    def reference_files(self) -> list[str]:
        """Every file of the reference corpora."""
        return [file for spec in self.reference.values() for file in corpus_files(spec.path, spec.fmt)[1]]


class Stage:
    """The pipeline's view of one stage (subclassed next to each job; see the module docstring)."""

    name: str
    job: SparkJob
    upstream: tuple[str, ...] = ()
    optional = False
    seeded = False
    resumable = False
    required: tuple[str, ...] = ()  # config keys of its table it cannot run without
    set_by_pipeline: tuple[str, ...] = ()  # the job's options `wire` sets: not config keys
    input_options: tuple[str, ...] = ()  # options naming files outside the run
    summary_file = "summary.json"
    funnel_label: str | None = None  # its funnel row, "<name>: <label>", for the documents it passes on
    funnel_input_label: str | None = None  # a funnel row for the documents it read too

    def wire(self, run: RunLayout, output: str) -> dict[str, Any]:
        """{option: value} of the job's options that connect it to the run: where it reads and where it writes
        (`output`), typed as its options dataclass declares them (paths, CorpusSpec objects)."""
        raise NotImplementedError

    def input_files(self, options, run: RunLayout) -> list[str]:
        """The files outside the run its output depends on, from its checked `options`."""
        return [getattr(options, key) for key in self.input_options if getattr(options, key)]

    def counts(self, summary: dict) -> dict[str, Counts]:
        """{dataset: Counts} from its summary."""
        raise NotImplementedError

    def reads(self, run: RunLayout, counts: dict[str, Counts]) -> list[Handoff]:
        """Which documents of earlier stages its datasets (`counts`) are."""
        return []

    def kept(self, dataset: str) -> tuple[str, ...] | None:
        """Where, under its directory, the documents of `dataset` it passes on are (None: it passes none on)."""
        return None

    def rejected(self, dataset: str) -> tuple[str, ...] | None:
        """Where, under its directory, the documents of `dataset` it did not pass on are, when it writes them."""
        return None

    def read_counts(self, directory: str) -> dict[str, Counts]:
        with open(os.path.join(directory, self.summary_file), encoding="utf-8") as stream:
            return self.counts(json.load(stream))

    def written(self, spark, directory: str, counts: dict[str, Counts]) -> dict[str, dict[str, int]]:
        """{dataset: {"out": rows, "rejected": rows}}: what its output files hold, to check against `counts`."""
        rows = lambda *parts: spark.read.parquet(os.path.join(directory, *parts)).count()  # noqa: E731
        written = {}
        for dataset in counts:
            kept, rejected = self.kept(dataset), self.rejected(dataset)
            found = {"out": rows(*kept)} if kept else {}
            written[dataset] = found | ({"rejected": rows(*rejected)} if rejected else {})
        return {dataset: found for dataset, found in written.items() if found}

    def funnel_rows(self, directory: Path, counts: dict[str, Counts]) -> list[dict]:
        """Its rows of the funnel: documents (and characters) it passed on, per dataset."""
        rows = []
        for dataset, count in counts.items():
            if self.funnel_input_label:
                rows.append(
                    {
                        "stage": f"{self.name}: {self.funnel_input_label}",
                        "dataset": dataset,
                        "documents": count.documents_in,
                    }
                )
            kept = self.kept(dataset)
            if self.funnel_label and kept:
                chars = count.chars_out if count.chars_out is not None else written_chars(directory.joinpath(*kept))
                rows.append(
                    {
                        "stage": f"{self.name}: {self.funnel_label}",
                        "dataset": dataset,
                        "documents": count.documents_out,
                        "chars": chars,
                    }
                )
        return rows


class CrawlFilterStage(Stage):
    """A stage that reads the crawl's documents and keeps some: kept/ and rejects/ (rules, classify)."""

    set_by_pipeline = ("input", "output")
    funnel_label = "kept"

    def counts(self, summary: dict) -> dict[str, Counts]:
        return {
            "crawl": Counts(
                summary["documents_in"], summary["kept"], summary["rejected_by_reason"], summary.get("chars")
            )
        }

    def reads(self, run: RunLayout, counts: dict[str, Counts]) -> list[Handoff]:
        return [Handoff(run.crawl_stage(self.name), "crawl", "out", "crawl")]

    def kept(self, dataset: str) -> tuple[str, ...] | None:
        return ("kept",) if dataset == "crawl" else None

    def rejected(self, dataset: str) -> tuple[str, ...] | None:
        return ("rejects",) if dataset == "crawl" else None


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
