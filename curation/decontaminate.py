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

import csv
import gzip
import io
import json
import os
import re
import string
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.errors import ConfigError
from curation.features import hash64
from curation.job import SparkJob, check_input, published_path, write_json, write_text

DEFAULT_N = 13
AUTO_N_RANGE = (8, 13)  # GPT-3: the 5th percentile of example length, at least 8, at most 13
NGRAM_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant of the polynomial N-gram hash
BENCHMARK_SUFFIXES = tuple(f".{kind}{gz}" for kind in ("jsonl", "json", "csv", "tsv") for gz in ("", ".gz"))
OUTCOMES = ("unchanged", "changed", "dropped_too_many_pieces", "dropped_nothing_left", "no_text")
DROP_OUTCOMES = ("dropped_too_many_pieces", "dropped_nothing_left")
OUTCOME_COLUMNS = [
    ("decontam_outcome", pa.string()),
    ("decontam_chars_in", pa.int64()),
    ("decontam_chars_removed", pa.int64()),
    ("decontam_pieces", pa.int32()),
    ("decontam_pieces_kept", pa.int32()),
    ("decontam_collisions", pa.int32()),
]
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


FieldPath = tuple[str, ...]  # keys from a record down to a value; a list on the way stands for each of its items


def _parse_paths(text: str, separator: str = "|") -> tuple[FieldPath, ...]:
    paths = tuple(tuple(key.strip() for key in alternative.split(".")) for alternative in text.split(separator))
    if not all(all(path) for path in paths):
        raise ValueError(f"empty field name in {text!r}")
    return paths


def _format_paths(paths: tuple[FieldPath, ...], separator: str = "|") -> str:
    return separator.join(".".join(path) for path in paths)


def _values(value, path: FieldPath) -> list[str]:
    """The non-empty scalar values at `path` (every item of a list on the way), as text."""
    if isinstance(value, list):
        return [text for item in value for text in _values(item, path)]
    if not path:
        return [] if value is None or value == "" or isinstance(value, dict) else [str(value)]
    return _values(value[path[0]], path[1:]) if isinstance(value, dict) and path[0] in value else []


def _exists(value, path: FieldPath) -> bool:
    """Whether a record has the fields of `path` (in some item of each list on the way)."""
    if isinstance(value, list):
        return not value or any(_exists(item, path) for item in value)
    if not path:
        return True
    return isinstance(value, dict) and path[0] in value and _exists(value[path[0]], path[1:])


@dataclass(frozen=True)
class Term:
    """One part of an example's text: the values at any of `paths` (each value an alternative), with `blank`
    replaced by each value at `fill` where there is one (Winogrande's `_`, ReCoRD's `@placeholder`).
    An `optional` term may have no value (SQuAD 2.0's unanswerable questions, test sets without answers)."""

    paths: tuple[FieldPath, ...]
    blank: str = ""
    fill: tuple[FieldPath, ...] = ()
    optional: bool = False

    @staticmethod
    def parse(spec: str) -> Term:
        """`PATH[|PATH...][[BLANK=PATH[|PATH...]]][?]`, a PATH being `field[.field...]`."""
        match = re.fullmatch(r"([^\[\]?]+)(?:\[([^=\[\]]+)=([^\[\]?]+)\])?(\?)?", spec.strip())
        if not match:
            raise ValueError(f"bad field {spec!r}")
        paths, blank, fill, optional = match.groups()
        return Term(_parse_paths(paths), blank or "", _parse_paths(fill) if fill else (), bool(optional))

    def values(self, scope: dict) -> list[str]:
        values = [v for path in self.paths for v in _values(scope, path)]
        fills = [v for path in self.fill for v in _values(scope, path)]
        if fills:
            values = [v.replace(self.blank, f) for v in values for f in fills]
        return list(dict.fromkeys(values))

    def __str__(self) -> str:
        text = _format_paths(self.paths) + (f"[{self.blank}={_format_paths(self.fill)}]" if self.blank else "")
        return text + ("?" if self.optional else "")


@dataclass(frozen=True)
class FieldMapping:
    """What a model sees of a benchmark record. Its examples are the record itself, or each item of the
    `each` list (lists on the way included; several `each` lists are zipped: RACE's questions and options).
    An example's texts are its prompt terms followed by its completion terms; a term with several values
    (choices, endings, gold answers) gives one text per value. `ignore`: the fields a known layout has
    that a model does not see (labels, ids, metadata), so that a record with any other field is not it.
    Terms may be given as their text: FieldMapping(("query",), ("choices",))."""

    prompt: tuple[Term, ...]
    completion: tuple[Term, ...] = ()
    each: tuple[FieldPath, ...] = ()
    ignore: frozenset[str] = frozenset()

    def __post_init__(self):
        for name in ("prompt", "completion"):
            terms = tuple(t if isinstance(t, Term) else Term.parse(t) for t in getattr(self, name))
            object.__setattr__(self, name, terms)

    @property
    def terms(self) -> tuple[Term, ...]:
        return self.prompt + self.completion

    def read_fields(self) -> set[str]:
        """The top-level record fields the mapping reads."""
        return {path[0] for path in self.each + tuple(p for t in self.terms for p in t.paths + t.fill)}

    def missing(self, record: dict) -> list[str]:
        """The `each` lists and required terms `record` lacks (a term needs one of its paths)."""
        return [_format_paths((p,)) for p in self.each if not _exists(record, p)] + [
            str(t) for t in self.terms if not t.optional and not any(_exists(record, p) for p in t.paths)
        ]

    def examples(self, record: dict) -> list[dict]:
        """The record once per example, with each `each` list replaced by the example's item."""
        if not self.each:
            return [record]
        if len(self.each) == 1:
            return list(_each_item(record, self.each[0]))
        lists = [_get(record, path) for path in self.each]
        if not all(isinstance(items, list) for items in lists):
            return []
        examples = []
        for items in zip(*lists, strict=False):  # lists of unequal length: as many examples as the shortest
            example = record
            for path, item in zip(self.each, items, strict=True):
                example = _replaced(example, path, item)
            examples.append(example)
        return examples

    def __str__(self) -> str:
        text = ",".join(map(str, self.prompt)) + (":" + ",".join(map(str, self.completion)) if self.completion else "")
        return f"{_format_paths(self.each, '+')}>{text}" if self.each else text


def _each_item(value, path: FieldPath):
    """`value` once per item of the list at `path`, and per item of every list on the way."""
    if isinstance(value, list):
        for item in value:
            yield from _each_item(item, path)
    elif not path:
        yield value
    elif isinstance(value, dict) and path[0] in value:
        for item in _each_item(value[path[0]], path[1:]):
            yield {**value, path[0]: item}


def _get(value, path: FieldPath):
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _replaced(record: dict, path: FieldPath, item) -> dict:
    head, *rest = path
    return {**record, head: _replaced(record[head], tuple(rest), item) if rest else item}


def parse_field_mapping(spec: str) -> FieldMapping:
    """`[EACH[+EACH...]>]PROMPT[,PROMPT...][:COMPLETION[,COMPLETION...]]` -> FieldMapping (see Term)."""
    each, sep, terms = spec.partition(">")
    if not sep:
        each, terms = "", spec
    prompt, _, completion = terms.partition(":")
    try:
        mapping = FieldMapping(
            tuple(t for t in prompt.split(",") if t.strip()),
            tuple(t for t in completion.split(",") if t.strip()),
            _parse_paths(each, "+") if each else (),
        )
    except ValueError:
        mapping = None
    if mapping is None or not mapping.prompt:
        raise ConfigError(
            f"bad field mapping {spec!r}: expected [EACH>]PROMPT[,PROMPT...][:COMPLETION[,...]], "
            f"a field being PATH[|PATH...][[BLANK=PATH[|PATH...]]][?] (see README)"
        )
    return mapping


def _layout(spec: str, ignore: str = "") -> FieldMapping:
    return replace(parse_field_mapping(spec), ignore=frozenset(ignore.split()))


# Known layouts, tried in order: the first that reads fields a file's first record has, and whose other
# fields it ignores, is used. First the llm-foundry files', then GPT-3's benchmarks as distributed (the
# official release, then the Hugging Face export): what GPT-3's prompts show a model of each (App. G):
# passage, question and answer, or context and each choice; never labels, ids or answer letters.
DEFAULT_MAPPINGS = (
    _layout("context_options:continuation"),  # winogrande, winograd_wsc
    _layout("query:choices"),  # piqa, copa, arc, openbook_qa, commonsense_qa, siqa
    _layout("context:chain_of_thought,answer"),  # gsm8k
    _layout("context:continuation"),  # lambada, jeopardy
    _layout("context:answer"),  # triviaqa
    _layout("question:answer"),  # Natural Questions open (nq_open)
    _layout("text", "domain target span1_index span2_index span1_text span2_text"),  # LAMBADA; SuperGLUE WSC
    _layout("activity_label,ctx:endings", "ind ctx_a ctx_b split_type source_id"),  # HellaSwag
    _layout("article,question:options", "example_id answer"),  # RACE (Hugging Face)
    _layout("questions+options>article,questions:options", "answers"),  # RACE (one article a record)
    _layout("passage,question", "title answer"),  # BoolQ
    _layout("premise,hypothesis", "uid reason"),  # CB, RTE, ANLI (Hugging Face)
    _layout("context,hypothesis", "uid reason model_label emturk genre tag"),  # ANLI
    _layout("premise:choice1|choice2", "question mirrored"),  # COPA
    _layout(
        "passage.questions>passage.text,passage.questions.question:passage.questions.answers.text", "version"
    ),  # MultiRC
    _layout("paragraph,question:answer"),  # MultiRC (Hugging Face: one answer a record)
    _layout("qas>passage.text,qas.query[@placeholder=qas.answers.text]"),  # ReCoRD
    _layout("passage,query[@placeholder=answers]", "entities entity_spans"),  # ReCoRD (Hugging Face)
    _layout("sentence1,sentence2", "word start1 start2 end1 end2"),  # WiC
    _layout(
        "paragraphs.qas>paragraphs.context,paragraphs.qas.question:paragraphs.qas.answers.text?",
        "title background section_title",
    ),  # SQuAD 1.1/2.0, QuAC (one article a record)
    _layout("context,question:answers.text?", "title"),  # SQuAD 1.1/2.0 (Hugging Face)
    _layout(
        "questions+answers.texts>context,questions:answers.texts?",
        "dialogue_id wikipedia_page_title background section_title turn_ids followups yesnos orig_answers",
    ),  # QuAC (Hugging Face)
    _layout(
        "questions+answers>story,questions.input_text:answers.input_text", "filename name additional_answers"
    ),  # CoQA
    _layout("questions+answers.input_text>story,questions:answers.input_text"),  # CoQA (Hugging Face)
    _layout("qa_pairs>passage,qa_pairs.question:qa_pairs.answer.spans|qa_pairs.answer.number?", "wiki_url"),  # DROP
    _layout("passage,question:answers_spans.spans?", "section_id query_id"),  # DROP (Hugging Face)
    _layout(
        "InputSentence1,InputSentence2,InputSentence3,InputSentence4:RandomFifthSentenceQuiz1|RandomFifthSentenceQuiz2",
        "InputStoryid AnswerRightEnding",
    ),  # StoryCloze
    _layout(
        "input_sentence_1,input_sentence_2,input_sentence_3,input_sentence_4:sentence_quiz1|sentence_quiz2",
        "story_id answer_right_ending",
    ),  # StoryCloze (Hugging Face)
    _layout("utterance", "url targetValue"),  # WebQuestions (answers are Freebase S-expressions)
    _layout("question:answers", "url"),  # WebQuestions (Hugging Face)
    _layout("question_text", "document_text document_url example_id long_answer_candidates annotations"),  # NQ
    _layout(
        "Question:Answer.Value?",
        "QuestionId QuestionSource EntityPages SearchResults QuestionPartOfVerifiedEval QuestionVerifiedEvalAttempt",
    ),  # TriviaQA
    _layout("question:answer.value?", "question_id question_source entity_pages search_results"),  # TriviaQA (HF)
    _layout("goal:sol1|sol2"),  # PIQA
    _layout("sentence[_=option1|option2]", "qID answer"),  # Winogrande
    _layout(
        "question.stem:question.choices.text", "answerKey fact1 humanScore clarity turkIdAnonymized"
    ),  # ARC, OpenBookQA
    _layout("question:choices.text", "answerKey"),  # ARC (Hugging Face)
    _layout("question_stem:choices.text", "answerKey fact1 humanScore clarity turkIdAnonymized"),  # OpenBookQA (HF)
)
# Fields a model does not see as text in any layout: labels, alternative gold answers, metadata.
METADATA_FIELDS = frozenset({"gold", "label", "labels", "aliases", "category", "id", "idx", "source", "split"})


def choose_mapping(path: str, record: dict, explicit: FieldMapping | None) -> FieldMapping:
    """The mapping for a file whose first record is `record`; ConfigError naming the file and its fields."""
    have = ", ".join(sorted(record)) or "none"
    if explicit is not None:
        missing = explicit.missing(record)
        if missing:
            raise ConfigError(f"benchmark {path}: mapped fields {', '.join(missing)} not found (it has: {have})")
        return explicit
    unknown_to_first = None
    for mapping in DEFAULT_MAPPINGS:
        if mapping.missing(record):
            continue
        unknown = sorted(set(record) - mapping.read_fields() - mapping.ignore - METADATA_FIELDS)
        if not unknown:
            return mapping
        unknown_to_first = unknown_to_first or unknown
    if unknown_to_first:
        raise ConfigError(
            f"benchmark {path}: unknown fields {', '.join(unknown_to_first)} (it has: {have}); "
            f"map them with --benchmark-fields {benchmark_name(path)}=PROMPT,...:COMPLETION,..."
        )
    raise ConfigError(
        f"benchmark {path}: no known field layout (it has: {have}); "
        f"pass --benchmark-fields {benchmark_name(path)}=PROMPT,...:COMPLETION,..."
    )


def example_parts(example: dict, mapping: FieldMapping) -> list[tuple[str, ...]] | None:
    """Every text a model sees for one example, as its parts (one value per term); None when a required
    term has no value."""
    parts: list[tuple[str, ...]] = [()]
    for term in mapping.terms:
        values = term.values(example)
        if values:
            parts = [p + (v,) for p in parts for v in values]
        elif not term.optional:
            return None
    return parts


def example_texts(example: dict, mapping: FieldMapping) -> list[str]:
    """Every text a model sees for one example: each prompt alternative followed by each completion."""
    return sorted({" ".join(parts).strip() for parts in example_parts(example, mapping) or []})


def benchmark_name(path: str) -> str:
    name = os.path.basename(path)
    for suffix in sorted(BENCHMARK_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


SPLIT_WORDS = {
    "test": "test",
    "dev": "dev",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "train": "train",
}


def split_of(name: str, records: list[dict]) -> str:
    """A test set's split (Table C.1's column): what its records say (HellaSwag's `split`), else the last
    split word of its file name (`cloze_test_val__spring2016` is StoryCloze's validation set), else unknown."""
    said = {
        SPLIT_WORDS.get(r["split"].strip().lower(), r["split"].strip())
        for r in records
        if isinstance(r.get("split"), str) and r["split"].strip()
    }
    if said:
        return "+".join(sorted(said))
    words = [SPLIT_WORDS[w] for w in re.split(r"[^a-z]+", name.lower()) if w in SPLIT_WORDS]
    return words[-1] if words else "unknown"


@dataclass
class Benchmark:
    """One test set: its examples as normalised word lists (one list per text a model sees)."""

    name: str
    path: str
    mapping: FieldMapping
    examples: list[list[list[str]]]
    skipped: dict[str, int]
    n: int = DEFAULT_N
    split: str = "unknown"
    example_hashes: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def too_short(self) -> int:
        return sum(1 for hashes in self.example_hashes if hashes.size == 0)


def _open_lines(path: str):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _stripped_keys(record: dict) -> dict:
    """json object_hook: keys without stray whitespace (a common RACE release has ` article`)."""
    return record if all(k == k.strip() for k in record) else {k.strip(): v for k, v in record.items()}


def _json_records(document) -> list:
    """A JSON file's records: its list, its `data` list (SQuAD, CoQA, QuAC, TriviaQA), its values when all
    are objects (DROP: passages by id), or the document itself."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in ("data", "Data"):
            if isinstance(document.get(key), list):
                return document[key]
        if document and all(isinstance(v, dict) for v in document.values()):
            return list(document.values())
    return [document]


def read_records(path: str, skipped: Counter) -> list[dict]:
    """The records of a test set file: JSON Lines (one a line), JSON (see _json_records) or CSV/TSV with a
    header (StoryCloze), optionally gzipped; undecodable, unparsable or non-object records are counted."""
    kind = path.removesuffix(".gz").rpartition(".")[2]
    with _open_lines(path) as lines:
        if kind == "jsonl":
            raw_records = []
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
                    raw_records.append(json.loads(line, object_hook=_stripped_keys))
                except json.JSONDecodeError:
                    skipped["bad_json"] += 1
        else:
            try:
                text = lines.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                skipped["non_utf8"] += 1
                return []
            if kind == "json":
                try:
                    raw_records = _json_records(json.loads(text, object_hook=_stripped_keys))
                except json.JSONDecodeError:
                    skipped["bad_json"] += 1
                    return []
            else:
                rows = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if kind == "tsv" else ",")
                raw_records = [{k.strip(): v for k, v in row.items()} if None not in row else None for row in rows]
    records = [r for r in raw_records if isinstance(r, dict)]
    if len(records) < len(raw_records):
        skipped["bad_csv" if kind in ("csv", "tsv") else "bad_json"] += len(raw_records) - len(records)
    return records


def read_benchmark(path: str, explicit: FieldMapping | None = None) -> Benchmark:
    """Examples of one test set file; undecodable, unparsable or incomplete records are counted skips."""
    skipped: Counter = Counter()
    records = read_records(path, skipped)
    mapping = choose_mapping(path, records[0], explicit) if records else explicit or FieldMapping(())
    examples, words_of = [], {}
    for record in records:
        found = mapping.examples(record)
        if not found:
            skipped["missing_fields"] += 1
        for example in found:
            alternatives = example_parts(example, mapping)
            if alternatives is None:
                skipped["missing_fields"] += 1
                continue
            texts = set()
            for parts in alternatives:
                for part in parts:
                    if part not in words_of:
                        words_of[part] = tuple(normalize_words(part))
                texts.add(tuple(w for part in parts for w in words_of[part]))
            examples.append([list(words) for words in sorted(texts)])
    return Benchmark(
        benchmark_name(path),
        path,
        mapping,
        examples,
        dict(sorted(skipped.items())),
        split=split_of(benchmark_name(path), records),
    )


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
            tokens = (
                lowered.encode("utf-8", "surrogatepass")
                .translate(None, ASCII_PUNCTUATION)
                .decode("utf-8", "surrogatepass")
                .split()
            )
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

    def with_ngrams(self, ngrams: dict[int, np.ndarray]) -> Matcher:
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
        hashes += values[k : k + windows]
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
    word_hashes = np.fromiter((0, *(hash64(w.encode("utf-8")) for w in words)), dtype=np.uint64, count=len(words) + 1)
    per_n: dict[int, list[np.ndarray]] = defaultdict(list)
    for bench in benchmarks:
        bench.example_hashes = []
        for texts in bench.examples:
            parts = [
                ngram_hashes(np.fromiter((vocab[w] for w in ws), np.int64, len(ws)), bench.n, word_hashes)[0]
                for ws in texts
            ]
            hashes = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.uint64)
            bench.example_hashes.append(hashes)
            per_n[bench.n].append(hashes)
    ngrams = {n: np.unique(np.concatenate(arrays)) for n, arrays in per_n.items()}
    return Matcher(vocab, word_hashes, ngrams)


@dataclass
class BenchmarkSet:
    benchmarks: list[Benchmark]
    matcher: Matcher


def load_benchmarks(
    directory: str,
    ngram_size: int | str = DEFAULT_N,
    ngram_overrides: dict | None = None,
    field_overrides: dict | None = None,
) -> BenchmarkSet:
    """Every test set file (BENCHMARK_SUFFIXES) under `directory`, with per-set N and field mapping; ConfigError
    on a missing directory, an unknown layout, two files of one name, an override naming no file, or no examples."""
    ngram_overrides, field_overrides = ngram_overrides or {}, field_overrides or {}
    if not os.path.isdir(directory):
        raise ConfigError(f"benchmark directory does not exist: {directory}")
    paths = sorted(str(p) for p in Path(directory).iterdir() if p.name.endswith(BENCHMARK_SUFFIXES))
    if not paths:
        raise ConfigError(f"no benchmark files ({', '.join('*' + s for s in BENCHMARK_SUFFIXES)}) in {directory}")
    names = [benchmark_name(p) for p in paths]
    twice = sorted(name for name, count in Counter(names).items() if count > 1)
    if twice:
        raise ConfigError(f"benchmark names must be unique: {', '.join(twice)} has several files in {directory}")
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
            "file": bench.path,
            "split": bench.split,
            "fields": str(bench.mapping),
            "ngram_size": bench.n,
            "examples": examples,
            "dirty": dirty,
            "clean": examples - dirty - short,
            "too_short": short,
            "found_in": dict(sorted(found_in.items())),
            "skipped_lines": bench.skipped,
        }
    totals = {
        "matched": len(per_ngram),
        "ignored_common": len(common),
        "cut": len(per_ngram) - len(common),
    }
    return cut_arrays, report, totals


def contamination_table(benchmarks: dict) -> list[dict]:
    """GPT-3's Table C.1 from the per-benchmark report: split, total (dirty + clean + too short), dirty, clean,
    too short and clean percentage of each benchmark, the dirtiest (largest dirty share) first."""
    rows = []
    for name, b in benchmarks.items():
        total = b["dirty"] + b["clean"] + b["too_short"]
        rows.append(
            {
                "benchmark": name,
                "split": b["split"],
                "ngram_size": b["ngram_size"],
                "total": total,
                "dirty": b["dirty"],
                "clean": b["clean"],
                "too_short": b["too_short"],
                "clean_percent": round(100 * b["clean"] / total, 1) if total else None,
                "found_in": b["found_in"],
            }
        )
    return sorted(rows, key=lambda r: (-r["dirty"] / r["total"] if r["total"] else 1, -r["dirty"], r["benchmark"]))


def format_report(summary: dict) -> str:
    """Readable tables: benchmarks (like GPT-3's Table C.1), then training datasets."""
    datasets = sorted(summary["datasets"])
    lines = ["| benchmark | split | N | total | dirty | clean | too short | clean % | found in |", "|---" * 9 + "|"]
    for row in contamination_table(summary["benchmarks"]):
        pct = "-" if row["clean_percent"] is None else f"{row['clean_percent']:.1f}"
        found = ", ".join(f"{d} {c}" for d, c in row["found_in"].items()) or "-"
        lines.append(
            f"| {row['benchmark']} | {row['split']} | {row['ngram_size']} | {row['total']} | {row['dirty']} | "
            f"{row['clean']} | {row['too_short']} | {pct} | {found} |"
        )
    lines += [
        "",
        "| dataset | documents | unchanged | changed | dropped | no text | chars removed | % chars |",
        "|---" * 8 + "|",
    ]
    for name in datasets:
        d = summary["datasets"][name]
        pct = 100 * d["chars_removed"] / d["chars_in"] if d["chars_in"] else 0.0
        lines.append(
            f"| {name} | {d['documents_in']} | {d['unchanged']} | {d['changed']} | {d['dropped']} | "
            f"{d['no_text']} | {d['chars_removed']} | {pct:.3f} |"
        )
    n = summary["ngrams"]
    lines += [
        "",
        f"N-grams: {n['benchmark']} in benchmarks, {n['matched']} found in training data, "
        f"{n['ignored_common']} ignored (in more than {summary['config']['max_docs']} documents), "
        f"{n['cut']} cut",
    ]
    return "\n".join(lines)


# --- Spark --------------------------------------------------------------------------------

HITS_SCHEMA = pa.schema([("doc_id", pa.string()), ("n", pa.int32()), ("hash", pa.int64())])


def hit_batches(batches, matcher_bc):
    """mapInArrow body of pass 1: (doc_id, text) batches -> the distinct (doc_id, N, hash) of each document."""
    matcher = matcher_bc.value
    for batch in batches:
        texts = batch.column("text").to_pylist()
        hits = batch_hits([matcher.word_ids(t) if t else np.empty(0, np.int64) for t in texts], matcher)
        rows = [
            (doc_id, n, h)
            for doc_id, found in zip(batch.column("doc_id").to_pylist(), hits)
            for n, h in sorted({(n, h) for n, _, h in found})
        ]
        doc_ids, ns, hashes = zip(*rows) if rows else ((), (), ())
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(doc_ids, pa.string()),
                pa.array(ns, pa.int32()),
                pa.array(np.array(hashes, np.uint64).view(np.int64), pa.int64()),
            ],
            schema=HITS_SCHEMA,
        )


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
        columns += (
            [pa.array(list(values), kind) for values, (_, kind) in zip(zip(*stats), OUTCOME_COLUMNS)]
            if stats
            else [pa.array([], kind) for _, kind in OUTCOME_COLUMNS]
        )
        yield pa.RecordBatch.from_arrays(columns, names=batch.schema.names + [n for n, _ in OUTCOME_COLUMNS])


def untouched(frame, text_column: str):
    """The outcome columns `cut_batches` gives a document without hits, as native Spark expressions."""
    from pyspark.sql import functions as F

    text = F.col(text_column)
    missing = text.isNull()
    outcome = {
        "decontam_outcome": F.when(missing, "no_text").otherwise("unchanged"),
        "decontam_chars_in": F.coalesce(F.length(text), F.lit(0)).cast("long"),
        "decontam_chars_removed": F.lit(0).cast("long"),
        "decontam_pieces": F.when(missing, 0).otherwise(1).cast("int"),
        "decontam_pieces_kept": F.when(missing, 0).otherwise(1).cast("int"),
        "decontam_collisions": F.lit(0).cast("int"),
    }
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

    from curation.corpora import spread_single_task

    sc = spark.sparkContext
    frames = {}
    for name, spec in sorted(inputs.items()):
        frame, text_column = read_training(spark, spec)
        frames[name] = (spread_single_task(frame), text_column)

    # pass 1: documents per benchmark N-gram, per dataset
    all_ngrams = sc.broadcast(benchmarks.matcher)
    counts, hit_docs = None, {}
    for name, (frame, text_column) in frames.items():
        hits = (
            frame.select(F.col("doc_id").cast("string").alias("doc_id"), F.col(text_column).alias("text"))
            .mapInArrow(lambda b: hit_batches(b, all_ngrams), from_arrow_schema(HITS_SCHEMA))
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
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
    datasets = {
        name: cut_dataset(spark, name, frame, text_column, hit_docs[name], to_cut, policy, output)
        for name, (frame, text_column) in frames.items()
    }
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
    checked = to_check.drop("_hit_key").mapInArrow(
        lambda b: cut_batches(b, to_cut, policy, text_column), from_arrow_schema(pa.schema(fields))
    )
    result = checked.unionByName(untouched(clean, text_column)).persist(StorageLevel.MEMORY_AND_DISK)
    extra = [n for n, _ in OUTCOME_COLUMNS]
    is_dropped = F.col("decontam_outcome").isin(*DROP_OUTCOMES)
    result.filter(~is_dropped).drop(*extra).write.mode("overwrite").option(
        "parquet.enable.dictionary#text", "false"
    ).parquet(f"{output}/{name}/documents")
    result.filter(is_dropped).withColumnRenamed("decontam_outcome", "drop_reason").drop(*extra[1:]).write.mode(
        "overwrite"
    ).parquet(f"{output}/{name}/dropped")
    # text written = text read - chars removed + the separators joining kept pieces
    separators = F.when(
        F.col("decontam_outcome") == "changed", F.lit(len(PIECE_SEPARATOR)) * (F.col("decontam_pieces_kept") - 1)
    ).otherwise(0)
    stats = {
        r["outcome"]: r
        for r in result.groupBy(F.col("decontam_outcome").alias("outcome"))
        .agg(
            F.count(F.lit(1)).alias("docs"),
            F.sum("decontam_chars_in").alias("chars_in"),
            F.sum("decontam_chars_removed").alias("chars_removed"),
            F.sum("decontam_collisions").alias("collisions"),
            F.sum(F.when(~is_dropped, F.length(text_column) - separators)).alias("chars_out"),
        )
        .collect()
    }
    documents_in = frame.count()
    result.filter(~F.col("decontam_outcome").isin("unchanged", "no_text")).select(
        "doc_id",
        F.col("decontam_outcome").alias("outcome"),
        F.col("decontam_chars_in").alias("chars_in"),
        F.col("decontam_chars_removed").alias("chars_removed"),
        F.col("decontam_pieces").alias("pieces"),
        F.col("decontam_pieces_kept").alias("pieces_kept"),
        F.col("decontam_collisions").alias("collisions"),
    ).coalesce(1).write.mode("overwrite").parquet(f"{output}/{name}/ledger")
    result.unpersist()
    frame.unpersist()
    total = lambda key: int(sum(r[key] or 0 for r in stats.values()))  # noqa: E731
    docs = {o: int(stats[o]["docs"]) if o in stats else 0 for o in OUTCOMES}
    dropped = docs["dropped_too_many_pieces"] + docs["dropped_nothing_left"]
    counts = {
        "documents_in": documents_in,
        **docs,
        "dropped": dropped,
        "chars_in": total("chars_in"),
        "chars_removed": total("chars_removed"),
        "chars_out": total("chars_out"),
        "collisions": total("collisions"),
    }
    counts["conserved"] = (
        documents_in == sum(docs.values()) and counts["chars_in"] == counts["chars_out"] + counts["chars_removed"]
    )
    return counts


def summarize(datasets: dict, bench_report: dict, ngram_totals: dict, policy: CutPolicy) -> dict:
    total = {
        k: sum(d[k] for d in datasets.values())
        for k in ("documents_in", "unchanged", "changed", "dropped", "no_text", "chars_in", "chars_removed")
    }
    return {
        **total,
        "examples": sum(b["examples"] for b in bench_report.values()),
        "dirty_examples": sum(b["dirty"] for b in bench_report.values()),
        "conserved": all(d["conserved"] for d in datasets.values()),
        "datasets": datasets,
        "benchmarks": bench_report,
        "contamination_table": contamination_table(bench_report),
        "ngrams": ngram_totals,
        "config": {
            "margin": policy.margin,
            "min_piece": policy.min_piece,
            "max_pieces": policy.max_pieces,
            "max_docs": policy.max_docs,
        },
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
        parser.add_argument(
            "--input",
            nargs="+",
            action="extend",
            required=True,
            metavar="NAME=PATH",
            help="training datasets: Parquet with doc_id and text (kept with all columns), or any "
            "corpus curation.corpora reads (JSONL[.gz], txt, ...); NAME=PATH[,key=value...]",
        )
        parser.add_argument(
            "--benchmarks",
            required=True,
            metavar="DIR",
            help="directory of test sets: *.jsonl, *.json, *.csv, *.tsv[.gz]",
        )
        parser.add_argument("--output", required=True, help="output directory")
        parser.add_argument(
            "--ngram-size",
            default=str(DEFAULT_N),
            metavar="N|auto",
            help="N-gram size for every benchmark; 'auto' = 5th percentile of example length "
            "in [8, 13] (default %(default)s)",
        )
        parser.add_argument(
            "--ngram",
            action="append",
            default=[],
            metavar="NAME=N|auto",
            help="N-gram size for one benchmark (file name without .jsonl)",
        )
        parser.add_argument(
            "--benchmark-fields",
            action="append",
            default=[],
            metavar="NAME=PROMPT,...:COMPLETION,...",
            help="fields a model sees in one benchmark, when its layout is not a known one",
        )
        parser.add_argument("--margin", type=int, default=CutPolicy.margin, help="chars removed each side of a match")
        parser.add_argument("--min-piece", type=int, default=CutPolicy.min_piece, help="shorter pieces are dropped")
        parser.add_argument(
            "--max-pieces", type=int, default=CutPolicy.max_pieces, help="documents split into more pieces are dropped"
        )
        parser.add_argument(
            "--max-docs",
            type=int,
            default=CutPolicy.max_docs,
            help="N-grams found in more training documents are ignored as too common",
        )

    def check_options(self, args):
        from curation.corpora import parse_corpus_spec

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
        args.inputs = {spec.name: spec for spec in specs}
        ngram_overrides = {name: parse_ngram_size(n) for name, n in (_named("--ngram", v) for v in args.ngram)}
        fields = {
            name: parse_field_mapping(m) for name, m in (_named("--benchmark-fields", v) for v in args.benchmark_fields)
        }
        args.policy = CutPolicy(args.margin, args.min_piece, args.max_pieces, args.max_docs)
        args.benchmark_set = load_benchmarks(
            args.benchmarks, parse_ngram_size(args.ngram_size), ngram_overrides, fields
        )

    def validate(self, args):
        for spec in args.inputs.values():
            check_input(spec)
        for bench in args.benchmark_set.benchmarks:  # warned here, once: the pipeline checks options twice
            if not bench.examples:
                print(
                    f"decontaminate: warning: benchmark {bench.path} has no usable examples "
                    f"(skipped lines: {bench.skipped or 'none'})",
                    file=sys.stderr,
                )

    def run(self, spark, args):
        summary = decontaminate(spark, args.inputs, args.benchmark_set, args.output, args.policy)
        print(format_report(summary))
        print(
            f"decontaminate: {summary['documents_in']} documents: {summary['unchanged']} unchanged, "
            f"{summary['changed']} changed, {summary['dropped']} dropped, {summary['no_text']} without text; "
            f"{summary['dirty_examples']} of {summary['examples']} benchmark examples dirty"
        )
        print(
            f"decontaminate: wrote {published_path(args.output)}/<dataset>/{{documents,dropped,ledger}}, "
            "summary.json, report.md"
        )
        if not summary["conserved"]:
            print("decontaminate: error: counts do not add up (see summary.json datasets.*.conserved)", file=sys.stderr)
            return 1
        return 0
