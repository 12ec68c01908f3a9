"""The rules stage: every rule applied to each document in one Python pass per Arrow batch (`mapInArrow`),
one reason per dropped document, and the Spark job around it (`jobs/rules.py`).

`decide` is the whole decision for one text, a pure function of the text, its URL and `RulesOptions`; the
plain loop of the benchmark and the Spark job both call it, so they agree document for document. Checks
run in this order and the first that fails is the reason (`family:check`) with its measured `value`:

1. `input:null_text`, `input:empty_text`, `input:garbage` (more than `max_garbage_fraction` of the
   characters are control characters, U+FFFD or private-use: binary that survived extraction);
2. `blocklist:<category>` (URL only: the cheapest);
3. `language:not_listed` (CLD2's language not in `languages`), `language:low_score` (< `min_language_score`);
4. `gopher_quality:<check>`, then 5. `gopher_repetition:<check>` (see curation.rules.gopher);
6. `c4:lorem_ipsum`, `c4:curly_brace`, then the line cleaning and `c4:min_sentences` (curation.rules.c4);
7. PII redaction of the kept, cleaned text (curation.rules.pii).

`--skip` switches off a family (`c4`, `pii`, ...) or one check (`gopher_quality:stop_words`, C4's line
checks such as `c4:javascript`). Kept documents carry the cleaned, redacted text; rejected ones their
input text, so the decision can be checked against what the rule saw.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from curation.corpora import parse_corpus_spec
from curation.errors import ConfigError
from curation.job import SparkJob, check_input, published_path, write_json
from curation.options import group, option
from curation.rules import c4, gopher
from curation.rules.blocklist import Blocklist, blocked_by, load_blocklist
from curation.rules.language import identify_language, unknown_languages, words
from curation.rules.pii import redact_pii
from curation.stage import CrawlFilterStage

KEPT = "kept"
GARBAGE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff\ud800-\udfff]")
CHECKS = {  # family -> its checks, in the order they run
    "input": ("null_text", "empty_text", "garbage"),
    "blocklist": (),  # the reason is blocklist:<category>
    "language": ("not_listed", "low_score"),
    "gopher_quality": (
        "word_count",
        "mean_word_length",
        "hash_ratio",
        "ellipsis_ratio",
        "bullet_lines",
        "ellipsis_lines",
        "alpha_words",
        "stop_words",
    ),
    "gopher_repetition": (
        "duplicate_lines",
        "duplicate_paragraphs",
        "duplicate_line_chars",
        "duplicate_paragraph_chars",
        *(f"top_{n}gram_chars" for n in gopher.TOP_NGRAM_SIZES),
        *(f"duplicated_{n}gram_chars" for n in gopher.DUPLICATED_NGRAM_SIZES),
    ),
    "c4": ("lorem_ipsum", "curly_brace", *c4.LINE_CHECKS, "min_sentences"),
    "pii": (),
}
# columns the stage adds (or replaces, when the input has them already)
ADDED_COLUMNS = (
    ("language", pa.string()),
    ("language_score", pa.float64()),
    ("c4_lines_removed", pa.int32()),
    ("c4_chars_removed", pa.int64()),
    ("pii_email", pa.int32()),
    ("pii_ip", pa.int32()),
    ("pii_phone", pa.int32()),
    ("pii_redactions", pa.int32()),
    ("reason", pa.string()),
    ("value", pa.float64()),
)
RECOUNTED = {"n_chars": len, "n_words": lambda text: len(words(text))}  # input columns that describe `text`


@dataclass(frozen=True)
class RulesOptions:
    languages: tuple[str, ...] = ("en",)
    min_language_score: float = 0.65
    max_garbage_fraction: float = 0.1
    redact_phone_numbers: bool = False
    skip: frozenset[str] = frozenset()  # families and family:check names not run
    blocklists: tuple[Blocklist, ...] = ()
    quality: gopher.QualityOptions = field(default_factory=gopher.QualityOptions)
    repetition: gopher.RepetitionOptions = field(default_factory=gopher.RepetitionOptions)
    c4: c4.Options = field(default_factory=c4.Options)

    def skipped(self, family: str) -> frozenset[str]:
        """The checks of `family` not to run (all of them when the family is skipped)."""
        if family in self.skip:
            return frozenset(CHECKS[family]) | {"*"}
        return frozenset(name.split(":", 1)[1] for name in self.skip if name.startswith(f"{family}:"))


class Decision(NamedTuple):
    reason: str  # KEPT or family:check
    value: float | None
    text: str | None  # kept: cleaned and redacted; rejected: as it came
    language: str | None = None
    language_score: float | None = None
    c4_lines_removed: int = 0
    c4_chars_removed: int = 0
    pii: dict | None = None


def decide(text: str | None, url: str | None, options: RulesOptions) -> Decision:
    """Every rule on one document, in the documented order; the first failure is the reason."""
    skip = options.skipped("input")
    if text is None:
        return Decision("input:null_text", None, None)
    if "empty_text" not in skip and not text.strip():
        return Decision("input:empty_text", float(len(text)), text)
    if "garbage" not in skip and text:
        garbage = len(GARBAGE.findall(text)) / len(text)
        if garbage > options.max_garbage_fraction:
            return Decision("input:garbage", garbage, text)
    if "*" not in options.skipped("blocklist"):
        category = blocked_by(url, options.blocklists)
        if category:
            return Decision(f"blocklist:{category}", None, text)
    language = score = None
    skip = options.skipped("language")
    if "*" not in skip:
        language, score = identify_language(text)
        if "not_listed" not in skip and language not in options.languages:
            return Decision("language:not_listed", score, text, language, score)
        if "low_score" not in skip and score < options.min_language_score:
            return Decision("language:low_score", score, text, language, score)
    text_words = None
    for family, check in (("gopher_quality", gopher.quality_failure), ("gopher_repetition", gopher.repetition_failure)):
        skip = options.skipped(family)
        if "*" in skip:
            continue
        text_words = words(text) if text_words is None else text_words
        failure = check(text, options.quality if family == "gopher_quality" else options.repetition, skip, text_words)
        if failure:
            return Decision(f"{family}:{failure[0]}", failure[1], text, language, score)
    lines_removed = chars_removed = 0
    skip = options.skipped("c4")
    if "*" not in skip:
        cleaned = c4.clean_page(text, options.c4, skip)
        if cleaned.failure:
            return Decision(f"c4:{cleaned.failure[0]}", cleaned.failure[1], text, language, score)
        text, lines_removed, chars_removed = cleaned.text, cleaned.lines_removed, cleaned.chars_removed
    pii = None
    if "*" not in options.skipped("pii"):
        text, pii = redact_pii(text, options.redact_phone_numbers)
    return Decision(KEPT, None, text, language, score, lines_removed, chars_removed, pii)


# --- Arrow batches ------------------------------------------------------------------------------------


def output_schema(schema: pa.Schema) -> pa.Schema:
    """The input's columns (same order and types), then the added ones that it does not have."""
    added = dict(ADDED_COLUMNS)
    fields_out = [pa.field(f.name, added.get(f.name, f.type)) for f in schema]
    return pa.schema(fields_out + [pa.field(name, kind) for name, kind in ADDED_COLUMNS if name not in schema.names])


def decide_batch(batch: pa.RecordBatch, options: RulesOptions) -> pa.RecordBatch:
    """One Python pass over a batch: the decision for every document, as the output columns."""
    texts = batch.column("text").to_pylist()
    urls = batch.column("url").to_pylist() if "url" in batch.schema.names else [None] * len(texts)
    decisions = [decide(text, url, options) for text, url in zip(texts, urls)]
    pii = [d.pii or {} for d in decisions]
    computed = {
        "text": [d.text for d in decisions],
        "language": [d.language for d in decisions],
        "language_score": [d.language_score for d in decisions],
        "c4_lines_removed": [d.c4_lines_removed for d in decisions],
        "c4_chars_removed": [d.c4_chars_removed for d in decisions],
        "pii_email": [p.get("email", 0) for p in pii],
        "pii_ip": [p.get("ip", 0) for p in pii],
        "pii_phone": [p.get("phone", 0) for p in pii],
        "pii_redactions": [sum(p.values()) for p in pii],
        "reason": [d.reason for d in decisions],
        "value": [d.value for d in decisions],
    }
    for name, count in RECOUNTED.items():
        if name in batch.schema.names:
            computed[name] = [None if d.text is None else count(d.text) for d in decisions]
    schema = output_schema(batch.schema)
    columns = [pa.array(computed[f.name], f.type) if f.name in computed else batch.column(f.name) for f in schema]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


# --- the Spark job ------------------------------------------------------------------------------------


KEPT_TOTALS = {
    "lines_removed": "c4_lines_removed",
    "chars_removed": "c4_chars_removed",
    "email": "pii_email",
    "ip": "pii_ip",
    "phone": "pii_phone",
}  # summed over the kept documents
KEPT_DOCUMENTS = {"edited": "c4_lines_removed", "redacted": "pii_redactions"}  # kept documents where > 0


def batch_tally(decided: pa.RecordBatch) -> dict[str, Counter]:
    """What the summary needs from one decided batch: rows read, documents per reason (`kept` among them)
    and per language, and the kept documents' C4 and PII totals."""

    def counts(column: pa.Array) -> Counter:
        found = pc.value_counts(column.fill_null("none")).to_pylist()
        return Counter({row["values"]: row["counts"] for row in found})

    kept = decided.filter(pc.equal(decided.column("reason"), KEPT))
    totals = {key: pc.sum(kept.column(column)).as_py() or 0 for key, column in KEPT_TOTALS.items()}
    totals |= {
        key: pc.sum(pc.greater(kept.column(column), 0).cast(pa.int64())).as_py() or 0
        for key, column in KEPT_DOCUMENTS.items()
    }
    return {
        "rows": Counter({"rows": decided.num_rows}),
        "reasons": counts(decided.column("reason")),
        "languages": counts(decided.column("language")),
        "kept": Counter(totals),
    }


class TallyParam:
    """An accumulator of `batch_tally`s (Spark's AccumulatorParam interface): each task adds its batches'
    tallies, the driver reads the sum once the write is done. Spark applies the updates of a task of a
    result stage (the write) once, however often the task is retried."""

    def zero(self, value: dict) -> dict:
        return {}

    def addInPlace(self, total: dict, more: dict) -> dict:  # noqa: N802 - Spark's name
        for name, counts in more.items():
            total.setdefault(name, Counter()).update(counts)
        return total


def rules_documents(spark, documents, output: str, options: RulesOptions) -> dict:
    """Apply the rules to `documents` (a DataFrame with `text`, optionally `url`) and write OUTPUT/kept/,
    OUTPUT/rejects/ (`reason=...` sub-directories, with `value`) and OUTPUT/summary.json; the summary.

    One pass over the input: the decided documents are written once, partitioned by reason, and the
    partitions renamed into kept/ and rejects/; the statistics are tallied per batch in the same pass (an
    accumulator), so there is no count before nor aggregation after. The pipeline checks the tallies
    against the rows written (curation.pipeline, conservation)."""
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    from curation.classify import split_outcomes

    decided_schema = output_schema(to_arrow_schema(documents.schema))
    if options.blocklists:  # one copy per executor, not one per task
        shipped = spark.sparkContext.broadcast(options.blocklists)
        options = replace(options, blocklists=())
    else:
        shipped = None
    tallies = spark.sparkContext.accumulator({}, TallyParam())

    def decide_batches(batches):
        task_options = replace(options, blocklists=shipped.value) if shipped else options
        for batch in batches:
            decisions = decide_batch(batch, task_options)
            tallies.add(batch_tally(decisions))
            yield decisions

    decided = f"{output}/_decided"
    documents.mapInArrow(decide_batches, from_arrow_schema(decided_schema)).write.mode("overwrite").partitionBy(
        "reason"
    ).parquet(decided)
    split_outcomes(
        spark, decided, output, from_arrow_schema(pa.schema([f for f in decided_schema if f.name != "reason"]))
    )
    summary = summarize(tallies.value, options, shipped.value if shipped else ())
    write_json(spark, f"{output}/summary.json", summary)
    return summary


def reason_order(reason: str) -> tuple[int, int, str]:
    family, _, check = reason.partition(":")
    families = list(CHECKS)
    checks = CHECKS.get(family, ())
    return (
        families.index(family) if family in families else len(families),
        checks.index(check) if check in checks else len(checks),
        check,
    )


def summarize(tally: dict[str, Counter], options: RulesOptions, blocklists) -> dict:
    """summary.json from the job's summed `batch_tally`s."""
    reasons = tally.get("reasons", Counter())
    kept, totals = reasons.get(KEPT, 0), tally.get("kept", Counter())
    rejected = {reason: reasons[reason] for reason in sorted(set(reasons) - {KEPT}, key=reason_order)}
    by_family: dict[str, int] = {}
    for reason, count in rejected.items():
        by_family[reason.split(":")[0]] = by_family.get(reason.split(":")[0], 0) + count
    documents_in = tally.get("rows", Counter())["rows"]
    languages = sorted(tally.get("languages", Counter()).items(), key=lambda item: (-item[1], item[0]))[:20]
    return {
        "documents_in": documents_in,
        "kept": kept,
        "rejected": sum(rejected.values()),
        "keep_rate": round(kept / documents_in, 4) if documents_in else 0.0,
        "rejected_by_reason": rejected,
        "rejected_by_family": by_family,
        "c4": {
            "documents_edited": totals["edited"],
            "lines_removed": totals["lines_removed"],
            "chars_removed": totals["chars_removed"],
        },
        "pii": {"documents_redacted": totals["redacted"], **{key: totals[key] for key in ("email", "ip", "phone")}},
        "languages_in": dict(languages),
        "blocklists": {b.category: b.entries for b in blocklists},
        "options": {
            "languages": list(options.languages),
            "min_language_score": options.min_language_score,
            "skip": sorted(options.skip),
            "redact_phone_numbers": options.redact_phone_numbers,
        },
        "conserved": documents_in == kept + sum(rejected.values()),
    }


# --- options on the command line ------------------------------------------------------------------


def known_skips() -> list[str]:
    return [*CHECKS, *(f"{family}:{check}" for family, checks in CHECKS.items() for check in checks)]


@dataclass(frozen=True)
class RulesJobOptions:
    """The rules job's options: its flags, and the [rules] table of a pipeline config. The Gopher and C4
    thresholds are options `gopher_NAME` and `c4_NAME` (`--gopher-min-words`)."""

    input: str = field(
        default="",
        metadata=option(
            "documents: Parquet with text (and url), e.g. the extract stage's documents/, or a corpus", required=True
        ),
    )
    output: str = field(default="", metadata=option("output directory: kept/, rejects/, summary.json", required=True))
    languages: tuple[str, ...] = field(
        default=RulesOptions.languages, metadata=option("languages to keep, CLD2 codes, comma-separated")
    )
    min_language_score: float = field(
        default=RulesOptions.min_language_score,
        metadata=option("least share of the text in the detected language (FineWeb: 0.65)"),
    )
    max_garbage_fraction: float = field(
        default=RulesOptions.max_garbage_fraction,
        metadata=option("most share of control, U+FFFD and private-use characters"),
    )
    blocklists: tuple[str, ...] = field(
        default=(),
        metadata=option(
            "a blocklist (a file, or a directory with domains/urls files), repeatable",
            flag="--blocklist",
            metavar="CATEGORY=PATH",
            repeatable=True,
        ),
    )
    skip: tuple[str, ...] = field(
        default=(),
        metadata=option(
            "families (input, blocklist, language, gopher_quality, gopher_repetition, c4, pii) "
            "or family:check names not to run",
            metavar="CHECK,...",
        ),
    )
    redact_phone_numbers: bool = field(default=False, metadata=option("also replace phone numbers"))
    quality: gopher.QualityOptions = field(default_factory=gopher.QualityOptions, metadata=group("gopher"))
    repetition: gopher.RepetitionOptions = field(default_factory=gopher.RepetitionOptions, metadata=group("gopher"))
    c4: c4.Options = field(default_factory=c4.Options, metadata=group("c4"))

    def check(self) -> None:
        unknown = unknown_languages(self.languages)
        if unknown or not self.languages:
            raise ConfigError(
                f"--languages: unknown language code {unknown[0]!r} (CLD2 codes such as en, de, zh, ja)"
                if unknown
                else "--languages must name at least one language"
            )
        if not 0.0 <= self.min_language_score <= 1.0 or not 0.0 <= self.max_garbage_fraction <= 1.0:
            raise ConfigError("--min-language-score and --max-garbage-fraction must be between 0 and 1")
        wrong = [name for name in self.skip if name not in known_skips()]
        if wrong:
            raise ConfigError(f"--skip: unknown check {wrong[0]!r} (families: {', '.join(CHECKS)}; or family:check)")
        for prefix, tuned in (("gopher", self.quality), ("gopher", self.repetition), ("c4", self.c4)):
            for option_field in fields(tuned):
                default, value = option_field.default, getattr(tuned, option_field.name)
                if isinstance(default, tuple) and len(value) != len(default):
                    raise ConfigError(
                        f"--{prefix}-{option_field.name.replace('_', '-')} needs {len(default)} numbers "
                        f"(got {len(value)})"
                    )
        self.rules  # noqa: B018 (the blocklists load here, before Spark starts)

    @cached_property
    def rules(self) -> RulesOptions:
        """What `decide` reads: these options with the blocklists loaded (ConfigError when one cannot be)."""
        return RulesOptions(
            languages=self.languages,
            min_language_score=self.min_language_score,
            max_garbage_fraction=self.max_garbage_fraction,
            redact_phone_numbers=self.redact_phone_numbers,
            skip=frozenset(self.skip),
            blocklists=load_blocklists(self.blocklists),
            quality=self.quality,
            repetition=self.repetition,
            c4=self.c4,
        )


class RulesJob(SparkJob):
    """`spark-submit jobs/rules.py --input DOCS --output DIR [--languages en] [--blocklist CATEGORY=PATH] ...`."""

    name = "rules"
    description = (
        "Language ID, Gopher quality and repetition rules, C4 line cleaning, URL blocklists and PII "
        "redaction: kept/, rejects/ (one reason each), summary.json."
    )
    options_class = RulesJobOptions

    def validate(self, options):
        check_input(parse_corpus_spec(options.input))

    def run(self, spark, options):
        from curation.classify import documents_to_filter

        documents = documents_to_filter(spark, options.input)
        summary = rules_documents(spark, documents, options.output, options.rules)
        print(
            f"{self.name}: {summary['documents_in']} documents -> kept {summary['kept']} "
            f"({summary['keep_rate']:.1%}), "
            f"rejected {summary['rejected_by_family']}; C4 removed {summary['c4']['lines_removed']} lines; "
            f"PII redacted {summary['pii']}; outputs under {published_path(options.output)}"
        )
        if not summary["conserved"]:
            print(f"{self.name}: error: counts do not add up (documents_in != kept + rejected)", file=sys.stderr)
            return 1
        return 0


class RulesStage(CrawlFilterStage):
    """Between extraction and the classifier when the config has a [rules] table: the crawl documents of the
    stage before it in, kept/ and rejects/ out."""

    name = "rules"
    job = RulesJob()
    upstream = ("extract",)
    optional = True

    def wire(self, run, output):
        return {"input": run.crawl(self.name), "output": output}

    def input_files(self, options, run):
        return [spec.partition("=")[2] for spec in options.blocklists]  # a changed list runs the stage again


def load_blocklists(specs: tuple[str, ...]) -> tuple[Blocklist, ...]:
    """CATEGORY=PATH specs, loaded (ConfigError for a malformed spec, a repeated category, a missing path)."""
    loaded, seen = [], set()
    for spec in specs:
        category, _, path = spec.partition("=")
        if not category or not path or not re.fullmatch(r"[\w.-]+", category):
            raise ConfigError(
                f"--blocklist must be CATEGORY=PATH, the category of letters, digits, _ . - (got {spec!r})"
            )
        if category in seen:
            raise ConfigError(f"--blocklist: category {category!r} given twice")
        if not os.path.exists(path):
            raise ConfigError(f"--blocklist {category}: no such file or directory: {path}")
        seen.add(category)
        try:
            loaded.append(load_blocklist(category, path))
        except OSError as err:
            raise ConfigError(f"--blocklist {category}: cannot read {path}: {err}") from None
    return tuple(loaded)
