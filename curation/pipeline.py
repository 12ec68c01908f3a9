"""The whole pipeline from one TOML file: the stages of curation.stages, in order (extract -> [rules] ->
classifier -> classify -> dedup -> decontaminate -> mixture; an optional stage runs when the config has its table).

`spark-submit jobs/pipeline.py --config run.toml` runs each stage's own job (the classes behind
jobs/*.py) in one SparkSession, with the job's options dataclass built from the stage's config table and the
typed values its wiring sets (curation.options), so every stage option is a config key and no option goes
through a command line. Nothing here names a stage: each one declares, beside its job, how it is wired
to the others and how its counts are read (curation.stage). A run can be interrupted or crash at any
point and be started again:

- Atomic stages: a stage writes into RUN/.STAGE.partial and is renamed to RUN/STAGE when its job
  succeeds, with a `_SUCCESS` marker holding its parameters, the fingerprints of its inputs and
  the size of every file it wrote.
- Skip if unchanged: a stage whose marker matches its parameters and inputs, and whose files are
  all there, is not run again; the rest are. A resumable stage (extraction) continues where it stopped.
- Conservation: at the end every stage's documents in = out + each rejection reason, what one
  stage passes on is what the next reads, and the output files hold what the summaries say.
  A violation fails the run.
- The funnel (curation.report) is printed and written as RUN/funnel.{json,md,png}.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

import curation
from curation import storage
from curation.corpora import CorpusSpec, corpus_spec
from curation.errors import ConfigError
from curation.job import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    SparkJob,
    check_input,
    check_writable,
    partial_path,
    publish,
    remove_tree,
)
from curation.manifest import file_sha256
from curation.options import build, canonical, convert_table, keys, option
from curation.stage import Counts, RunLayout, Stage
from curation.stages import STAGE_NAMES, STAGES
from curation.storage import local_path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REFERENCE_KEYS = ("path", "format", "text_field", "id_field", "strip_gutenberg")
SMALL_FILE_BYTES = 64 << 20  # inputs up to this size are fingerprinted by content, larger ones by size and mtime
SUCCESS, STARTED = "_SUCCESS", "_STARTED"


# --- the config ----------------------------------------------------------------------------------


@dataclass
class Config:
    path: str
    output: str  # the run directory: one subdirectory per stage
    seed: int
    stages: dict[str, dict]  # the table of each stage, as written
    reference: dict[str, CorpusSpec]  # name -> how to read it
    mixture_sources: dict[str, tuple[str, float | None]]  # mixture dataset -> (curated dataset it reads, weight)


def read_toml(path: str) -> dict:
    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None


def load_config(path: str) -> Config:
    """Read and check the config (keys, types, and that every input path exists); no Spark needed."""
    data = read_toml(path)
    where = f"{path}:"
    unknown = sorted(set(data) - {"output", "seed", "reference", *STAGE_NAMES})
    if unknown:
        raise ConfigError(
            f"{where} unknown key or table {unknown[0]!r} (known: output, seed, reference, {', '.join(STAGE_NAMES)})"
        )
    output = data.get("output")
    if not isinstance(output, str) or not output:
        raise ConfigError(f"{where} `output` (the run directory) must be given as a string")
    if local_path(output) is None:
        raise ConfigError(
            f"{where} `output` must be a local or shared filesystem path (the mixture's shards are memory-mapped)"
        )
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"{where} `seed` must be an integer")
    stages = {}
    for stage in STAGES:
        if stage.optional and stage.name not in data:
            continue
        table = data.get(stage.name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where} `{stage.name}` must be a table: [{stage.name}]")
        missing = [key for key in stage.required if key not in table]
        if missing:
            raise ConfigError(f"{where} [{stage.name}] needs `{missing[0]}`")
        stages[stage.name] = dict(table)
    reference = reference_specs(data.get("reference"), where)
    sources = mixture_sources(stages["mixture"].pop("datasets"), ["crawl", *reference], where)
    return Config(path, output.removeprefix("file://"), seed, stages, reference, sources)


def reference_specs(table, where: str) -> dict[str, CorpusSpec]:
    """[reference] NAME = "PATH" or NAME = {path = "...", format = "jsonl", strip_gutenberg = true, ...}."""
    if not isinstance(table, dict) or not table:
        raise ConfigError(f'{where} [reference] must name at least one reference corpus: NAME = "PATH"')
    specs = {}
    for name, value in table.items():
        if name == "crawl":
            raise ConfigError(
                f"{where} [reference] `crawl` is the extracted crawl's name: call the corpus something else"
            )
        value = {"path": value} if isinstance(value, str) else value
        if not isinstance(value, dict) or not isinstance(value.get("path"), str):
            raise ConfigError(f'{where} [reference] {name} must be "PATH" or {{path = "PATH", ...}}')
        unknown = sorted(set(value) - set(REFERENCE_KEYS))
        if unknown:
            raise ConfigError(
                f"{where} [reference] {name}: unknown key {unknown[0]!r} (known: {', '.join(REFERENCE_KEYS)})"
            )
        options = {key: str(v).lower() if isinstance(v, bool) else str(v) for key, v in value.items() if key != "path"}
        try:
            specs[name] = corpus_spec(name, value["path"], options)
            check_input(specs[name])
        except ConfigError as err:
            raise ConfigError(f"{where} [reference] {name}: {err}") from None
    return specs


def mixture_sources(table, curated: list[str], where: str) -> dict[str, tuple[str, float | None]]:
    """[mixture.datasets] NAME = {source = "crawl", weight = 0.6}: what each mixture dataset reads."""
    if not isinstance(table, dict) or not table:
        raise ConfigError(
            f'{where} [mixture.datasets] must name at least one dataset: NAME = {{source = "crawl", weight = 0.6}}'
        )
    sources = {}
    for name, value in table.items():
        if not isinstance(value, dict) or value.get("source") not in curated or set(value) - {"source", "weight"}:
            raise ConfigError(
                f"{where} [mixture.datasets] {name} must be {{source = NAME, weight = W}} with NAME one of "
                f"{', '.join(curated)} (weight may come from the weights file)"
            )
        weight = value.get("weight")
        if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))):
            raise ConfigError(f"{where} [mixture.datasets] {name}: weight must be a number")
        sources[name] = (value["source"], weight)
    return sources


def option_values(stage: Stage, table: dict, where: str) -> dict[str, Any]:
    """A stage's config table as typed values of its job's options (curation.options): `max_html_bytes = 5e6`
    is the integer 5000000, a table on a repeatable option one `KEY=VALUE` item per entry (`blocklists =
    { adult = "p" }` is the item `adult=p`). A key the pipeline sets, or one the job has not, is an error."""
    known = [key for key in keys(stage.job.options_class) if key not in stage.set_by_pipeline]
    for key in table:
        if key in stage.set_by_pipeline:
            raise ConfigError(f"{where} [{stage.name}] {key} is set by the pipeline (it wires each stage to the last)")
        if key not in known:
            raise ConfigError(f"{where} [{stage.name}] unknown key {key!r} (known: {', '.join(known)})")
    try:
        return convert_table(stage.job.options_class, table)
    except ConfigError as err:
        raise ConfigError(f"{where} [{stage.name}] {err}") from None


# --- the run's steps -----------------------------------------------------------------------------


@dataclass
class Step:
    """One stage in this run: its declaration, its options from the config, and the files outside the run
    its output depends on (fingerprinted)."""

    stage: Stage
    run: RunLayout
    values: dict[str, Any]  # its options from the config, typed
    input_files: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def output(self) -> str:
        return self.run.path(self.name)

    def options(self, output: str):
        """The job's options, writing to `output`: the config's values and the wiring's."""
        try:
            return build(self.stage.job.options_class, {**self.values, **self.stage.wire(self.run, output)})
        except ConfigError as err:
            raise ConfigError(f"[{self.name}] {err}") from None

    def params(self) -> dict[str, Any]:
        """The options in canonical JSON form, the run directory written as $RUN: a moved run is still up to
        date, and the same options are the same params."""
        moved = replace(self, run=replace(self.run, directory="$RUN"))
        return canonical(moved.options(os.path.join("$RUN", self.name)))


def plan(config: Config) -> list[Step]:
    """The stages of `config`, their arguments checked without Spark: types and choices, every stage's
    `check_options` (ranges, weights, benchmarks, ...), the input files no stage writes."""
    present = tuple(stage for stage in STAGES if stage.name in config.stages)
    run = RunLayout(config.output, present, config.reference, config.mixture_sources)
    steps = []
    for stage in present:
        table = dict(config.stages[stage.name])
        if stage.seeded:
            table.setdefault("seed", config.seed)
        step = Step(stage, run, option_values(stage, table, f"{config.path}:"))
        try:
            options = step.options(step.output)
        except ConfigError as err:
            raise ConfigError(f"{config.path}: {err}") from None
        for key in stage.input_options:
            value = getattr(options, key)
            local = local_path(value) if value else None
            if local and not os.path.exists(local):
                raise ConfigError(f"{config.path}: [{stage.name}] {key}: no such file or directory: {value}")
        try:
            stage.job.check_options(options)
        except ConfigError as err:
            raise ConfigError(f"{config.path}: [{stage.name}] {err}") from None
        step.input_files = stage.input_files(options, run)
        steps.append(step)
    return steps


# --- fingerprints and markers --------------------------------------------------------------------


def file_fingerprint(path: str) -> dict:
    """What identifies an input file: its content hash when small, else size and mtime; a URL by name."""
    local = local_path(path)
    if local is None:
        return {"path": path}
    stat = os.stat(local)
    if stat.st_size > SMALL_FILE_BYTES:
        return {"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return {"path": path, "size": stat.st_size, "sha256": file_sha256(local)}


def expand_files(paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        if os.path.isdir(path):
            found += sorted(
                os.path.join(folder, name)
                for folder, _, names in os.walk(path)
                for name in names
                if not name.startswith((".", "_"))
            )
        else:
            found.append(path)
    return found


def fingerprint(params: dict[str, Any], inputs: dict) -> str:
    """What a stage's output is a function of: its parameters, its inputs and the code version."""
    payload = json.dumps({"params": params, "inputs": inputs, "version": curation.__version__}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# on a local path or a Hadoop filesystem URI alike (curation.storage)


def output_files(directory: str) -> dict[str, int]:
    """{relative path: size} of every file under `directory` but the markers."""
    files = storage.file_sizes(directory)
    return {relative: size for relative, size in files.items() if relative not in (SUCCESS, STARTED)}


def read_marker(directory: str, name: str = SUCCESS) -> dict | None:
    try:
        return json.loads(storage.read_text(os.path.join(directory, name)))
    except (OSError, ValueError):
        return None


def write_marker(directory: str, name: str, payload: dict) -> None:
    storage.write_text(os.path.join(directory, name), json.dumps(payload, indent=2, sort_keys=True) + "\n")


def is_complete(directory: str, expected: str) -> bool:
    """True when `directory` holds a finished output of fingerprint `expected` with all its files."""
    marker = read_marker(directory)
    if not marker or marker.get("fingerprint") != expected:
        return False
    files = marker.get("files", {})
    return all(storage.file_size(os.path.join(directory, rel)) == size for rel, size in files.items())


# --- conservation --------------------------------------------------------------------------------


def conservation_checks(run: RunLayout, counts: dict[str, dict[str, Counts]], written: dict[str, dict]) -> list[dict]:
    """Every check of the run, each {"check", "expected", "found", "holds"}: within each stage
    (in = out + reasons), between stages (what a stage reads is what an earlier one passed on), and against
    the written outputs (`written`: {stage: {dataset: {"out": rows, "rejected": rows}}} counted in the files)."""
    checks = []

    def check(text, expected, found):
        checks.append({"check": text, "expected": expected, "found": found, "holds": expected == found})

    for stage, datasets in counts.items():
        for name, count in datasets.items():
            reasons = " + ".join(["out", *count.dropped])
            check(
                f"{stage}/{name}: documents in = {reasons}",
                count.documents_in,
                count.documents_out + sum(count.dropped.values()),
            )
            found = written.get(stage, {}).get(name, {})
            if "out" in found:
                check(f"{stage}/{name}: out in the summary = rows written", count.documents_out, found["out"])
            if "rejected" in found:
                check(
                    f"{stage}/{name}: rejected in the summary = rows written",
                    sum(count.dropped.values()),
                    found["rejected"],
                )
    for stage in run.stages:
        if stage.name not in counts:
            continue
        for source, name, count, into in stage.reads(run, counts[stage.name]):
            if source in counts:
                passed = counts[source][name]
                check(
                    f"{source}/{name} {count} = {stage.name}/{into} in",
                    passed.documents_out if count == "out" else passed.documents_in,
                    counts[stage.name][into].documents_in,
                )
    return checks


def conserved(spark, run: RunLayout, counts: dict[str, dict[str, Counts]]) -> bool:
    """Run every conservation check, write them to RUN/conservation.json, print each violation."""
    written = {
        stage.name: stage.written(spark, run.path(stage.name), counts[stage.name])
        for stage in run.stages
        if stage.name in counts
    }
    checks = conservation_checks(run, counts, written)
    path = run.path("conservation.json")
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(checks, stream, indent=2)
    broken = [c for c in checks if not c["holds"]]
    for c in broken:
        print(
            f"pipeline: CONSERVATION VIOLATED: {c['check']}: expected {c['expected']}, found {c['found']}",
            file=sys.stderr,
        )
    if broken:
        print(
            f"pipeline: error: {len(broken)} of {len(checks)} conservation checks failed (see {path})", file=sys.stderr
        )
        return False
    print(f"pipeline: conservation: all {len(checks)} checks hold ({path})")
    return True


# --- the job -------------------------------------------------------------------------------------


def stage_line(stage: str, counts: dict[str, Counts], seconds: float | None) -> str:
    """One line per stage: documents in and out, and for a stage that ran, its time and throughput."""
    documents_in = sum(c.documents_in for c in counts.values())
    documents_out = sum(c.documents_out for c in counts.values())
    line = f"pipeline: {stage:<14} {documents_in:>10,} documents in -> {documents_out:>10,} out"
    if seconds is None:
        return f"{line}  (unchanged, skipped)"
    return f"{line}  in {seconds:.1f}s ({documents_in / max(seconds, 1e-9):,.0f} documents/s)"


@dataclass(frozen=True)
class PipelineOptions:
    config: str = field(default="", metadata=option("the run's TOML file (see configs/demo.toml)", required=True))
    force: bool = field(default=False, metadata=option("run every stage, even those that are unchanged"))

    @functools.cached_property
    def steps(self) -> list[Step]:
        """The run's stages, every one's options checked (ConfigError): read once, when first asked for."""
        return plan(load_config(self.config))


class PipelineJob(SparkJob):
    """`spark-submit jobs/pipeline.py --config FILE.toml`: every stage, atomic, skipped when unchanged."""

    name = "pipeline"
    description = f"Run {' -> '.join(f'[{s.name}]' if s.optional else s.name for s in STAGES)} from one TOML config."
    options_class = PipelineOptions

    def check_options(self, options):  # every stage's options and the user's files, before the first stage runs
        for step in options.steps:
            check_writable(step.output)

    def run(self, spark, options):
        run = options.steps[0].run
        os.makedirs(run.directory, exist_ok=True)
        fingerprints: dict[str, str] = {}
        counts: dict[str, dict[str, Counts]] = {}
        for step in options.steps:
            inputs = {
                "files": [file_fingerprint(f) for f in expand_files(step.input_files)],
                "stages": {name: fingerprints[name] for name in step.stage.upstream if name in fingerprints},
            }
            fingerprints[step.name] = fingerprint(step.params(), inputs)
            if not options.force and is_complete(step.output, fingerprints[step.name]):
                remove_tree(partial_path(step.output))  # left by a run that crashed in this stage
                counts[step.name] = step.stage.read_counts(step.output)
                print(stage_line(step.name, counts[step.name], None), flush=True)
                continue
            try:
                status, seconds = self.run_stage(spark, step, fingerprints[step.name], inputs)
            except KeyboardInterrupt:
                print(f"pipeline: interrupted in {step.name}; run the same command again to continue", file=sys.stderr)
                return EXIT_INTERRUPTED
            if status != 0:
                print(
                    f"pipeline: {step.name} failed (exit status {status}); its unfinished output is in "
                    f"{partial_path(step.output)}; the finished stages are kept",
                    file=sys.stderr,
                )
                return status
            counts[step.name] = step.stage.read_counts(step.output)
            print(stage_line(step.name, counts[step.name], seconds), flush=True)
        if not conserved(spark, run, counts):
            return 1
        from curation import report

        return report.main([run.directory])

    def run_stage(self, spark, step: Step, expected: str, inputs: dict) -> tuple[int, float]:
        """Run one stage's job into its .partial directory; publish it with its marker on success."""
        staged = partial_path(step.output)
        started = read_marker(staged, STARTED)
        resumable = step.stage.resumable and started is not None and started.get("fingerprint") == expected
        if not resumable:
            remove_tree(staged)
        storage.make_dirs(staged)
        if step.stage.resumable:
            write_marker(staged, STARTED, {"fingerprint": expected})
        print(f"pipeline: {step.name}: {'resuming' if resumable else 'running'} into {staged}", flush=True)
        options = step.options(staged)
        try:
            step.stage.job.check(options)
        except ConfigError as err:
            print(f"pipeline: error: [{step.name}] {err}", file=sys.stderr)
            return EXIT_CONFIG, 0.0
        clock = time.perf_counter()
        status = step.stage.job.run(spark, options)
        seconds = time.perf_counter() - clock
        if status == 0:
            if step.stage.resumable:
                storage.remove_tree(os.path.join(staged, STARTED))
            write_marker(
                staged,
                SUCCESS,
                {
                    "stage": step.name,
                    "fingerprint": expected,
                    "params": step.params(),
                    "inputs": inputs,
                    "version": curation.__version__,
                    "seconds": round(seconds, 3),
                    "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "files": output_files(staged),
                },
            )
            publish(staged, step.output)
        return status, seconds


def main(argv: list[str] | None = None) -> int:
    return PipelineJob().main(argv)


if __name__ == "__main__":
    sys.exit(main())
