"""GPT-3's quality filter: score documents with the quality classifier (curation.classifier), keep them by Pareto
resampling.

`spark-submit jobs/classify.py` (the pipeline's `classify` stage): `quality_score` = P(positive); a document is
kept when a Lomax (numpy `pareto(alpha)`) draw exceeds `1 - quality_score`, i.e. with probability
`(2 - s) ** -alpha`. The draw comes from `u = xxhash64(seed, doc_id)` mapped to (0, 1) by native Spark
expressions, so retries, speculative tasks, other partitionings and re-runs keep exactly the same documents:
`x = (1 - u) ** (-1 / alpha) - 1`, and `P(x > 1 - s) = P(1 - u < (2 - s) ** -alpha) = (2 - s) ** -alpha`.
A standard Tokenizer -> HashingTF -> LogisticRegression model is evaluated by a vectorized Arrow UDF
(`hashing_tf_margins`) that gives the same scores as `model.transform`, several times faster.

`--alpha auto` (GPT-3 chose alpha "to match the distribution of scores on WebText") picks alpha from the
reference source's held-out score distribution saved in metrics.json, by one of two rules (see AutoAlpha):
`match_reference_mean` (default): the kept input documents' expected mean score, sum(s p(s)) / sum(p(s)) with
p(s) = (2 - s) ** -alpha, equals the reference's held-out mean score: the resampled crawl scores, on average,
like WebText. `reference_keep`: E_ref[(2 - s) ** -alpha] = `--reference-keep` (0.9): the reference corpus
itself would keep that fraction (GPT-3's alpha = 9 kept ~90% of documents scoring ~0.99). Both are solved by
bisection on [ALPHA_MIN, ALPHA_MAX] (both sides are monotone in alpha) and clipped there when out of reach.
With a weaker classifier than GPT-3's, WebText's scores spread lower (real data here: median 0.86), and
`reference_keep` then picks alpha < 1, which barely filters; hence the default. The chosen alpha and the
expected keep rate over the input are printed before any output is written.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from curation.classifier import (
    HISTOGRAM_BINS,
    SCORE_GRID,
    check_model_dir,
    hash_uniform,
    histogram_rows,
    no_tokens_condition,
    score_bin,
    score_column,
)
from curation.corpora import parse_corpus_spec, read_documents
from curation.errors import EXIT_BAD_INPUT, ConfigError
from curation.features import murmur3_strings
from curation.job import SparkJob, check_input, hadoop_fs, published_path, write_json
from curation.options import option
from curation.stage import CrawlFilterStage
from curation.storage import local_path

ALPHA_MIN, ALPHA_MAX = 0.5, 100.0
REJECT_REASONS = ("pareto_draw", "no_tokens", "no_doc_id")
SUGGESTED_KEEP_RATES = (0.1, 0.3)  # a run that keeps nothing is told the alpha that keeps these shares

# --- the Pareto rule (pure) ---------------------------------------------------------------


def keep_probability(score, alpha: float):
    """P(pareto(alpha) > 1 - score) = (2 - score) ** -alpha; works on floats and numpy arrays."""
    return np.power(2.0 - np.asarray(score, dtype=float), -alpha)


def lomax_draw(u, alpha: float):
    """numpy's `pareto(alpha)` sample from a uniform u in (0, 1) by inverting its CDF 1 - (1 + x) ** -alpha."""
    return np.power(1.0 - np.asarray(u, dtype=float), -1.0 / alpha) - 1.0


def expected_keep_rate(scores, alpha: float) -> float:
    scores = np.asarray(scores, dtype=float)
    return float(keep_probability(scores, alpha).mean()) if scores.size else 0.0


def calibrate_alpha(reference_scores, target_keep: float) -> float:
    """The alpha at which the reference documents' expected keep rate is `target_keep` (clipped to
    [ALPHA_MIN, ALPHA_MAX] when the target is out of reach)."""
    if not 0.0 < target_keep < 1.0:
        raise ConfigError(f"--reference-keep must be between 0 and 1 (got {target_keep})")
    low, high = ALPHA_MIN, ALPHA_MAX
    if expected_keep_rate(reference_scores, low) <= target_keep:
        return low
    if expected_keep_rate(reference_scores, high) >= target_keep:
        return high
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if expected_keep_rate(reference_scores, middle) > target_keep else (low, middle)
    return round((low + high) / 2, 4)


def kept_mean_score(scores, alpha: float) -> float:
    """Mean score of the documents the rule keeps, in expectation: sum(s p(s)) / sum(p(s))."""
    scores = np.asarray(scores, dtype=float)
    keep = keep_probability(scores, alpha)
    return float((scores * keep).sum() / keep.sum())


def calibrate_alpha_to_mean(input_scores, reference_mean: float) -> float:
    """The alpha at which the kept documents' expected mean score equals the reference corpus's mean score
    (clipped to [ALPHA_MIN, ALPHA_MAX]); the kept mean rises monotonically with alpha."""
    low, high = ALPHA_MIN, ALPHA_MAX
    if kept_mean_score(input_scores, low) >= reference_mean:
        return low
    if kept_mean_score(input_scores, high) <= reference_mean:
        return high
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if kept_mean_score(input_scores, middle) < reference_mean else (low, middle)
    return round((low + high) / 2, 4)


@dataclass(frozen=True)
class AutoAlpha:
    """`--alpha auto`: alpha from the reference source's held-out score distribution (`reference_grid`).

    rule `reference_keep`: E_ref[(2 - s) ** -alpha] = reference_keep (the reference corpus itself would keep
    that fraction); rule `match_reference_mean`: the kept input documents' expected mean score equals the
    reference corpus's mean score (needs the input's score distribution, one aggregation)."""

    rule: str
    reference_source: str
    reference_grid: tuple[float, ...]
    reference_keep: float = 0.9

    def choose(self, input_grid) -> tuple[float, dict]:
        reference_mean = float(np.mean(self.reference_grid))
        if self.rule == "reference_keep":
            alpha = calibrate_alpha(self.reference_grid, self.reference_keep)
        else:
            alpha = calibrate_alpha_to_mean(input_grid, reference_mean)
        details = {
            "rule": self.rule,
            "reference_source": self.reference_source,
            "reference_mean_score": round(reference_mean, 4),
            "reference_expected_keep": round(expected_keep_rate(self.reference_grid, alpha), 4),
            "input_kept_mean_score": round(kept_mean_score(input_grid, alpha), 4) if len(input_grid) else None,
            "clipped": alpha in (ALPHA_MIN, ALPHA_MAX),
        }
        if self.rule == "reference_keep":
            details["reference_keep"] = self.reference_keep
        return alpha, details


ALPHA_RULES = ("reference_keep", "match_reference_mean")


def nothing_kept_error(summary: dict) -> str | None:
    """The one line a filter run that kept no document of a non-empty input ends with (None when it kept
    some): the keep rate it expected at its alpha, and the alphas that keep a share of this input."""
    if summary["kept"] or not summary["documents_in"]:
        return None
    head = f"kept 0 of {summary['documents_in']} documents"
    if summary["median_score"] is None:
        return f"{head}: none has a score (rejected: {summary['rejected_by_reason']})"
    alphas = ", ".join(
        f"alpha {alpha:g} keeps ~{float(rate):.0%}" for rate, alpha in summary["alpha_for_keep_rate"].items()
    )
    return (
        f"{head}: expected keep rate {summary['expected_keep_rate']:.2%} at alpha {summary['alpha']:g} "
        f"(median score {summary['median_score']:.3f}); use alpha = 'auto' with alpha_rule = "
        f"'reference_keep', or a lower alpha (on this input {alphas} in expectation)"
    )


# --- Spark expressions and the model's held-out scores ----------------------------------------


def hashing_tf_margins(texts: list, coefficients: np.ndarray, intercept: float) -> np.ndarray:
    """Logistic-regression margins `intercept + w . HashingTF(Tokenizer(text))` for a batch of texts, the
    features exactly as Spark's `Tokenizer` and `HashingTF` make them: Java's lower-casing (Python's agrees),
    a split on each whitespace character with trailing empty tokens dropped, murmur3 of each term mod the
    number of features. Each distinct term of the batch is hashed once; each document's sum runs over its own
    tokens in order, so its margin does not depend on the batch it came in."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lowered = pa.array([text.lower() if text else "" for text in texts], pa.large_string())
    spaced = pc.utf8_rtrim(pc.replace_substring_regex(lowered, "[\t\n\x0b\f\r]", " "), characters=" ")
    tokens = pc.split_pattern(spaced, " ")  # "" -> [""]: every document has at least one token
    terms = pc.dictionary_encode(tokens.values)
    term_weights = coefficients[murmur3_strings(terms.dictionary).astype(np.int64) % len(coefficients)]
    token_weights = term_weights[terms.indices.to_numpy()]
    return intercept + np.add.reduceat(token_weights, tokens.offsets.to_numpy()[:-1])


def linear_text_model(model):
    """(coefficients, intercept) when `model` is exactly Tokenizer -> HashingTF (term counts) -> binomial
    LogisticRegression on its standard columns, which `hashing_tf_margins` reproduces; None otherwise."""
    from pyspark.ml.classification import LogisticRegressionModel
    from pyspark.ml.feature import HashingTF, Tokenizer

    if len(model.stages) != 3:
        return None
    tokenizer, hashing, regression = model.stages
    if not (
        isinstance(tokenizer, Tokenizer)
        and isinstance(hashing, HashingTF)
        and isinstance(regression, LogisticRegressionModel)
    ):
        return None
    if (
        hashing.getBinary()
        or regression.numClasses != 2
        or regression.getThreshold() != 0.5
        or hashing.getInputCol() != tokenizer.getOutputCol()
        or regression.getFeaturesCol() != hashing.getOutputCol()
    ):
        return None
    return regression.coefficients.toArray(), float(regression.intercept)


def score_documents(model, frame):
    """`frame` + quality_score = P(positive), null for documents without tokens.

    A standard Tokenizer -> HashingTF -> LogisticRegression pipeline is evaluated by a vectorized Arrow UDF
    (`hashing_tf_margins`; the same scores as `model.transform`, several times faster); any other pipeline
    by `model.transform`."""
    from pyspark.sql import functions as F

    linear = linear_text_model(model)
    if linear is None:
        prepared = frame.withColumn("_input_text", F.col("text")).withColumn("text", F.coalesce("text", F.lit("")))
        columns = [F.col("_input_text").alias("text") if c == "text" else F.col(c) for c in frame.columns]
        score = F.when(no_tokens_condition("_input_text"), F.lit(None)).otherwise(score_column())
        return model.transform(prepared).select(*columns, score.alias("quality_score"))
    coefficients = frame.sparkSession.sparkContext.broadcast(linear[0])
    intercept = linear[1]

    @F.pandas_udf("double")
    def probability(texts: pd.Series) -> pd.Series:
        with np.errstate(over="ignore"):
            return pd.Series(1.0 / (1.0 + np.exp(-hashing_tf_margins(texts.tolist(), coefficients.value, intercept))))

    return frame.withColumn(
        "quality_score", F.when(no_tokens_condition("text"), F.lit(None)).otherwise(probability("text"))
    )


def pareto_draw_column(seed: int, alpha: float, doc_id_col: str = "doc_id"):
    from pyspark.sql import functions as F

    return F.pow(1.0 - hash_uniform(seed, F.col(doc_id_col)), -1.0 / alpha) - 1.0


def reference_grid(metrics: dict, source: str) -> list[float]:
    grid = metrics.get("sources", {}).get(source, {}).get("score_grid")
    if not grid:
        known = ", ".join(n for n, s in metrics.get("sources", {}).items() if s.get("score_grid")) or "none"
        raise ConfigError(
            f"--alpha auto needs held-out scores of reference source {source!r} in the model's "
            f"metrics.json (sources with scores: {known})"
        )
    return grid


# --- filtering ---------------------------------------------------------------------------------


def documents_to_filter(spark, path: str):
    """Documents to filter: Parquet keeps all its columns; other corpus formats go through read_corpus."""
    frame = read_documents(spark, parse_corpus_spec(path))
    missing = [c for c in ("doc_id", "text") if c not in frame.columns]
    if missing:
        raise ConfigError(f"input {path} has no {' or '.join(missing)} column (columns: {', '.join(frame.columns)})")
    return frame


def filter_documents(
    spark, model_dir: str, documents, output: str, *, alpha: float | AutoAlpha, seed: int, log=print
) -> dict:
    """Score, resample by the Pareto rule and write kept/, rejects/, summary.json, report.json and report.png.

    Documents are scored once and written once: one Parquet write partitioned by outcome, whose partitions
    are then renamed to kept/ and rejects/ (`reason=...` sub-directories, so `reason` reads back as a
    column). The statistics come from the written outputs' narrow columns. `--alpha auto` needs the
    input's score distribution first, which costs one more scoring pass that keeps nothing but the scores.
    """
    from pyspark.ml import PipelineModel
    from pyspark.sql import functions as F

    model = PipelineModel.load(model_dir)
    documents_in = documents.count()
    scored = score_documents(model, documents)
    if isinstance(alpha, AutoAlpha):
        alpha, alpha_rule = alpha.choose(
            scored.agg(F.percentile_approx("quality_score", SCORE_GRID, 10000).alias("grid")).first()["grid"] or []
        )
    else:
        alpha_rule = {"rule": "fixed"}
    draw = pareto_draw_column(seed, alpha)
    reason = (
        F.when(F.col("doc_id").isNull(), F.lit("no_doc_id"))
        .when(F.col("quality_score").isNull(), F.lit("no_tokens"))
        .when(draw > 1.0 - F.col("quality_score"), F.lit("kept"))
        .otherwise(F.lit("pareto_draw"))
    )
    decided = f"{output}/_decided"
    scored.withColumn("reason", reason).write.mode("overwrite").partitionBy("reason").parquet(decided)
    split_outcomes(spark, decided, output, scored.schema)

    written = (
        spark.read.parquet(f"{output}/kept")
        .select("quality_score", F.lit("kept").alias("outcome"))
        .unionByName(spark.read.parquet(f"{output}/rejects").select("quality_score", F.col("reason").alias("outcome")))
    )
    stats = written.agg(
        F.avg("quality_score").alias("mean_score"),
        F.sum(F.pow(2.0 - F.col("quality_score"), -alpha)).alias("expected_kept"),
        F.percentile_approx("quality_score", SCORE_GRID, 10000).alias("grid"),
    ).first()
    grid = stats["grid"] or []
    counted = written.groupBy("outcome", score_bin("quality_score").alias("bin")).count().collect()
    outcomes: Counter = Counter()
    for row in counted:
        outcomes[row["outcome"]] += row["count"]
    expected_keep_rate = (stats["expected_kept"] or 0.0) / documents_in if documents_in else 0.0
    log(
        f"classify: alpha {alpha} ({alpha_rule['rule']}): expected keep rate {expected_keep_rate:.4f} "
        f"over {documents_in} documents"
    )
    rejected = {r: outcomes[r] for r in REJECT_REASONS}
    summary = {
        "documents_in": documents_in,
        "kept": outcomes["kept"],
        "rejected": sum(rejected.values()),
        "keep_rate": round(outcomes["kept"] / documents_in, 4) if documents_in else 0.0,
        "expected_keep_rate": round(expected_keep_rate, 4),
        "alpha": alpha,
        "seed": seed,
        "mean_score": round(stats["mean_score"], 4) if stats["mean_score"] is not None else None,
        "median_score": round(float(np.median(grid)), 4) if grid else None,
        "alpha_for_keep_rate": {str(rate): calibrate_alpha(grid, rate) for rate in SUGGESTED_KEEP_RATES}
        if grid
        else {},
        "rejected_by_reason": rejected,
        "conserved": documents_in == sum(outcomes.values()) == outcomes["kept"] + sum(rejected.values()),
        "alpha_rule": alpha_rule,
        "model": model_dir,
    }
    write_json(spark, f"{output}/summary.json", summary)
    report = build_report(check_model_dir(model_dir), histogram_rows(counted, "outcome"), alpha)
    write_json(spark, f"{output}/report.json", report)
    write_report_png(report, f"{output}/report.png")
    return summary


def split_outcomes(spark, decided: str, output: str, schema) -> None:
    """Rename `decided/reason=kept` to `output/kept` and the other `reason=...` partitions into
    `output/rejects/`; a side with no rows still gets an empty Parquet dataset with its schema."""
    from pyspark.sql.types import StringType, StructField, StructType

    fs, root = hadoop_fs(spark, decided)
    kept, rejects = hadoop_fs(spark, f"{output}/kept")[1], hadoop_fs(spark, f"{output}/rejects")[1]
    for target in (kept, rejects):
        fs.delete(target, True)
    fs.mkdirs(rejects)
    for status in fs.listStatus(root):
        name = status.getPath().getName()
        if name == "reason=kept":
            fs.rename(status.getPath(), kept)
        elif name.startswith("reason="):
            fs.rename(status.getPath(), hadoop_fs(spark, f"{output}/rejects/{name}")[1])
    fs.delete(root, True)
    if not fs.exists(kept):
        spark.createDataFrame([], schema).write.parquet(f"{output}/kept")
    if not fs.listStatus(rejects):
        fs.delete(rejects, True)
        spark.createDataFrame([], StructType(schema.fields + [StructField("reason", StringType())])).write.parquet(
            f"{output}/rejects"
        )


def build_report(metrics: dict, filter_histograms: dict, alpha: float) -> dict:
    """Score histograms (held-out per reference/crawl source, and this run's input split into kept/rejected)
    and the keep-probability curve."""
    bins = [round(i / HISTOGRAM_BINS, 4) for i in range(HISTOGRAM_BINS + 1)]
    scores = np.linspace(0.0, 1.0, 101)
    input_hist = np.zeros(HISTOGRAM_BINS, dtype=int)
    for counts in filter_histograms.values():
        input_hist += np.asarray(counts)
    return {
        "alpha": alpha,
        "bin_edges": bins,
        "held_out_histograms": {name: s.get("histogram") for name, s in metrics.get("sources", {}).items()},
        "input_histogram": input_hist.tolist(),
        "outcome_histograms": filter_histograms,
        "keep_curve": {
            "score": [round(float(s), 2) for s in scores],
            "keep_probability": [round(float(p), 6) for p in keep_probability(scores, alpha)],
        },
    }


def write_report_png(report: dict, path: str) -> None:
    """Two panels: score histograms (density) per source and for the filtered input; the keep curve."""
    local = local_path(path)
    if local is None:
        return  # the JSON report carries the same data; plots are written for local outputs only
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.asarray(report["bin_edges"])
    centres = (edges[:-1] + edges[1:]) / 2
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    series = {f"{n} (held-out)": h for n, h in report["held_out_histograms"].items() if h and sum(h)}
    series |= {"filter input": report["input_histogram"], "kept": report["outcome_histograms"].get("kept")}
    for label, counts in series.items():
        if counts and sum(counts):
            left.plot(centres, np.asarray(counts) / sum(counts), marker=".", label=label)
    left.set(xlabel="quality_score", ylabel="fraction of documents", title="Score distributions")
    left.legend(fontsize=8)
    curve = report["keep_curve"]
    right.plot(curve["score"], curve["keep_probability"], color="black")
    right.set(
        xlabel="quality_score s",
        ylabel="P(keep) = (2 - s)^-alpha",
        ylim=(0, 1.02),
        title=f"Keep probability, alpha = {report['alpha']:g}",
    )
    fig.tight_layout()
    fig.savefig(local, dpi=100)
    plt.close(fig)


# --- the job and its stage ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifyJobOptions:
    """The classify job's options: its flags, and the [classify] table of a pipeline config."""

    model: str = field(default="", metadata=option("a PipelineModel saved by jobs/classifier.py", required=True))
    input: str = field(
        default="", metadata=option("documents: Parquet with doc_id and text (or a corpus)", required=True)
    )
    output: str = field(
        default="", metadata=option("output directory: kept/, rejects/, summary.json, report.*", required=True)
    )
    alpha: str = field(default="9", metadata=option("Pareto shape (GPT-3: 9), or 'auto' (see --alpha-rule)"))
    alpha_rule: str = field(
        default="match_reference_mean",
        metadata=option(
            "--alpha auto: reference_keep: the reference corpus's expected keep rate is "
            "--reference-keep; match_reference_mean: kept documents' mean score = the "
            "reference corpus's mean score",
            choices=ALPHA_RULES,
        ),
    )
    reference_source: str = field(
        default="webtext", metadata=option("--alpha auto: the positive source whose held-out scores calibrate alpha")
    )
    reference_keep: float = field(
        default=0.9, metadata=option("--alpha auto with reference_keep: the reference documents' expected keep rate")
    )
    seed: int = 0

    def check(self) -> None:
        if self.alpha == "auto":
            if not 0.0 < self.reference_keep < 1.0:
                raise ConfigError(f"--reference-keep must be between 0 and 1 (got {self.reference_keep})")
            return
        try:
            alpha = float(self.alpha)
        except ValueError:
            raise ConfigError(f"--alpha must be a positive number or 'auto' (got {self.alpha!r})") from None
        if not alpha > 0 or math.isinf(alpha):
            raise ConfigError(f"--alpha must be a positive number or 'auto' (got {self.alpha!r})")

    def pareto_alpha(self, metrics: dict) -> float | AutoAlpha:
        """The Pareto shape: the number given, or 'auto' calibrated on the model's held-out scores (`metrics`)."""
        if self.alpha != "auto":
            return float(self.alpha)
        grid = tuple(reference_grid(metrics, self.reference_source))
        return AutoAlpha(self.alpha_rule, self.reference_source, grid, self.reference_keep)


class ClassifyJob(SparkJob):
    """`spark-submit jobs/classify.py --model DIR --input DOCS --output DIR --alpha 9 --seed S`."""

    name = "classify"
    description = "Score documents with the quality classifier and keep them by GPT-3's Pareto rule."
    options_class = ClassifyJobOptions

    def validate(self, options):
        metrics = check_model_dir(options.model)
        check_input(parse_corpus_spec(options.input))
        options.pareto_alpha(metrics)  # 'auto': the reference source is one the model held out

    def run(self, spark, options):
        alpha = options.pareto_alpha(check_model_dir(options.model))
        documents = documents_to_filter(spark, options.input)
        summary = filter_documents(spark, options.model, documents, options.output, alpha=alpha, seed=options.seed)
        print(
            f"{self.name}: {summary['documents_in']} documents -> kept {summary['kept']} "
            f"({summary['keep_rate']:.1%}, expected {summary['expected_keep_rate']:.1%}), rejected "
            f"{summary['rejected_by_reason']}; outputs under {published_path(options.output)}"
        )
        if not summary["conserved"]:
            print(f"{self.name}: error: counts do not add up (documents_in != kept + rejected)", file=sys.stderr)
            return 1
        nothing_kept = nothing_kept_error(summary)
        if nothing_kept:  # an empty kept/ fails the run at the mixture minutes later: stop here, say why
            print(f"{self.name}: error: {nothing_kept}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return 0


class ClassifyStage(CrawlFilterStage):
    """The crawl documents of the stage before the classifier in, scored by its model; kept/ and rejects/ out."""

    name = "classify"
    job = ClassifyJob()
    upstream = ("extract", "rules", "classifier")
    seeded = True
    set_by_pipeline = ("model", "input", "output")

    def wire(self, run, output):
        return {"model": run.path("classifier"), "input": run.crawl(self.name), "output": output}
