"""The mixture manifest: the contract between the mixture stage and everything that reads its output.

The mixture job (curation.mixture, Spark) writes OUTPUT/manifest.json and the token shards; the trainer,
the experiment and the notebooks only read them. This module is that contract: the JSON Schema, the
validation of a manifest's internal consistency, the sha256 of a file, and `load_manifest`, which
checks every shard's size and checksum and hands out memory-mapped token arrays. It imports neither
Spark nor the job, so a training machine needs neither.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.tokenizer import EOT, MIN_VOCAB_SIZE, token_dtype

MANIFEST_SCHEMA_NAME = "curation.mixture.manifest"
MANIFEST_VERSION = 1
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
READ_CHUNK = 1 << 24
DROP_REASONS = ("empty_text", "null_text", "parse_error")  # why an input document is not in the shards


def epochs_at_budget(weight: float, token_budget: int, tokens: int) -> float:
    """How many times the trainer goes through a dataset: its share of the budget over its size."""
    return weight * token_budget / tokens


_COUNT = {"type": "integer", "minimum": 0}
_SHA = {"type": "string", "pattern": SHA256.pattern}
_SHARD = {
    "type": "object",
    "required": ["tokens_file", "index_file", "documents", "tokens", "bytes", "sha256", "index_bytes", "index_sha256"],
    "additionalProperties": False,
    "properties": {
        "tokens_file": {"type": "string"},
        "index_file": {"type": "string"},
        "documents": {"type": "integer", "minimum": 1},
        "tokens": {"type": "integer", "minimum": 1},
        "bytes": _COUNT,
        "sha256": _SHA,
        "index_bytes": _COUNT,
        "index_sha256": _SHA,
    },
}
_DATASET = {
    "type": "object",
    "required": [
        "name",
        "weight",
        "weight_given",
        "documents",
        "tokens",
        "tokens_at_budget",
        "epochs",
        "dropped",
        "shards",
        "provenance",
    ],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": DATASET_NAME.pattern},
        "weight": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "weight_given": {"type": "number", "exclusiveMinimum": 0},
        "documents": {"type": "integer", "minimum": 1},
        "tokens": {"type": "integer", "minimum": 1},
        "tokens_at_budget": _COUNT,
        "epochs": {"type": "number", "exclusiveMinimum": 0},
        # null_text is not required: manifests written before it existed stay valid
        "dropped": {
            "type": "object",
            "required": ["empty_text", "parse_error"],
            "additionalProperties": False,
            "properties": {reason: _COUNT for reason in DROP_REASONS},
        },
        "shards": {"type": "array", "minItems": 1, "items": _SHARD},
        "provenance": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "inputs": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "upstream": {"type": "object"},
                "given": {"type": "object"},
            },
        },
    },
}
MANIFEST_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"{MANIFEST_SCHEMA_NAME}/v{MANIFEST_VERSION}",
    "title": "Training mixture manifest: tokenized shards per dataset with sampling weights",
    "type": "object",
    "required": [
        "schema",
        "schema_version",
        "project",
        "tokenizer",
        "token_budget",
        "n_ctx",
        "max_epochs",
        "datasets",
        "documents",
        "tokens",
        "warnings",
    ],
    "properties": {
        "schema": {"const": MANIFEST_SCHEMA_NAME},
        "schema_version": {"const": MANIFEST_VERSION},
        "project": {
            "type": "object",
            "required": ["name", "version", "git_commit"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "git_commit": {"type": ["string", "null"]},
                "git_dirty": {"type": ["boolean", "null"]},
            },
        },
        "tokenizer": {
            "type": "object",
            "required": ["file", "sha256", "kind", "source", "vocab_size", "eot_token", "eot_id", "dtype"],
            "properties": {
                "file": {"type": "string"},
                "sha256": _SHA,
                "kind": {"const": "byte-level-bpe"},
                "source": {"enum": ["trained", "gpt2-files"]},
                "vocab_size": {"type": "integer", "minimum": MIN_VOCAB_SIZE},
                "eot_token": {"const": EOT},
                "eot_id": _COUNT,
                "dtype": {"enum": ["uint16", "uint32"]},
            },
        },
        "token_budget": {"type": "integer", "minimum": 1},
        "n_ctx": {"type": "integer", "minimum": 1},
        "max_epochs": {"type": "number", "exclusiveMinimum": 0},
        "weights_file": {"type": ["string", "null"]},
        "zero_weight_datasets": {"type": "array", "items": {"type": "string"}},
        "documents": _COUNT,
        "tokens": _COUNT,
        "datasets": {"type": "array", "minItems": 1, "items": _DATASET},
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
}

_JSON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "integer": int,
    "number": (int, float),
}


class ManifestError(ValueError):
    """A manifest that does not match its schema or whose numbers do not add up."""


class ChecksumError(ManifestError):
    """A shard whose bytes are not the ones the manifest describes."""


def schema_errors(value, schema: dict, where: str = "$") -> list[str]:
    """Violations of the JSON Schema keywords MANIFEST_SCHEMA uses (a subset of draft 2020-12)."""
    errors = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: must be {schema['const']!r}, not {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: must be one of {schema['enum']}, not {value!r}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        is_bool = isinstance(value, bool)
        if not any(isinstance(value, _JSON_TYPES[t]) and (t == "boolean" or not is_bool) for t in types):
            return errors + [f"{where}: must be of type {' or '.join(types)}, not {type(value).__name__}"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} is below the minimum {schema['minimum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: {value} must be above {schema['exclusiveMinimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: needs at least {schema['minItems']} items")
        for i, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), f"{where}[{i}]")
    if isinstance(value, dict):
        errors += [f"{where}: missing {key!r}" for key in schema.get("required", []) if key not in value]
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected {key!r}")
    return errors


def validate_manifest(manifest: dict) -> None:
    """Raise ManifestError unless `manifest` matches MANIFEST_SCHEMA and its numbers agree."""
    errors = schema_errors(manifest, MANIFEST_SCHEMA)
    if errors:
        raise ManifestError("manifest does not match its schema: " + "; ".join(errors[:10]))
    problems = []
    tokenizer = manifest["tokenizer"]
    if tokenizer["eot_id"] >= tokenizer["vocab_size"]:
        problems.append("tokenizer.eot_id is outside the vocabulary")
    if tokenizer["dtype"] != token_dtype(tokenizer["vocab_size"]).name:
        problems.append(f"tokenizer.dtype {tokenizer['dtype']} does not fit vocab_size {tokenizer['vocab_size']}")
    datasets = manifest["datasets"]
    if len({d["name"] for d in datasets}) != len(datasets):
        problems.append("dataset names repeat")
    if not math.isclose(sum(d["weight"] for d in datasets), 1.0, rel_tol=1e-9):
        problems.append("dataset weights do not sum to 1")
    itemsize = np.dtype(tokenizer["dtype"]).itemsize
    for d in datasets:
        shards = d["shards"]
        if d["tokens"] != sum(s["tokens"] for s in shards) or d["documents"] != sum(s["documents"] for s in shards):
            problems.append(f"dataset {d['name']!r}: tokens or documents differ from the sum over its shards")
        if any(s["bytes"] != s["tokens"] * itemsize for s in shards):
            problems.append(f"dataset {d['name']!r}: a shard's bytes are not tokens x {itemsize}")
        if not math.isclose(
            d["epochs"], epochs_at_budget(d["weight"], manifest["token_budget"], d["tokens"]), rel_tol=1e-9
        ):
            problems.append(f"dataset {d['name']!r}: epochs is not weight x token_budget / tokens")
    if manifest["tokens"] != sum(d["tokens"] for d in datasets):
        problems.append("tokens is not the sum over datasets")
    if problems:
        raise ManifestError("manifest is inconsistent: " + "; ".join(problems))


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class TokenShard:
    """A shard's tokens (memory-mapped) and document offsets: document i is tokens[offsets[i]:offsets[i+1]],
    ending in EOT."""

    path: Path
    tokens: np.memmap
    offsets: np.ndarray

    @property
    def documents(self) -> int:
        return len(self.offsets) - 1

    def document(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]


@dataclass(frozen=True)
class MixtureDataset:
    name: str
    weight: float
    epochs: float
    documents: int
    tokens: int
    shards: list[TokenShard]


@dataclass(frozen=True)
class Mixture:
    """What the trainer needs: per dataset its sampling weight and memory-mapped shards."""

    root: Path
    manifest: dict
    datasets: dict[str, MixtureDataset]

    @property
    def eot_id(self) -> int:
        return self.manifest["tokenizer"]["eot_id"]

    @property
    def n_ctx(self) -> int:
        return self.manifest["n_ctx"]

    @property
    def token_budget(self) -> int:
        return self.manifest["token_budget"]

    def tokenizer(self):
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(self.root / self.manifest["tokenizer"]["file"]))


def _check_file(path: Path, size: int, sha256: str | None, shard_name: str) -> None:
    if not path.is_file():
        raise ChecksumError(f"shard {shard_name}: file missing: {path}")
    actual = path.stat().st_size
    if actual != size:
        raise ChecksumError(
            f"shard {shard_name}: {path} is {actual} bytes, the manifest says {size} (corrupt or truncated)"
        )
    if sha256 is not None:
        found = file_sha256(path)
        if found != sha256:
            raise ChecksumError(
                f"shard {shard_name}: checksum mismatch for {path}: sha256 {found}, "
                f"the manifest says {sha256} (the file is corrupt or was changed)"
            )


def load_manifest(path: str | os.PathLike, verify: bool = True) -> Mixture:
    """Read OUTPUT/manifest.json (or OUTPUT), validate it, check every shard's size and (with
    `verify`) sha256, and memory-map the token arrays. ManifestError / ChecksumError otherwise."""
    manifest_path = Path(path)
    if manifest_path.is_dir():
        manifest_path = manifest_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    validate_manifest(manifest)
    root = manifest_path.parent
    dtype = np.dtype(manifest["tokenizer"]["dtype"]).newbyteorder("<")
    tokenizer_path = root / manifest["tokenizer"]["file"]
    if verify and (not tokenizer_path.is_file() or file_sha256(tokenizer_path) != manifest["tokenizer"]["sha256"]):
        raise ChecksumError(f"tokenizer {tokenizer_path}: missing, or its sha256 differs from the manifest's")
    datasets = {}
    for d in manifest["datasets"]:
        shards = []
        for s in d["shards"]:
            tokens_path, index_path = root / s["tokens_file"], root / s["index_file"]
            _check_file(tokens_path, s["bytes"], s["sha256"] if verify else None, s["tokens_file"])
            _check_file(index_path, s["index_bytes"], s["index_sha256"] if verify else None, s["index_file"])
            offsets = np.load(index_path, mmap_mode="r", allow_pickle=False)
            if len(offsets) != s["documents"] + 1 or int(offsets[-1]) != s["tokens"]:
                raise ChecksumError(f"shard {s['index_file']}: index does not match the manifest's counts")
            tokens = np.memmap(tokens_path, dtype=dtype, mode="r")
            shards.append(TokenShard(tokens_path, tokens, offsets))
        datasets[d["name"]] = MixtureDataset(d["name"], d["weight"], d["epochs"], d["documents"], d["tokens"], shards)
    return Mixture(root, manifest, datasets)
