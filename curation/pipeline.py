"""The whole pipeline from one TOML file: extract -> rules -> classifier -> classify -> dedup -> decontaminate ->
mixture (rules when the config has a [rules] table).

`spark-submit jobs/pipeline.py --config run.toml` runs each stage's own job (the classes behind
jobs/*.py) in one SparkSession, with the job's arguments built from the config, so every stage
option is a config key. A run can be interrupted or crash at any point and be started again:

- Atomic stages: a stage writes into RUN/.STAGE.partial and is renamed to RUN/STAGE when its job
  succeeds, with a `_SUCCESS` marker holding its parameters, the fingerprints of its inputs and
  the size of every file it wrote.
- Skip if unchanged: a stage whose marker matches its parameters and inputs, and whose files are
  all there, is not run again; the rest are. Extraction continues where it stopped (`--resume`).
- Conservation: at the end every stage's documents in = out + each rejection reason, what one
  stage passes on is what the next reads, and the output files hold what the summaries say.
  A violation fails the run.
- The funnel (curation.report) is printed and written as RUN/funnel.{json,md,png}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace

import curation
from curation.classify import FilterJob, TrainClassifierJob
from curation.corpora import corpus_files, parse_corpus_spec
from curation.decontaminate import DROP_OUTCOMES, DecontaminateJob
from curation.dedup import DedupJob
from curation.errors import ConfigError
from curation.extract import ExtractJob
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
from curation.manifest import DROP_REASONS, file_sha256
from curation.mixture import MixtureJob
from curation.rules.stage import RulesJob

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

STAGES = ("extract", "rules", "classifier", "classify", "dedup", "decontaminate", "mixture")
OPTIONAL = ("rules",)  # run only when the config has the stage's table; without it the next stage reads extract's
JOBS: dict[str, SparkJob] = {
    "extract": ExtractJob(),
    "rules": RulesJob(),
    "classifier": TrainClassifierJob(),
    "classify": FilterJob(),
    "dedup": DedupJob(),
    "decontaminate": DecontaminateJob(),
    "mixture": MixtureJob(),
}
# options the pipeline sets itself: where each stage reads and writes
SET_BY_PIPELINE = {
    "extract": {"output", "resume"},
    "rules": {"input", "output"},
    "classifier": {"positive", "negative", "model"},
    "classify": {"model", "input", "output"},
    "dedup": {"dataset", "output"},
    "decontaminate": {"input", "output"},
    "mixture": {"dataset", "output"},
}
UPSTREAM = {
    "extract": (),
    "rules": ("extract",),
    "classifier": ("extract", "rules"),
    "classify": ("extract", "rules", "classifier"),
    "dedup": ("classify",),
    "decontaminate": ("dedup",),
    "mixture": ("decontaminate",),
}
RESUMABLE = ("extract",)  # continues its .partial directory when the stage's fingerprint is unchanged
SEEDED = ("classifier", "classify", "mixture")  # the stages that draw samples: the top-level seed is theirs
REQUIRED = {"extract": ("input",), "decontaminate": ("benchmarks",), "mixture": ("datasets",)}
INPUT_FILES = {"decontaminate": ("benchmarks",), "mixture": ("weights", "gpt2_vocab", "gpt2_merges")}
REFERENCE_KEYS = ("path", "format", "text_field", "id_field", "strip_gutenberg")
SUMMARY_FILE = {"classifier": "metrics.json"}  # the others write summary.json
SMALL_FILE_BYTES = 64 << 20  # inputs up to this size are fingerprinted by content, larger ones by size and mtime
SUCCESS, STARTED = "_SUCCESS", "_STARTED"


# --- the config ----------------------------------------------------------------------------------


@dataclass
class Config:
    path: str
    output: str  # the run directory: one subdirectory per stage
    seed: int
    stages: dict[str, dict]  # the table of each stage, as written
    reference: dict[str, str]  # name -> corpus spec NAME=PATH[,key=value...]
    mixture_sources: dict[str, tuple[str, float | None]]  # mixture dataset -> (curated dataset it reads, weight)


class RaisingParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are ConfigErrors instead of a usage message and exit."""

    def error(self, message):
        raise ConfigError(message)


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
    unknown = sorted(set(data) - {"output", "seed", "reference", *STAGES})
    if unknown:
        raise ConfigError(
            f"{where} unknown key or table {unknown[0]!r} (known: output, seed, reference, {', '.join(STAGES)})"
        )
    output = data.get("output")
    if not isinstance(output, str) or not output:
        raise ConfigError(f"{where} `output` (the run directory) must be given as a string")
    if "://" in output.removeprefix("file://"):
        raise ConfigError(
            f"{where} `output` must be a local or shared filesystem path (the mixture's shards are memory-mapped)"
        )
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"{where} `seed` must be an integer")
    stages = {}
    for stage in STAGES:
        if stage in OPTIONAL and stage not in data:
            continue
        table = data.get(stage, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where} `{stage}` must be a table: [{stage}]")
        missing = [key for key in REQUIRED.get(stage, ()) if key not in table]
        if missing:
            raise ConfigError(f"{where} [{stage}] needs `{missing[0]}`")
        stages[stage] = dict(table)
    reference = reference_specs(data.get("reference"), where)
    sources = mixture_sources(stages["mixture"].pop("datasets"), ["crawl", *reference], where)
    return Config(path, output.removeprefix("file://"), seed, stages, reference, sources)


def reference_specs(table, where: str) -> dict[str, str]:
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
        options = [f"{key}={str(v).lower() if isinstance(v, bool) else v}" for key, v in value.items() if key != "path"]
        specs[name] = ",".join([f"{name}={value['path']}", *options])
        try:
            check_input(parse_corpus_spec(specs[name]))
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


def option_argv(parser: argparse.ArgumentParser, stage: str, table: dict, where: str) -> list[str]:
    """A stage's config table as its job's command-line options: `max_html_bytes = 5e6` is
    `--max-html-bytes 5000000`, `true` a flag, a list repeated options (or one, comma-joined), a table on a
    repeatable option one `KEY=VALUE` option per entry (`blocklists = { adult = "p" }` is `--blocklist adult=p`)."""
    actions = {action.dest: action for action in parser._actions if action.option_strings and action.dest != "help"}
    known = sorted(set(actions) - SET_BY_PIPELINE[stage] - {"overwrite", "verbose"})
    argv = []
    for key, value in table.items():
        if key in SET_BY_PIPELINE[stage]:
            raise ConfigError(f"{where} [{stage}] {key} is set by the pipeline (it wires each stage to the last)")
        if key not in known:
            raise ConfigError(f"{where} [{stage}] unknown key {key!r} (known: {', '.join(known)})")
        action = actions[key]
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise ConfigError(f"{where} [{stage}] {key} must be true or false")
            argv += [flag] if value else []
        elif isinstance(value, dict) and isinstance(action, argparse._AppendAction):
            argv += [part for name, item in value.items() for part in (flag, f"{name}={option_value(item)}")]
        elif isinstance(value, dict) or isinstance(value, bool):
            raise ConfigError(f"{where} [{stage}] {key} must be a number, a string or a list")
        elif isinstance(value, list) and action.nargs in ("+", "*"):
            argv += [flag, *map(option_value, value)]
        elif isinstance(value, list) and isinstance(action, argparse._AppendAction):
            argv += [part for item in value for part in (flag, option_value(item))]
        elif isinstance(value, list):
            argv += [flag, ",".join(map(option_value, value))]
        else:
            argv += [flag, option_value(value)]
    return argv


def option_value(value) -> str:
    """A TOML value as a command-line word; a whole float (TOML's 5e6) as an integer."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


# --- stages --------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One stage of a run: its job, its arguments, and what its output depends on."""

    name: str
    run_dir: str
    options: list[str]  # from the config
    reference: dict[str, str]
    mixture_sources: dict[str, tuple[str, float | None]]
    crawl: tuple[str, ...] = ("extract", "documents")  # the crawl documents the classifier and classify read
    input_files: list[str] = field(default_factory=list)  # outside the run: fingerprinted

    @property
    def job(self) -> SparkJob:
        return JOBS[self.name]

    @property
    def output(self) -> str:
        return os.path.join(self.run_dir, self.name)

    def path(self, *parts: str) -> str:
        return os.path.join(self.run_dir, *parts)

    def argv(self, output: str) -> list[str]:
        """The job's command line, writing to `output`."""
        refs = list(self.reference.values())
        wired = {
            "extract": ["--output", output, "--resume"],
            "rules": ["--input", self.path("extract", "documents"), "--output", output],
            "classifier": [
                *(f"--positive={spec}" for spec in refs),
                "--negative",
                f"crawl={self.path(*self.crawl)}",
                "--model",
                output,
            ],
            "classify": ["--model", self.path("classifier"), "--input", self.path(*self.crawl), "--output", output],
            "dedup": [
                f"--dataset=crawl={self.path('classify', 'kept')}",
                *(f"--dataset={spec}" for spec in refs),
                "--output",
                output,
            ],
            "decontaminate": [
                "--input",
                *(f"{name}={self.path('dedup', name)}" for name in ["crawl", *self.reference]),
                "--output",
                output,
            ],
            "mixture": [
                *(
                    f"--dataset={name}={self.path('decontaminate', source, 'documents')}"
                    + ("" if weight is None else f":{weight}")
                    for name, (source, weight) in self.mixture_sources.items()
                ),
                "--output",
                output,
            ],
        }[self.name]
        return [*wired, *self.options]

    def params(self) -> list[str]:
        """The command line with the run directory written as $RUN: a moved run is still up to date."""
        return replace(self, run_dir="$RUN").argv(os.path.join("$RUN", self.name))

    def parse(self, output: str) -> argparse.Namespace:
        try:
            return self.job.parser(RaisingParser).parse_args(self.argv(output))
        except ConfigError as err:
            raise ConfigError(f"[{self.name}] {err}") from None


def plan(config: Config) -> list[Stage]:
    """The stages of `config`, their arguments checked without Spark: types and choices, every stage's
    `check_options` (ranges, weights, benchmarks, ...), the input files no stage writes."""
    stages = []
    crawl = ("rules", "kept") if "rules" in config.stages else ("extract", "documents")
    for name in STAGES:
        if name not in config.stages:  # an optional stage the config leaves out
            continue
        table = dict(config.stages[name])
        if name in SEEDED:
            table.setdefault("seed", config.seed)
        parser = JOBS[name].parser(RaisingParser)
        options = option_argv(parser, name, table, f"{config.path}:")
        stage = Stage(name, config.output, options, config.reference, config.mixture_sources, crawl)
        args = stage.parse(stage.output)
        for key in INPUT_FILES.get(name, ()):
            value = getattr(args, key)
            if value and "://" not in value and not os.path.exists(value):
                raise ConfigError(f"{config.path}: [{name}] {key}: no such file or directory: {value}")
            if value:
                stage.input_files.append(value)
        try:
            JOBS[name].check_options(args)
        except ConfigError as err:
            raise ConfigError(f"{config.path}: [{name}] {err}") from None
        if name == "extract":  # check_options expanded the inputs: every file exists, remote ones can be read
            stage.input_files = list(args.paths)
        if name == "rules":  # the blocklists: a changed list runs the stage again
            stage.input_files = [spec.partition("=")[2] for spec in args.blocklists]
        if name in ("classifier", "dedup"):
            stage.input_files = [
                f for spec in config.reference.values() for f in corpus_files(*corpus_location(spec))[1]
            ]
        stages.append(stage)
    return stages


def corpus_location(spec: str) -> tuple[str, str | None]:
    corpus = parse_corpus_spec(spec)
    return corpus.path, corpus.fmt


# --- fingerprints and markers --------------------------------------------------------------------


def file_fingerprint(path: str) -> dict:
    """What identifies an input file: its content hash when small, else size and mtime; a URL by name."""
    if "://" in path:
        return {"path": path}
    stat = os.stat(path)
    if stat.st_size > SMALL_FILE_BYTES:
        return {"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return {"path": path, "size": stat.st_size, "sha256": file_sha256(path)}


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


def fingerprint(params: list[str], inputs: dict) -> str:
    """What a stage's output is a function of: its parameters, its inputs and the code version."""
    payload = json.dumps({"params": params, "inputs": inputs, "version": curation.__version__}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def output_files(directory: str) -> dict[str, int]:
    """{relative path: size} of every file under `directory` but the markers."""
    files = {}
    for folder, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, directory)
            if relative not in (SUCCESS, STARTED):
                files[relative] = os.path.getsize(path)
    return dict(sorted(files.items()))


def read_marker(directory: str, name: str = SUCCESS) -> dict | None:
    try:
        with open(os.path.join(directory, name), encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError):
        return None


def write_marker(directory: str, name: str, payload: dict) -> None:
    with open(os.path.join(directory, name), "w", encoding="utf-8") as stream:
        json.dump(payload, stream, indent=2, sort_keys=True)
        stream.write("\n")


def is_complete(directory: str, expected: str) -> bool:
    """True when `directory` holds a finished output of fingerprint `expected` with all its files."""
    marker = read_marker(directory)
    if not marker or marker.get("fingerprint") != expected:
        return False
    files = marker.get("files", {})
    return all(
        os.path.isfile(os.path.join(directory, rel)) and os.path.getsize(os.path.join(directory, rel)) == size
        for rel, size in files.items()
    )


# --- conservation --------------------------------------------------------------------------------


def stage_counts(stage: str, summary: dict) -> dict[str, dict]:
    """{dataset: {"in": n, "out": n, "reasons": {reason: n}}} from a stage's summary."""
    if stage == "extract":
        reasons = {k: v for k, v in summary["outcomes"].items() if k != "extracted"}
        return {"crawl": {"in": summary["records"], "out": summary["outcomes"].get("extracted", 0), "reasons": reasons}}
    if stage == "classifier":  # documents read per source: used (train or held out) or not (parse_error, no_tokens)
        used = ("train", "held_out")
        return {
            name: {
                "in": source["documents"],
                "out": sum(source["outcomes"].get(k, 0) for k in used),
                "reasons": {k: v for k, v in source["outcomes"].items() if k not in used},
            }
            for name, source in summary["sources"].items()
        }
    if stage in ("rules", "classify"):  # the same summary keys
        return {
            "crawl": {"in": summary["documents_in"], "out": summary["kept"], "reasons": summary["rejected_by_reason"]}
        }
    if stage == "dedup":
        return {
            name: {
                "in": row["documents_in"],
                "out": row["kept"],
                "reasons": {"removed_exact": row["removed_exact"], "removed_fuzzy": row["removed_fuzzy"]},
            }
            for name, row in summary["datasets"].items()
        }
    if stage == "decontaminate":
        return {
            name: {
                "in": row["documents_in"],
                "out": row["unchanged"] + row["changed"] + row["no_text"],
                "reasons": {k: row[k] for k in DROP_OUTCOMES},
            }
            for name, row in summary["datasets"].items()
        }
    if stage == "mixture":
        return {
            name: {
                "in": row["documents_in"],
                "out": row["tokenized"],
                "reasons": {k: row.get(k, 0) for k in DROP_REASONS},
            }
            for name, row in summary["outcomes"].items()
        }
    raise ValueError(stage)


def handoffs(summaries: dict[str, dict], mixture_sources: dict[str, tuple]) -> list[tuple[str, str, str, str, str]]:
    """(stage, dataset, count, next stage, its dataset): the documents one stage passes on are those the
    next reads (`count` "out"), or two stages read the same corpus alike ("in")."""
    crawl = "rules" if "rules" in summaries else "extract"  # the stage whose documents classifier and classify read
    pairs = [("extract", "crawl", "out", "rules", "crawl")] if crawl == "rules" else []
    pairs += [
        (crawl, "crawl", "out", "classifier", "crawl"),
        (crawl, "crawl", "out", "classify", "crawl"),
        ("classify", "crawl", "out", "dedup", "crawl"),
    ]
    dedup = summaries.get("dedup", {}).get("datasets", {})
    pairs += [("classifier", name, "in", "dedup", name) for name in dedup if name != "crawl"]
    pairs += [("dedup", name, "out", "decontaminate", name) for name in dedup]
    pairs += [
        ("decontaminate", source, "out", "mixture", name)
        for name, (source, _) in mixture_sources.items()
        if name in summaries.get("mixture", {}).get("outcomes", {})
    ]
    return pairs


def conservation_checks(summaries: dict[str, dict], written: dict[str, dict], mixture_sources: dict) -> list[dict]:
    """Every check of the run, each {"check", "expected", "found", "holds"}: within each stage
    (in = out + reasons), between stages (out = next in), and against the written outputs
    (`written`: {stage: {dataset: {"out": rows, "rejected": rows}}} counted in the files)."""
    checks = []

    def check(text, expected, found):
        checks.append({"check": text, "expected": expected, "found": found, "holds": expected == found})

    counts = {stage: stage_counts(stage, summary) for stage, summary in summaries.items()}
    for stage, datasets in counts.items():
        for name, row in datasets.items():
            reasons = " + ".join(["out", *row["reasons"]])
            check(f"{stage}/{name}: documents in = {reasons}", row["in"], row["out"] + sum(row["reasons"].values()))
            for key, label in (("out", "out"), ("rejected", "rejected")):
                found = written.get(stage, {}).get(name, {}).get(key)
                if found is not None:
                    expected = row["out"] if key == "out" else sum(row["reasons"].values())
                    check(f"{stage}/{name}: {label} in the summary = rows written", expected, found)
    for stage, name, count, next_stage, next_name in handoffs(summaries, mixture_sources):
        if stage in counts and next_stage in counts:
            check(
                f"{stage}/{name} {count} = {next_stage}/{next_name} in",
                counts[stage][name][count],
                counts[next_stage][next_name]["in"],
            )
    return checks


def written_counts(spark, run_dir: str, summaries: dict[str, dict]) -> dict[str, dict]:
    """Rows actually in each stage's output files, per dataset: documents kept ("out") and rejected."""
    rows = lambda *parts: spark.read.parquet(os.path.join(run_dir, *parts)).count()  # noqa: E731
    written: dict[str, dict] = {}
    if "extract" in summaries:
        written["extract"] = {"crawl": {"out": rows("extract", "documents")}}
    if "rules" in summaries:
        written["rules"] = {"crawl": {"out": rows("rules", "kept"), "rejected": rows("rules", "rejects")}}
    if "classify" in summaries:
        written["classify"] = {"crawl": {"out": rows("classify", "kept"), "rejected": rows("classify", "rejects")}}
    if "dedup" in summaries:
        removed = {
            r["dataset"]: r["count"]
            for r in spark.read.parquet(os.path.join(run_dir, "dedup", "removals")).groupBy("dataset").count().collect()
        }
        written["dedup"] = {
            name: {"out": rows("dedup", name), "rejected": removed.get(name, 0)}
            for name in summaries["dedup"]["datasets"]
        }
    if "decontaminate" in summaries:
        written["decontaminate"] = {
            name: {"out": rows("decontaminate", name, "documents"), "rejected": rows("decontaminate", name, "dropped")}
            for name in summaries["decontaminate"]["datasets"]
        }
    if "mixture" in summaries:
        with open(os.path.join(run_dir, "mixture", "manifest.json"), encoding="utf-8") as stream:
            manifest = json.load(stream)
        written["mixture"] = {
            d["name"]: {"out": sum(s["documents"] for s in d["shards"])} for d in manifest["datasets"]
        }
    return written


def conserved(spark, run_dir: str, summaries: dict[str, dict], mixture_sources: dict) -> bool:
    """Run every conservation check, write them to RUN/conservation.json, print each violation."""
    checks = conservation_checks(summaries, written_counts(spark, run_dir, summaries), mixture_sources)
    path = os.path.join(run_dir, "conservation.json")
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


def read_summary(stage: str, directory: str) -> dict:
    with open(os.path.join(directory, SUMMARY_FILE.get(stage, "summary.json")), encoding="utf-8") as stream:
        return json.load(stream)


def stage_line(stage: str, summary: dict, seconds: float | None) -> str:
    """One line per stage: documents in and out, and for a stage that ran, its time and throughput."""
    counts = stage_counts(stage, summary).values()
    documents_in, documents_out = sum(c["in"] for c in counts), sum(c["out"] for c in counts)
    line = f"pipeline: {stage:<14} {documents_in:>10,} documents in -> {documents_out:>10,} out"
    if seconds is None:
        return f"{line}  (unchanged, skipped)"
    return f"{line}  in {seconds:.1f}s ({documents_in / max(seconds, 1e-9):,.0f} documents/s)"


class PipelineJob(SparkJob):
    """`spark-submit jobs/pipeline.py --config FILE.toml`: every stage, atomic, skipped when unchanged."""

    name = "pipeline"
    description = "Run extract -> [rules] -> classify -> dedup -> decontaminate -> mixture from one TOML config."

    def add_arguments(self, parser):
        parser.add_argument("--config", required=True, help="the run's TOML file (see configs/demo.toml)")
        parser.add_argument("--force", action="store_true", help="run every stage, even those that are unchanged")

    def check_options(self, args):  # every stage's options and the user's files, before the first stage runs
        args.config_data = load_config(args.config)
        args.stages = plan(args.config_data)
        for stage in args.stages:
            check_writable(stage.output)

    def run(self, spark, args):
        config, run_dir = args.config_data, args.config_data.output
        os.makedirs(run_dir, exist_ok=True)
        fingerprints: dict[str, str] = {}
        summaries: dict[str, dict] = {}
        for stage in args.stages:
            inputs = {
                "files": [file_fingerprint(f) for f in expand_files(stage.input_files)],
                "stages": {name: fingerprints[name] for name in UPSTREAM[stage.name] if name in fingerprints},
            }
            fingerprints[stage.name] = fingerprint(stage.params(), inputs)
            if not args.force and is_complete(stage.output, fingerprints[stage.name]):
                remove_tree(partial_path(stage.output))  # left by a run that crashed in this stage
                summaries[stage.name] = read_summary(stage.name, stage.output)
                print(stage_line(stage.name, summaries[stage.name], None), flush=True)
                continue
            try:
                status, seconds = self.run_stage(spark, stage, fingerprints[stage.name], inputs)
            except KeyboardInterrupt:
                print(f"pipeline: interrupted in {stage.name}; run the same command again to continue", file=sys.stderr)
                return EXIT_INTERRUPTED
            if status != 0:
                print(
                    f"pipeline: {stage.name} failed (exit status {status}); its unfinished output is in "
                    f"{partial_path(stage.output)}; the finished stages are kept",
                    file=sys.stderr,
                )
                return status
            summaries[stage.name] = read_summary(stage.name, stage.output)
            print(stage_line(stage.name, summaries[stage.name], seconds), flush=True)
        if not conserved(spark, run_dir, summaries, config.mixture_sources):
            return 1
        from curation import report

        return report.main([run_dir])

    def run_stage(self, spark, stage: Stage, expected: str, inputs: dict) -> tuple[int, float]:
        """Run one stage's job into its .partial directory; publish it with its marker on success."""
        staged = partial_path(stage.output)
        started = read_marker(staged, STARTED)
        resumable = stage.name in RESUMABLE and started is not None and started.get("fingerprint") == expected
        if not resumable:
            remove_tree(staged)
        os.makedirs(staged, exist_ok=True)
        if stage.name in RESUMABLE:
            write_marker(staged, STARTED, {"fingerprint": expected})
        print(f"pipeline: {stage.name}: {'resuming' if resumable else 'running'} into {staged}", flush=True)
        args = stage.parse(staged)
        try:
            stage.job.check(args)
        except ConfigError as err:
            print(f"pipeline: error: [{stage.name}] {err}", file=sys.stderr)
            return EXIT_CONFIG, 0.0
        clock = time.perf_counter()
        status = stage.job.run(spark, args)
        seconds = time.perf_counter() - clock
        if status == 0:
            if stage.name in RESUMABLE:
                os.remove(os.path.join(staged, STARTED))
            write_marker(
                staged,
                SUCCESS,
                {
                    "stage": stage.name,
                    "fingerprint": expected,
                    "params": stage.params(),
                    "inputs": inputs,
                    "version": curation.__version__,
                    "seconds": round(seconds, 3),
                    "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "files": output_files(staged),
                },
            )
            publish(staged, stage.output)
        return status, seconds


def main(argv: list[str] | None = None) -> int:
    return PipelineJob().main(argv)


if __name__ == "__main__":
    sys.exit(main())
