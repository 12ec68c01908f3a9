"""Benchmark decontamination: cut training text that shares N-grams with benchmark test sets (GPT-3, App. C).

Words are lowercased, punctuation is removed, and text is split on whitespace; an N-gram (N = 13 unless
set per benchmark) is hashed to 64 bits as a polynomial over per-word hashes. Benchmarks are small, so
their N-grams (what a model sees: contexts, questions, choices, continuations, answers) form one sorted
hash array per N that is broadcast to every task. A training document is first mapped to vocabulary
ids (a word outside every benchmark's vocabulary cannot be part of a match), so only candidate windows
are hashed and looked up, a whole Arrow batch at a time, and char offsets are computed only for documents
that have a hit.

Two passes over the training data, no per-N-gram state on the driver beyond the benchmark's own:
  1. every document emits the distinct benchmark N-grams it contains; Spark counts documents per
     N-gram, and N-grams in more than `max_docs` documents are ignored as too common;
  2. every document with a pass-1 hit is cut (the others are written unchanged without going through
     Python): each remaining collision's span plus `margin` chars each side is removed,
     pieces shorter than `min_piece` chars are dropped, and a document split into more than
     `max_pieces` pieces (or with nothing left) is dropped whole. Books are processed like any page.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import string
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.features import hash64
from curation.job import SparkJob, write_json, write_text
from curation.spark import ConfigError

DEFAULT_N = 13
AUTO_N_RANGE = (8, 13)  # GPT-3: the 5th percentile of example length, at least 8, at most 13
NGRAM_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant of the polynomial N-gram hash
BENCHMARK_SUFFIXES = (".jsonl", ".jsonl.gz")
OUTCOMES = ("unchanged", "changed", "dropped_too_many_pieces", "dropped_nothing_left", "no_text")
DROP_OUTCOMES = ("dropped_too_many_pieces", "dropped_nothing_left")
OUTCOME_COLUMNS = [("decontam_outcome", pa.string()), ("decontam_chars_in", pa.int64()),
                   ("decontam_chars_removed", pa.int64()), ("decontam_pieces", pa.int32()),
                   ("decontam_pieces_kept", pa.int32()), ("decontam_collisions", pa.int32())]
PIECE_SEPARATOR = "\n\n"


# --- normalisation ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def punctuation_table() -> dict[int, None]:
    """str.translate table deleting every Unicode punctuation character (all lie below U+20000) and
    every ASCII symbol."""
    chars = {c for c in map(chr, range(0x20000)) if unicodedata.category(c).startswith("P")}
    return dict.fromkeys(map(ord, chars | set(string.punctuation)))


ASCII_PUNCTUATION = string.punctuation.encode("ascii")  # every ASCII char in punctuation_table()


def normalize_words(text: str) -> list[str]:
    """Lowercased whitespace-split words with punctuation removed (pure-punctuation tokens vanish)."""
    table = punctuation_table()
    lowered = text.lower()
    if lowered.isascii():  # one translate call over ASCII text takes CPython's fast path
        return lowered.translate(table).split()
    return [w for w in (t.translate(table) for t in lowered.split()) if w]


def words_with_offsets(text: str) -> tuple[list[str], list[int], list[int]]:
    """normalize_words(text) with each word's [start, end) char span in the original text."""
    table = punctuation_table()
    words, starts, ends = [], [], []
    for match in re.finditer(r"\S+", text):
        word = match.group().lower().translate(table)
        if word:
            words.append(word)
            starts.append(match.start())
            ends.append(match.end())
    return words, starts, ends


# --- benchmarks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldMapping:
    """Which fields a model sees: prompt fields, then completion fields (a list field gives alternatives)."""

    prompt: tuple[str, ...]
    completion: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return self.prompt + self.completion

    def __str__(self) -> str:
        return ",".join(self.prompt) + (":" + ",".join(self.completion) if self.completion else "")


# Known layouts, tried in order: the first whose fields a file has is used.
DEFAULT_MAPPINGS = (
    FieldMapping(("context_options",), ("continuation",)),  # winogrande, winograd_wsc
    FieldMapping(("query",), ("choices",)),  # piqa, copa, arc, openbook_qa, commonsense_qa, siqa
    FieldMapping(("context",), ("chain_of_thought", "answer")),  # gsm8k
    FieldMapping(("context",), ("continuation",)),  # lambada, jeopardy
    FieldMapping(("context",), ("answer",)),  # triviaqa
    FieldMapping(("question",), ("answer",)),
    FieldMapping(("text",)),
)
# Fields a model does not see as text: labels, alternative gold answers, metadata.
METADATA_FIELDS = frozenset({"gold", "label", "labels", "aliases", "category", "id", "idx", "source", "split"})


def parse_field_mapping(spec: str) -> FieldMapping:
    """`PROMPT[,PROMPT...][:COMPLETION[,COMPLETION...]]` -> FieldMapping."""
    prompt, _, completion = spec.partition(":")
    mapping = FieldMapping(tuple(f for f in prompt.split(",") if f), tuple(f for f in completion.split(",") if f))
    if not mapping.prompt:
        raise ConfigError(f"bad field mapping {spec!r}: expected PROMPT[,PROMPT...][:COMPLETION[,...]]")
    return mapping


def choose_mapping(path: str, fields: set[str], explicit: FieldMapping | None) -> FieldMapping:
    """The mapping for a file whose records have `fields`; ConfigError naming the file and its fields."""
    have = ", ".join(sorted(fields)) or "none"
    if explicit is not None:
        missing = [f for f in explicit.fields if f not in fields]
        if missing:
            raise ConfigError(f"benchmark {path}: mapped fields {', '.join(missing)} not found (it has: {have})")
        return explicit
    for mapping in DEFAULT_MAPPINGS:
        if set(mapping.fields) <= fields:
            unknown = sorted(fields - set(mapping.fields) - METADATA_FIELDS)
            if not unknown:
                return mapping
            raise ConfigError(f"benchmark {path}: unknown fields {', '.join(unknown)} (it has: {have}); "
                              f"map them with --benchmark-fields {benchmark_name(path)}=PROMPT,...:COMPLETION,...")
    raise ConfigError(f"benchmark {path}: no known field layout (it has: {have}); "
                      f"pass --benchmark-fields {benchmark_name(path)}=PROMPT,...:COMPLETION,...")


def _alternatives(record: dict, fields: tuple[str, ...]) -> list[str]:
    texts = [""]
    for name in fields:
        value = record[name]
        options = [str(v) for v in value if v is not None] if isinstance(value, list) else [str(value)]
        texts = [f"{t} {o}" if t else o for t in texts for o in options]
    return texts


def example_texts(record: dict, mapping: FieldMapping) -> list[str]:
    """Every text a model sees for one example: each prompt alternative followed by each completion."""
    prompts = _alternatives(record, mapping.prompt)
    completions = _alternatives(record, mapping.completion) if mapping.completion else [""]
    return sorted({f"{p} {c}".strip() for p in prompts for c in completions})


def benchmark_name(path: str) -> str:
    name = os.path.basename(path)
    for suffix in BENCHMARK_SUFFIXES[::-1]:
        name = name.removesuffix(suffix)
    return name


@dataclass
class Benchmark:
    """One test set: its examples as normalised word lists (one list per text a model sees)."""

    name: str
    path: str
    mapping: FieldMapping
    examples: list[list[list[str]]]
    skipped: dict[str, int]
    n: int = DEFAULT_N
    example_hashes: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def too_short(self) -> int:
        return sum(1 for hashes in self.example_hashes if hashes.size == 0)


def _open_lines(path: str):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_benchmark(path: str, explicit: FieldMapping | None = None) -> Benchmark:
    """Examples of one JSONL test set; undecodable, unparsable or incomplete lines are counted skips."""
    skipped: Counter = Counter()
    records = []
    with _open_lines(path) as lines:
        for raw in lines:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                skipped["non_utf8"] += 1
                continue
            if not line.strip():
                skipped["blank"] += 1
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                skipped["bad_json"] += 1
                continue
            if not isinstance(record, dict):
                skipped["bad_json"] += 1
                continue
            records.append(record)
    mapping = explicit
    if records:
        mapping = choose_mapping(path, set(records[0]), explicit)
    examples = []
    for record in records:
        if any(record.get(f) in (None, "", []) for f in mapping.fields):
            skipped["missing_fields"] += 1
            continue
        examples.append([normalize_words(text) for text in example_texts(record, mapping)])
    return Benchmark(benchmark_name(path), path, mapping or FieldMapping(()), examples, dict(sorted(skipped.items())))


def auto_ngram_size(benchmark: Benchmark) -> int:
    """GPT-3's rule: the 5th percentile of example length in words, clamped to [8, 13]."""
    lengths = [max(len(words) for words in texts) for texts in benchmark.examples if texts]
    low, high = AUTO_N_RANGE
    if not lengths:
        return high
    return int(min(high, max(low, np.percentile(lengths, 5, method="lower"))))


def parse_ngram_size(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        raise ConfigError(f"bad N-gram size {value!r}: expected a whole number or 'auto'") from None
    if n < 1:
        raise ConfigError(f"N-gram size must be at least 1 (got {n})")
    return n


# --- matching -----------------------------------------------------------------------------


@dataclass
class Matcher:
    """Benchmark vocabulary and N-gram hashes: everything a task needs to find collisions."""

    vocab: dict[str, int]  # word -> id >= 1; 0 means "in no benchmark"
    word_hashes: np.ndarray  # uint64 per id
    ngrams: dict[int, np.ndarray]  # N -> sorted unique uint64 N-gram hashes

    def word_ids(self, text: str) -> np.ndarray:
        """Vocabulary ids of normalize_words(text), fast: ASCII punctuation goes in one C call, and
        other punctuation is looked for only in words missing from the vocabulary."""
        get = self.vocab.get
        lowered = text.lower()
        if lowered.isascii():
            ids = [get(t, 0) for t in lowered.translate(punctuation_table()).split()]
        else:
            tokens = lowered.encode("utf-8", "surrogatepass").translate(None, ASCII_PUNCTUATION) \
                .decode("utf-8", "surrogatepass").split()
            ids = [get(t, -1) for t in tokens]
            if -1 in ids:
                table = punctuation_table()
                fixed = []
                for token, i in zip(tokens, ids):
                    if i == -1:
                        token = token.translate(table)
                        if not token:
                            continue
                        i = get(token, 0)
                    fixed.append(i)
                ids = fixed
        return np.fromiter(ids, dtype=np.int64, count=len(ids))

    def with_ngrams(self, ngrams: dict[int, np.ndarray]) -> "Matcher":
        return Matcher(self.vocab, self.word_hashes, ngrams)


def ngram_hashes(ids: np.ndarray, n: int, word_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hash per window, window is all-known mask) for every N-word window of `ids`."""
    windows = len(ids) - n + 1
    if windows <= 0:
        return np.empty(0, np.uint64), np.empty(0, bool)
    values = word_hashes[ids]
    hashes = values[:windows].copy()
    for k in range(1, n):
        hashes *= NGRAM_MULTIPLIER
        hashes += values[k:k + windows]
    unknown = np.concatenate(([0], np.cumsum(ids == 0)))
    return hashes, unknown[n:] == unknown[:windows]


def find_hits(ids: np.ndarray, matcher: Matcher) -> list[tuple[int, int, int]]:
    """(N, window start, hash) of every window whose N-gram is in the matcher's set, sorted."""
    return batch_hits([ids], matcher)[0]


def batch_hits(id_arrays: list[np.ndarray], matcher: Matcher) -> list[list[tuple[int, int, int]]]:
    """`find_hits` of many documents at once: their ids are laid end to end, each followed by a 0 (a word
    in no benchmark), so no window spans two documents and each N is hashed and looked up once per batch."""
    hits: list[list[tuple[int, int, int]]] = [[] for _ in id_arrays]
    if not id_arrays:
        return hits
    flat = np.concatenate([np.append(ids, 0) for ids in id_arrays])
    starts = np.concatenate(([0], np.cumsum([len(ids) + 1 for ids in id_arrays])[:-1]))
    for n, table in sorted(matcher.ngrams.items()):
        if table.size == 0:
            continue
        hashes, valid = ngram_hashes(flat, n, matcher.word_hashes)
        windows = np.flatnonzero(valid)
        candidates = hashes[windows]
        found = table[np.minimum(np.searchsorted(table, candidates), table.size - 1)] == candidates
        positions = windows[found]
        docs = np.searchsorted(starts, positions, side="right") - 1
        for doc, position, value in zip(docs.tolist(), (positions - starts[docs]).tolist(), candidates[found].tolist()):
            hits[doc].append((n, position, value))
    return hits


def build_matcher(benchmarks: list[Benchmark]) -> Matcher:
    """Vocabulary of every benchmark word, and each benchmark's example N-gram hashes (set in place)."""
    words = sorted({w for b in benchmarks for texts in b.examples for ws in texts for w in ws})
    vocab = {w: i for i, w in enumerate(words, 1)}
    word_hashes = np.fromiter((0, *(hash64(w.encode("utf-8")) for w in words)), dtype=np.uint64,
                              count=len(words) + 1)
    per_n: dict[int, list[np.ndarray]] = defaultdict(list)
    for bench in benchmarks:
        bench.example_hashes = []
        for texts in bench.examples:
            parts = [ngram_hashes(np.fromiter((vocab[w] for w in ws), np.int64, len(ws)), bench.n, word_hashes)[0]
                     for ws in texts]
            hashes = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.uint64)
            bench.example_hashes.append(hashes)
            per_n[bench.n].append(hashes)
    ngrams = {n: np.unique(np.concatenate(arrays)) for n, arrays in per_n.items()}
    return Matcher(vocab, word_hashes, ngrams)


@dataclass
class BenchmarkSet:
    benchmarks: list[Benchmark]
    matcher: Matcher


def load_benchmarks(directory: str, ngram_size: int | str = DEFAULT_N, ngram_overrides: dict | None = None,
                    field_overrides: dict | None = None) -> BenchmarkSet:
    """Every `*.jsonl[.gz]` test set under `directory`, with per-set N and field mapping; ConfigError on
    a missing directory, an unknown layout, an override naming no file, or no examples at all."""
    ngram_overrides, field_overrides = ngram_overrides or {}, field_overrides or {}
    if not os.path.isdir(directory):
        raise ConfigError(f"benchmark directory does not exist: {directory}")
    paths = sorted(str(p) for p in Path(directory).iterdir() if p.name.endswith(BENCHMARK_SUFFIXES))
    if not paths:
        raise ConfigError(f"no *.jsonl benchmark files in {directory}")
    names = [benchmark_name(p) for p in paths]
    for option, overrides in (("--ngram", ngram_overrides), ("--benchmark-fields", field_overrides)):
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ConfigError(f"{option} names no benchmark file: {', '.join(unknown)} (have: {', '.join(names)})")
    benchmarks = []
    for path, name in zip(paths, names):
        bench = read_benchmark(path, field_overrides.get(name))
        size = ngram_overrides.get(name, ngram_size)
        bench.n = auto_ngram_size(bench) if size == "auto" else size
        benchmarks.append(bench)
    if not any(b.examples for b in benchmarks):
        raise ConfigError(f"no benchmark examples in {directory} (every file is empty or unreadable)")
    return BenchmarkSet(benchmarks, build_matcher(benchmarks))


# --- cutting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CutPolicy:
    margin: int = 200  # chars removed on each side of a collision
    min_piece: int = 200  # pieces shorter than this are dropped
    max_pieces: int = 10  # a document split into more pieces is dropped whole
    max_docs: int = 10  # N-grams in more training documents than this are ignored


@dataclass(frozen=True)
class Cut:
    outcome: str
    pieces: tuple[tuple[int, int], ...]  # kept [start, end) char ranges
    chars_removed: int
    split_into: int  # pieces the collisions split the document into (before dropping short ones)


def cut_spans(length: int, spans: list[tuple[int, int]], policy: CutPolicy) -> Cut:
    """Remove each span plus `margin` chars each side from a text of `length` chars."""
    if not spans:
        return Cut("unchanged", ((0, length),), 0, 1)
    removed = []
    for start, end in sorted(spans):
        start, end = max(0, start - policy.margin), min(length, end + policy.margin)
        if removed and start <= removed[-1][1]:
            removed[-1] = (removed[-1][0], max(removed[-1][1], end))
        else:
            removed.append((start, end))
    bounds = [0] + [x for r in removed for x in r] + [length]
    split = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2) if bounds[i + 1] > bounds[i]]
    if len(split) > policy.max_pieces:
        return Cut("dropped_too_many_pieces", (), length, len(split))
    kept = tuple((s, e) for s, e in split if e - s >= policy.min_piece)
    if not kept:
        return Cut("dropped_nothing_left", (), length, len(split))
    return Cut("changed", kept, length - sum(e - s for s, e in kept), len(split))


def document_hits(text: str, matcher: Matcher) -> list[tuple[int, int, int, int]]:
    """(N, hash, char start, char end) of every benchmark N-gram occurrence in `text`, in text order."""
    ids = matcher.word_ids(text)
    hits = find_hits(ids, matcher)
    if not hits:
        return []
    words, starts, ends = words_with_offsets(text)
    if len(words) != len(ids):  # the fast path tokenised differently (should not happen): trust the slow one
        ids = np.fromiter((matcher.vocab.get(w, 0) for w in words), np.int64, len(words))
        hits = find_hits(ids, matcher)
    return sorted((n, h, starts[i], ends[i + n - 1]) for n, i, h in hits)


def decontaminate_text(text: str, matcher: Matcher, policy: CutPolicy) -> tuple[str | None, Cut, int]:
    """(cleaned text or None when dropped, the cut, collisions) of one document."""
    hits = document_hits(text, matcher)
    cut = cut_spans(len(text), [(s, e) for _, _, s, e in hits], policy)
    if cut.outcome == "unchanged":
        return text, cut, 0
    if not cut.pieces:
        return None, cut, len(hits)
    return PIECE_SEPARATOR.join(text[s:e] for s, e in cut.pieces), cut, len(hits)


# --- report -------------------------------------------------------------------------------


def contamination(benchmarks: list[Benchmark], ngram_docs: list[tuple[int, int, str, int]], policy: CutPolicy):
    """From (N, hash, dataset, documents) rows: the N-grams to cut ({N: sorted uint64}), per-benchmark
    example counts and where dirty examples were found, and N-gram totals."""
    per_ngram: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    for n, h, dataset, docs in ngram_docs:
        per_ngram[(n, h)][dataset] = per_ngram[(n, h)].get(dataset, 0) + docs
    common = {key for key, by_dataset in per_ngram.items() if sum(by_dataset.values()) > policy.max_docs}
    cut = defaultdict(list)
    for n, h in sorted(set(per_ngram) - common):
        cut[n].append(h)
    cut_arrays = {n: np.array(hs, dtype=np.uint64) for n, hs in cut.items()}
    report = {}
    for bench in benchmarks:
        table = cut_arrays.get(bench.n, np.empty(0, np.uint64))
        dirty, found_in = 0, Counter()
        for hashes in bench.example_hashes:
            matched = hashes[np.isin(hashes, table)] if table.size else hashes[:0]
            if matched.size:
                dirty += 1
                found_in.update({d for h in matched.tolist() for d in per_ngram[(bench.n, h)]})
        examples, short = len(bench.examples), bench.too_short
        report[bench.name] = {
            "file": bench.path, "fields": str(bench.mapping), "ngram_size": bench.n, "examples": examples,
            "dirty": dirty, "clean": examples - dirty - short, "too_short": short,
            "found_in": dict(sorted(found_in.items())), "skipped_lines": bench.skipped,
        }
    totals = {
        "matched": len(per_ngram), "ignored_common": len(common), "cut": len(per_ngram) - len(common),
    }
    return cut_arrays, report, totals


def format_report(summary: dict) -> str:
    """Readable tables: benchmarks (like GPT-3's Table C.1), then training datasets."""
    datasets = sorted(summary["datasets"])
    lines = ["| benchmark | N | examples | dirty | clean | too short | dirty % | found in |", "|---" * 8 + "|"]
    for name, b in sorted(summary["benchmarks"].items()):
        pct = 100 * b["dirty"] / b["examples"] if b["examples"] else 0.0
        found = ", ".join(f"{d} {c}" for d, c in b["found_in"].items()) or "-"
        lines.append(f"| {name} | {b['ngram_size']} | {b['examples']} | {b['dirty']} | {b['clean']} | "
                     f"{b['too_short']} | {pct:.1f} | {found} |")
    lines += ["", "| dataset | documents | unchanged | changed | dropped | no text | chars removed | % chars |",
              "|---" * 8 + "|"]
    for name in datasets:
        d = summary["datasets"][name]
        pct = 100 * d["chars_removed"] / d["chars_in"] if d["chars_in"] else 0.0
        lines.append(f"| {name} | {d['documents_in']} | {d['unchanged']} | {d['changed']} | {d['dropped']} | "
                     f"{d['no_text']} | {d['chars_removed']} | {pct:.3f} |")
    n = summary["ngrams"]
    lines += ["", f"N-grams: {n['benchmark']} in benchmarks, {n['matched']} found in training data, "
                  f"{n['ignored_common']} ignored (in more than {summary['config']['max_docs']} documents), "
                  f"{n['cut']} cut"]
    return "\n".join(lines)


# --- Spark --------------------------------------------------------------------------------

HITS_SCHEMA = pa.schema([("doc_id", pa.string()), ("n", pa.int32()), ("hash", pa.int64())])


def hit_batches(batches, matcher_bc):
    """mapInArrow body of pass 1: (doc_id, text) batches -> the distinct (doc_id, N, hash) of each document."""
    matcher = matcher_bc.value
    for batch in batches:
        texts = batch.column("text").to_pylist()
        hits = batch_hits([matcher.word_ids(t) if t else np.empty(0, np.int64) for t in texts], matcher)
        rows = [(doc_id, n, h) for doc_id, found in zip(batch.column("doc_id").to_pylist(), hits)
                for n, h in sorted({(n, h) for n, _, h in found})]
        doc_ids, ns, hashes = zip(*rows) if rows else ((), (), ())
        yield pa.RecordBatch.from_arrays([pa.array(doc_ids, pa.string()), pa.array(ns, pa.int32()),
                                          pa.array(np.array(hashes, np.uint64).view(np.int64), pa.int64())],
                                         schema=HITS_SCHEMA)


def cut_batches(batches, matcher_bc, policy: CutPolicy, text_column: str):
    """mapInArrow body of pass 2 (documents that had a hit in pass 1): every input column, the text cut,
    and the document's outcome."""
    matcher = matcher_bc.value
    for batch in batches:
        out_texts, stats = [], []
        for text in batch.column(text_column).to_pylist():
            if text is None:
                out_texts.append(None)
                stats.append(("no_text", 0, 0, 0, 0, 0))
                continue
            cleaned, cut, hits = decontaminate_text(text, matcher, policy)
            out_texts.append(text if cleaned is None else cleaned)  # a dropped document keeps its text
            stats.append((cut.outcome, len(text), cut.chars_removed, cut.split_into, len(cut.pieces), hits))
        index = batch.schema.get_field_index(text_column)
        columns = list(batch.columns)
        columns[index] = pa.array(out_texts, batch.schema.field(index).type)
        columns += [pa.array(list(values), kind) for values, (_, kind) in zip(zip(*stats), OUTCOME_COLUMNS)] \
            if stats else [pa.array([], kind) for _, kind in OUTCOME_COLUMNS]
        yield pa.RecordBatch.from_arrays(columns, names=batch.schema.names + [n for n, _ in OUTCOME_COLUMNS])


def untouched(frame, text_column: str):
    """The outcome columns `cut_batches` gives a document without hits, as native Spark expressions."""
    from pyspark.sql import functions as F

    text = F.col(text_column)
    missing = text.isNull()
    outcome = {"decontam_outcome": F.when(missing, "no_text").otherwise("unchanged"),
               "decontam_chars_in": F.coalesce(F.length(text), F.lit(0)).cast("long"),
               "decontam_chars_removed": F.lit(0).cast("long"),
               "decontam_pieces": F.when(missing, 0).otherwise(1).cast("int"),
               "decontam_pieces_kept": F.when(missing, 0).otherwise(1).cast("int"),
               "decontam_collisions": F.lit(0).cast("int")}
    return frame.select("*", *(value.alias(name) for name, value in outcome.items()))


def read_training(spark, spec):
    """A training dataset with all its columns (see curation.corpora.read_documents)."""
    from curation.corpora import read_documents

    return read_documents(spark, spec), "text"


def decontaminate(spark, inputs: dict, benchmarks: BenchmarkSet, output: str, policy: CutPolicy = CutPolicy()) -> dict:
    """Decontaminate `inputs` ({name: CorpusSpec}) against `benchmarks`; write per dataset documents/,
    dropped/ and ledger/, then summary.json and report.md, under `output`."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    sc = spark.sparkContext
    frames = {}
    for name, spec in sorted(inputs.items()):
        frame, text_column = read_training(spark, spec)
        if frame.rdd.getNumPartitions() == 1 < sc.defaultParallelism:  # e.g. one gzip JSONL file: spread the work
            frame = frame.repartition(sc.defaultParallelism).persist(StorageLevel.MEMORY_AND_DISK)
        frames[name] = (frame, text_column)

    # pass 1: documents per benchmark N-gram, per dataset
    all_ngrams = sc.broadcast(benchmarks.matcher)
    counts, hit_docs = None, {}
    for name, (frame, text_column) in frames.items():
        hits = (frame.select(F.col("doc_id").cast("string").alias("doc_id"), F.col(text_column).alias("text"))
                .mapInArrow(lambda b: hit_batches(b, all_ngrams), from_arrow_schema(HITS_SCHEMA))
                .persist(StorageLevel.MEMORY_AND_DISK))
        hit_docs[name] = hits
        per_ngram = hits.groupBy("n", "hash").count().withColumn("dataset", F.lit(name))
        counts = per_ngram if counts is None else counts.unionByName(per_ngram)
    rows = counts.collect()
    ngram_docs = [(r["n"], int(np.int64(r["hash"]).view(np.uint64)), r["dataset"], r["count"]) for r in rows]
    cut_ngrams, bench_report, ngram_totals = contamination(benchmarks.benchmarks, ngram_docs, policy)
    ngram_totals["benchmark"] = int(sum(a.size for a in benchmarks.matcher.ngrams.values()))
    all_ngrams.unpersist()

    # pass 2: cut every document
    to_cut = sc.broadcast(benchmarks.matcher.with_ngrams(cut_ngrams))
    datasets = {name: cut_dataset(spark, name, frame, text_column, hit_docs[name], to_cut, policy, output)
                for name, (frame, text_column) in frames.items()}
    to_cut.unpersist()
    for hits in hit_docs.values():
        hits.unpersist()

    summary = summarize(datasets, bench_report, ngram_totals, policy)
    write_json(spark, f"{output}/summary.json", summary)
    write_text(spark, f"{output}/report.md", format_report(summary) + "\n")
    return summary


def cut_dataset(spark, name: str, frame, text_column: str, hits, to_cut, policy: CutPolicy, output: str):
    """Pass 2 for one dataset: write documents/, dropped/ and ledger/ (changed and dropped documents);
    return its counts. Only documents with a pass-1 hit (or no doc_id to tell) go through Python; the
    rest are unchanged, by native expressions."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    fields = list(to_arrow_schema(frame.schema)) + [pa.field(n, t) for n, t in OUTCOME_COLUMNS]
    keyed = frame.withColumn("_hit_key", F.col("doc_id").cast("string"))
    hit_keys = hits.select(F.col("doc_id").alias("_hit_key")).distinct()
    to_check = keyed.join(hit_keys, "_hit_key", "left_semi").unionByName(keyed.where(F.col("_hit_key").isNull()))
    clean = keyed.where(F.col("_hit_key").isNotNull()).join(hit_keys, "_hit_key", "left_anti").drop("_hit_key")
    checked = to_check.drop("_hit_key").mapInArrow(lambda b: cut_batches(b, to_cut, policy, text_column),
                                                   from_arrow_schema(pa.schema(fields)))
    result = checked.unionByName(untouched(clean, text_column)).persist(StorageLevel.MEMORY_AND_DISK)
    extra = [n for n, _ in OUTCOME_COLUMNS]
    is_dropped = F.col("decontam_outcome").isin(*DROP_OUTCOMES)
    result.filter(~is_dropped).drop(*extra).write.mode("overwrite") \
        .option("parquet.enable.dictionary#text", "false").parquet(f"{output}/{name}/documents")
    result.filter(is_dropped).withColumnRenamed("decontam_outcome", "drop_reason").drop(*extra[1:]) \
        .write.mode("overwrite").parquet(f"{output}/{name}/dropped")
    # text written = text read - chars removed + the separators joining kept pieces
    separators = F.when(F.col("decontam_outcome") == "changed",
                        F.lit(len(PIECE_SEPARATOR)) * (F.col("decontam_pieces_kept") - 1)).otherwise(0)
    stats = {r["outcome"]: r for r in result.groupBy(F.col("decontam_outcome").alias("outcome")).agg(
        F.count(F.lit(1)).alias("docs"), F.sum("decontam_chars_in").alias("chars_in"),
        F.sum("decontam_chars_removed").alias("chars_removed"), F.sum("decontam_collisions").alias("collisions"),
        F.sum(F.when(~is_dropped, F.length(text_column) - separators)).alias("chars_out")).collect()}
    documents_in = frame.count()
    result.filter(~F.col("decontam_outcome").isin("unchanged", "no_text")).select(
        "doc_id", F.col("decontam_outcome").alias("outcome"),
        F.col("decontam_chars_in").alias("chars_in"), F.col("decontam_chars_removed").alias("chars_removed"),
        F.col("decontam_pieces").alias("pieces"), F.col("decontam_pieces_kept").alias("pieces_kept"),
        F.col("decontam_collisions").alias("collisions")).coalesce(1).write.mode("overwrite") \
        .parquet(f"{output}/{name}/ledger")
    result.unpersist()
    frame.unpersist()
    total = lambda key: int(sum(r[key] or 0 for r in stats.values()))  # noqa: E731
    docs = {o: int(stats[o]["docs"]) if o in stats else 0 for o in OUTCOMES}
    dropped = docs["dropped_too_many_pieces"] + docs["dropped_nothing_left"]
    counts = {
        "documents_in": documents_in, **docs, "dropped": dropped,
        "chars_in": total("chars_in"), "chars_removed": total("chars_removed"), "chars_out": total("chars_out"),
        "collisions": total("collisions"),
    }
    counts["conserved"] = (documents_in == sum(docs.values())
                           and counts["chars_in"] == counts["chars_out"] + counts["chars_removed"])
    return counts


def summarize(datasets: dict, bench_report: dict, ngram_totals: dict, policy: CutPolicy) -> dict:
    total = {k: sum(d[k] for d in datasets.values())
             for k in ("documents_in", "unchanged", "changed", "dropped", "no_text", "chars_in", "chars_removed")}
    return {
        **total,
        "examples": sum(b["examples"] for b in bench_report.values()),
        "dirty_examples": sum(b["dirty"] for b in bench_report.values()),
        "conserved": all(d["conserved"] for d in datasets.values()),
        "datasets": datasets,
        "benchmarks": bench_report,
        "ngrams": ngram_totals,
        "config": {"margin": policy.margin, "min_piece": policy.min_piece, "max_pieces": policy.max_pieces,
                   "max_docs": policy.max_docs},
    }


# --- the job ------------------------------------------------------------------------------


def _named(option: str, value: str) -> tuple[str, str]:
    name, sep, rest = value.partition("=")
    if not sep or not name or not rest:
        raise ConfigError(f"bad {option} {value!r}: expected NAME=VALUE")
    return name, rest


class DecontaminateJob(SparkJob):
    """`spark-submit jobs/decontaminate.py --input NAME=PATH ... --benchmarks DIR --output DIR`."""

    name = "decontaminate"
    description = "Remove benchmark N-gram overlaps from training documents (GPT-3 Appendix C) and report them."

    def add_arguments(self, parser):
        parser.add_argument("--input", nargs="+", action="extend", required=True, metavar="NAME=PATH",
                            help="training datasets: Parquet with doc_id and text (kept with all columns), or any "
                                 "corpus curation.corpora reads (JSONL[.gz], txt, ...); NAME=PATH[,key=value...]")
        parser.add_argument("--benchmarks", required=True, metavar="DIR", help="directory of *.jsonl[.gz] test sets")
        parser.add_argument("--output", required=True, help="output directory")
        parser.add_argument("--ngram-size", default=str(DEFAULT_N), metavar="N|auto",
                            help="N-gram size for every benchmark; 'auto' = 5th percentile of example length "
                                 "in [8, 13] (default %(default)s)")
        parser.add_argument("--ngram", action="append", default=[], metavar="NAME=N|auto",
                            help="N-gram size for one benchmark (file name without .jsonl)")
        parser.add_argument("--benchmark-fields", action="append", default=[], metavar="NAME=PROMPT,...:COMPLETION,...",
                            help="fields a model sees in one benchmark, when its layout is not a known one")
        parser.add_argument("--margin", type=int, default=CutPolicy.margin, help="chars removed each side of a match")
        parser.add_argument("--min-piece", type=int, default=CutPolicy.min_piece, help="shorter pieces are dropped")
        parser.add_argument("--max-pieces", type=int, default=CutPolicy.max_pieces,
                            help="documents split into more pieces are dropped")
        parser.add_argument("--max-docs", type=int, default=CutPolicy.max_docs,
                            help="N-grams found in more training documents are ignored as too common")

    def validate(self, args):
        from curation.corpora import corpus_files, parse_corpus_spec

        for option in ("margin", "min_piece"):
            if getattr(args, option) < 0:
                raise ConfigError(f"--{option.replace('_', '-')} must not be negative")
        for option in ("max_pieces", "max_docs"):
            if getattr(args, option) < 1:
                raise ConfigError(f"--{option.replace('_', '-')} must be at least 1")
        specs = [parse_corpus_spec(value) for value in args.input]
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"--input names must be unique (got {', '.join(names)})")
        for spec in specs:
            corpus_files(spec.path, spec.fmt)
        args.inputs = {spec.name: spec for spec in specs}
        ngram_overrides = {name: parse_ngram_size(n) for name, n in (_named("--ngram", v) for v in args.ngram)}
        fields = {name: parse_field_mapping(m) for name, m in (_named("--benchmark-fields", v)
                                                               for v in args.benchmark_fields)}
        args.policy = CutPolicy(args.margin, args.min_piece, args.max_pieces, args.max_docs)
        args.benchmark_set = load_benchmarks(args.benchmarks, parse_ngram_size(args.ngram_size), ngram_overrides, fields)
        for bench in args.benchmark_set.benchmarks:
            if not bench.examples:
                print(f"decontaminate: warning: benchmark {bench.path} has no usable examples "
                      f"(skipped lines: {bench.skipped or 'none'})", file=sys.stderr)

    def run(self, spark, args):
        summary = decontaminate(spark, args.inputs, args.benchmark_set, args.output, args.policy)
        print(format_report(summary))
        print(f"decontaminate: {summary['documents_in']} documents: {summary['unchanged']} unchanged, "
              f"{summary['changed']} changed, {summary['dropped']} dropped, {summary['no_text']} without text; "
              f"{summary['dirty_examples']} of {summary['examples']} benchmark examples dirty")
        print(f"decontaminate: wrote {args.output}/<dataset>/{{documents,dropped,ledger}}, summary.json, report.md")
        if not summary["conserved"]:
            print("decontaminate: error: counts do not add up (see summary.json datasets.*.conserved)", file=sys.stderr)
            return 1
        return 0


# --- benchmark ----------------------------------------------------------------------------

REFERENCE_SETS = ("webtext", "wikipedia", "books")


def loop_decontaminate(corpora: dict[str, list[str]], benchmarks: BenchmarkSet, policy: CutPolicy) -> dict:
    """The same two passes as a plain single-process loop: {dataset: outcome counts}, dirty per benchmark."""
    matcher = benchmarks.matcher
    docs_per_ngram: Counter = Counter()
    for name, texts in corpora.items():
        for text in texts:
            docs_per_ngram.update((n, h, name) for n, h in {(n, h) for n, _, h in find_hits(matcher.word_ids(text), matcher)})
    rows = [(n, h, name, docs) for (n, h, name), docs in docs_per_ngram.items()]
    cut_ngrams, report, _ = contamination(benchmarks.benchmarks, rows, policy)
    to_cut = matcher.with_ngrams(cut_ngrams)
    outcomes = {name: Counter(decontaminate_text(t, to_cut, policy)[1].outcome for t in texts)
                for name, texts in corpora.items()}
    return {"outcomes": outcomes, "dirty": {name: b["dirty"] for name, b in report.items()}}


def read_texts(path: str) -> list[str]:
    """Texts of a JSONL(.gz) corpus, line ends normalised as curation.corpora does."""
    from curation.corpora import normalize_newlines

    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as lines:
        return [normalize_newlines(json.loads(line)["text"]) for line in lines if line.strip()]


def replicate_parquet(spark, path: str, copies: int, output: str, partitions: int) -> str:
    """`copies` copies of a JSONL corpus as Parquet (doc_id made unique): a web-length workload of any size."""
    from pyspark.sql import functions as F

    from curation.corpora import CorpusSpec, read_spec

    frame = read_spec(spark, CorpusSpec("web", path)).crossJoin(spark.range(copies).withColumnRenamed("id", "copy"))
    frame = frame.withColumn("doc_id", F.concat_ws("-", "doc_id", F.col("copy").cast("string"))).drop("copy")
    frame.repartition(partitions).write.mode("overwrite").parquet(output)
    return output


def bench(argv: list[str] | None = None) -> dict:
    """Spark job vs a plain loop on the real reference corpora (dirty counts per benchmark) and on
    web-length documents (webtext, replicated), against the real benchmark sets."""
    from curation.bench import best_of
    from curation.corpora import CorpusSpec
    from curation.settings import shared_data_dir
    from curation.spark import get_spark

    parser = argparse.ArgumentParser(prog="bench-decontam")
    parser.add_argument("--reference", default=str(shared_data_dir() / "reference"))
    parser.add_argument("--benchmarks", default=str(shared_data_dir() / "benchmarks"))
    parser.add_argument("--cores", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--web-copies", type=int, default=int(os.environ.get("BENCH_WEB_COPIES", "20")),
                        help="copies of webtext's 1,000 documents for the web-length throughput")
    args = parser.parse_args(argv)
    policy = CutPolicy()
    started = time.perf_counter()
    benchmarks = load_benchmarks(args.benchmarks)
    load_seconds = time.perf_counter() - started
    paths = {name: f"{args.reference}/{name}.jsonl.gz" for name in REFERENCE_SETS}
    reference = {name: CorpusSpec(name, path) for name, path in paths.items()}
    workdir = tempfile.mkdtemp(prefix="bench-decontam-")

    spark = get_spark("bench-decontam", master=f"local[{args.cores}]", conf={"spark.ui.showConsoleProgress": "false"})
    web_path = replicate_parquet(spark, paths["webtext"], args.web_copies, f"{workdir}/web", 4 * args.cores)
    web = {"web": CorpusSpec("web", web_path)}
    decontaminate(spark, {"webtext": reference["webtext"]}, benchmarks, f"{workdir}/warmup", policy)  # JVM, workers
    spark_seconds, summary = best_of(args.repeat, lambda: decontaminate(spark, reference, benchmarks,
                                                                         f"{workdir}/reference", policy))
    web_seconds, web_summary = best_of(args.repeat, lambda: decontaminate(spark, web, benchmarks, f"{workdir}/web-out",
                                                                          policy))
    spark.stop()

    texts = {name: read_texts(path) for name, path in paths.items()}
    loop_seconds, loop_result = best_of(args.repeat, lambda: loop_decontaminate(texts, benchmarks, policy))
    web_texts = {"web": texts["webtext"] * args.web_copies}
    web_loop_seconds, _ = best_of(args.repeat, lambda: loop_decontaminate(web_texts, benchmarks, policy))

    docs, web_docs, cores = summary["documents_in"], web_summary["documents_in"], args.cores
    dirty = {name: b["dirty"] for name, b in summary["benchmarks"].items()}
    result = {
        "bench": "decontaminate",
        "docs": docs,
        "chars": summary["chars_in"],
        "cores": cores,
        "spark_docs_per_s_per_core": round(docs / spark_seconds / cores, 1),
        "loop_docs_per_s_per_core": round(docs / loop_seconds, 1),
        "web_docs": web_docs,
        "web_spark_docs_per_s_per_core": round(web_docs / web_seconds / cores, 1),
        "web_loop_docs_per_s_per_core": round(web_docs / web_loop_seconds, 1),
        "benchmark_load_s": round(load_seconds, 1),
        "dirty": dirty,
        "dirty_examples": summary["dirty_examples"],
        "examples": summary["examples"],
        "changed": summary["changed"],
        "dropped": summary["dropped"],
        "chars_removed": summary["chars_removed"],
        "loop_agrees": loop_result["dirty"] == dirty and all(
            loop_result["outcomes"][n]["changed"] == d["changed"] and loop_result["outcomes"][n]["unchanged"] == d["unchanged"]
            for n, d in summary["datasets"].items()),
        "conserved": summary["conserved"] and web_summary["conserved"],
    }
    result["ratio"] = round(result["spark_docs_per_s_per_core"] / result["loop_docs_per_s_per_core"], 3)
    result["web_ratio"] = round(result["web_spark_docs_per_s_per_core"] / result["web_loop_docs_per_s_per_core"], 3)
    print(format_report(summary), file=sys.stderr)
    return result
