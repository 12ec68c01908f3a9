"""Benchmark test sets for decontamination: read each file in any of GPT-3's benchmarks' distributed
layouts (38 known ones, or one given as a field mapping), keep what a model sees of each example (context,
question, choices, answers; never labels or ids) as normalised word lists, and hash every example's
N-grams into the compact `Matcher` that curation.decontaminate broadcasts.

Kept apart from the job because it is a reader with its own many formats and checks; everything here runs
once, on the driver, before Spark starts, so a bad benchmark file is one clear ConfigError.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from curation.errors import ConfigError
from curation.features import hash64
from curation.ngram_overlap import Matcher, ngram_hashes, normalize_words

DEFAULT_N = 13
AUTO_N_RANGE = (8, 13)  # GPT-3: the 5th percentile of example length, at least 8, at most 13
BENCHMARK_SUFFIXES = tuple(f".{kind}{gz}" for kind in ("jsonl", "json", "csv", "tsv") for gz in ("", ".gz"))

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


# --- N-gram hashes ----------------------------------------------------------------------


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
