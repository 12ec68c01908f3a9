"""The mixture's datasets and weights: `--dataset NAME=PATH:WEIGHT` arguments and JSON weights files,
validated and renormalized before Spark starts.

A mixture is stated by weight, not size (GPT-3's Table 2.2), so a weight may come from a weights file
(curation/weights/gpt3.json) while its path comes from the command line or a pipeline config; this
module reconciles the two and rejects, with one line each, what would otherwise fail (or silently
skew the mixture) hours later: negative or non-finite weights, all zero, an unknown dataset, a
weighted dataset without a path, a name given twice. Pure Python: no Spark, no tokenizer.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from curation.corpora import CorpusSpec, parse_corpus_spec
from curation.errors import ConfigError
from curation.manifest import DATASET_NAME
from curation.storage import is_uri


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    corpus: CorpusSpec  # where and how to read it (Parquet, JSONL, text; Gutenberg stripping, ...)
    weight: float  # renormalized: the weights of a mixture sum to 1
    weight_given: float  # as written in the weights file or on the command line

    @property
    def path(self) -> str:
        return self.corpus.path


@dataclass(frozen=True)
class WeightsFile:
    path: str
    weights: dict[str, float]
    token_budget: int | None = None
    n_ctx: int | None = None
    max_epochs: float | None = None


@dataclass(frozen=True)
class MixtureInput:
    """One `--dataset`: a corpus to tokenize, and its weight when given beside it (else the weights file's)."""

    corpus: CorpusSpec  # named after the dataset
    weight: float | None = None

    @property
    def name(self) -> str:
        return self.corpus.name


def parse_dataset_arg(spec: str) -> MixtureInput:
    """`NAME=PATH[,key=value...][:WEIGHT]` -> MixtureInput (PATH may itself hold colons: s3a://...; the reader
    options are curation.corpora's)."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise ConfigError(f"--dataset must look like NAME=PATH:WEIGHT, got {spec!r}")
    path, weight = rest, None
    head, colon, tail = rest.rpartition(":")
    if colon and head and not tail.startswith("//"):
        try:
            weight = float(tail)
        except ValueError:
            pass
        else:
            path = head
    return MixtureInput(parse_corpus_spec(f"{name}={path}"), weight)


def read_weights_file(path: str) -> WeightsFile:
    """A JSON weights file: {"datasets": {NAME: WEIGHT or {"weight": W, ...}}, "token_budget": ...}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"weights file not found: {path}") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"weights file {path} is not readable JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict) or not data["datasets"]:
        raise ConfigError(f'weights file {path} needs a non-empty "datasets" object of NAME: WEIGHT')
    weights = {}
    for name, entry in data["datasets"].items():
        weight = entry.get("weight") if isinstance(entry, dict) else entry
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ConfigError(f"weights file {path}: dataset {name!r} has no numeric weight")
        weights[name] = float(weight)
    budget = data.get("token_budget")
    return WeightsFile(
        path, weights, int(budget) if budget is not None else None, data.get("n_ctx"), data.get("max_epochs")
    )


def resolve_mixture(
    inputs: list[MixtureInput], weights_file: WeightsFile | None, check_paths: bool = True
) -> tuple[list[DatasetSpec], list[str]]:
    """The datasets to tokenize, with renormalized weights, and the names left out for weight 0.

    Without a weights file every --dataset carries its weight; with one, --dataset supplies the
    paths (and may override a weight), and every dataset the file weights above 0 needs a path.
    `check_paths=False` leaves out checking that the paths exist: another stage may not have written them yet.
    """
    given: dict[str, MixtureInput] = {}
    for dataset in inputs:
        if not DATASET_NAME.match(dataset.name):
            raise ConfigError(f"dataset name {dataset.name!r} must be letters, digits, '_', '.' or '-'")
        if dataset.name in given:
            raise ConfigError(f"dataset {dataset.name!r} is given twice")
        given[dataset.name] = dataset
    if weights_file is None:
        if not given:
            raise ConfigError("no datasets: give --dataset NAME=PATH:WEIGHT (one or more) or --weights FILE")
        for name, dataset in given.items():
            if dataset.weight is None:
                raise ConfigError(
                    f"dataset {name!r} has no weight: write --dataset {name}=PATH:WEIGHT or give --weights FILE"
                )
        weights = {name: dataset.weight for name, dataset in given.items()}
    else:
        unknown = sorted(set(given) - set(weights_file.weights))
        if unknown:
            raise ConfigError(
                f"unknown dataset {unknown[0]!r}: not in weights file {weights_file.path} "
                f"(it has {', '.join(weights_file.weights)})"
            )
        weights = {
            name: given[name].weight if name in given and given[name].weight is not None else weight
            for name, weight in weights_file.weights.items()
        }
    for name, weight in weights.items():
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"dataset {name!r} has weight {weight}: weights must be finite and not negative")
    total = sum(weights.values())
    if total <= 0:
        raise ConfigError("all dataset weights are zero: at least one must be positive")
    specs, zero_weight = [], []
    for name, weight in weights.items():
        if weight == 0:
            zero_weight.append(name)
            continue
        if name not in given:
            raise ConfigError(
                f"dataset {name!r} has weight {weight} in {weights_file.path} but no path: "
                f"give --dataset {name}=PATH (or {name}=PATH:0 to leave it out)"
            )
        corpus = given[name].corpus
        if check_paths and not is_uri(corpus.path) and not os.path.exists(corpus.path):
            raise ConfigError(f"dataset {name!r}: input path does not exist: {corpus.path}")
        specs.append(DatasetSpec(name, corpus, weight / total, weight))
    return specs, zero_weight
