"""GPT-3's quality filter: a logistic-regression classifier (reference corpora vs raw crawl) and Pareto resampling.

Training (`jobs/train_classifier.py`): Spark ML `Tokenizer -> HashingTF -> LogisticRegression`, reference
corpora as positives (each source given equal total weight), crawl documents as negatives (the two classes
given equal total weight), and `metrics.json` beside the saved `PipelineModel`. The held-out split is by
SITE (`--holdout-by site`, the default): a hash of (seed, group), the group being the registered domain of
the document's URL, else its source file. Split by document, pages of one site or WARC file sit on both
sides and the classifier is scored on the boilerplate and spam templates it trained on (held-out ROC AUC
0.991 on real pages that, held out by file, fall to 0.68-0.80). The filter scores crawl from sites it never
saw, so metrics.json reports ROC/PR AUC overall, per positive source against each negative source, and for
held-out negatives whose site no training document came from. A source with too few groups to split (a
reference corpus that is one site or one file: Wikipedia, a JSONL file of WebText) is split by document,
and metrics.json says so.

Filtering (`jobs/filter.py`): `quality_score` = P(positive); a document is kept when a Lomax (numpy
`pareto(alpha)`) draw exceeds `1 - quality_score`, i.e. with probability `(2 - s) ** -alpha`. The draw comes
from `u = xxhash64(seed, doc_id)` mapped to (0, 1) by native Spark expressions, so retries, speculative tasks,
other partitionings and re-runs keep exactly the same documents: `x = (1 - u) ** (-1 / alpha) - 1`, and
`P(x > 1 - s) = P(1 - u < (2 - s) ** -alpha) = (2 - s) ** -alpha`.

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

import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from curation.corpora import CORPUS_SCHEMA, CorpusSpec, parse_corpus_spec, read_documents, read_spec
from curation.errors import EXIT_BAD_INPUT, BadInput, ConfigError
from curation.features import murmur3_strings
from curation.job import SparkJob, check_input, check_writable, hadoop_fs, published_path, write_json

SCORE_GRID = [(i + 0.5) / 100 for i in range(100)]  # mid-point quantiles: E[f(s)] ~ mean of f(q_i)
REPORTED_QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
HISTOGRAM_BINS = 20
ALPHA_MIN, ALPHA_MAX = 0.5, 100.0
UNIT_53 = float(2**53)
REJECT_REASONS = ("pareto_draw", "no_tokens", "no_doc_id")
PIPELINE_CLASS = "org.apache.spark.ml.PipelineModel"
HOLDOUT_UNITS = ("site", "document")
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


def class_weights(counts: dict[str, int], labels: dict[str, int]) -> dict[str, float]:
    """Per-source document weight: the two classes weigh the same, and so do the sources within a class;
    the mean weight over all documents is 1."""
    total = sum(counts.values())
    weights = {}
    for label in (0, 1):
        sources = [s for s in counts if labels[s] == label]
        for source in sources:
            weights[source] = total / (2 * len(sources) * counts[source])
    return weights


def registered_domain(url: str | None) -> str | None:
    """The site of a URL: its host's registered domain by the Public Suffix List (`news.bbc.co.uk` and
    `www.bbc.co.uk` -> `bbc.co.uk`; `data.gov.uk` and `x.blogspot.com` stay whole, their parents being
    public suffixes); the host itself where the list has no rule (an IP address, `localhost`); None without
    a host. The list is the copy the `tld` package ships (trafilatura's courlan depends on it): nothing is
    fetched at run time."""
    from tld import get_fld

    try:
        host = urlsplit(url).hostname if url else None
    except ValueError:  # e.g. an unbalanced '[' of an IPv6 literal
        return None
    host = (host or "").rstrip(".")
    return (get_fld(host, fix_protocol=True, fail_silently=True) or host) if host else None


def min_site_groups(holdout: float) -> int:
    """The fewest groups a source needs to be split by site: two held-out groups expected."""
    return math.ceil(2 / holdout)


def holdout_units(group_counts: dict[str, int], holdout: float, holdout_by: str) -> dict[str, str]:
    """Per source, how its held-out split is drawn: "site" (by a hash of (seed, group)) in site mode when the
    source has `min_site_groups` groups, else "document" (by a hash of (seed, source, doc_id)): a source that
    is one site or one file cannot be split by site and still be both trained on and measured."""
    if holdout_by not in HOLDOUT_UNITS:
        raise ConfigError(f"--holdout-by must be one of {', '.join(HOLDOUT_UNITS)} (got {holdout_by!r})")
    enough = min_site_groups(holdout)
    return {
        source: "site" if holdout_by == "site" and groups >= enough else "document"
        for source, groups in group_counts.items()
    }


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


# --- Spark expressions ----------------------------------------------------------------------


def no_tokens_condition(text_col: str = "text"):
    from pyspark.sql import functions as F

    return F.col(text_col).isNull() | F.col(text_col).rlike(r"^\s*$")


def hash_uniform(seed: int, *cols):
    """A uniform in (0, 1) from the top 53 bits of xxhash64(seed, cols...): same input, same number."""
    from pyspark.sql import functions as F

    bits = F.shiftrightunsigned(F.xxhash64(F.lit(int(seed)).cast("long"), *cols), 11)
    return (bits.cast("double") + 0.5) / UNIT_53


def pareto_draw_column(seed: int, alpha: float, doc_id_col: str = "doc_id"):
    from pyspark.sql import functions as F

    return F.pow(1.0 - hash_uniform(seed, F.col(doc_id_col)), -1.0 / alpha) - 1.0


def score_column(probability_col: str = "probability"):
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    return F.element_at(vector_to_array(F.col(probability_col)), 2)


def build_pipeline(num_features: int, reg_param: float, max_iter: int):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import HashingTF, Tokenizer

    return Pipeline(
        stages=[
            Tokenizer(inputCol="text", outputCol="tokens"),
            HashingTF(inputCol="tokens", outputCol="features", numFeatures=num_features),
            LogisticRegression(
                featuresCol="features", labelCol="label", weightCol="weight", regParam=reg_param, maxIter=max_iter
            ),
        ]
    )


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


def score_bin(score_col: str, bins: int = HISTOGRAM_BINS):
    from pyspark.sql import functions as F

    score = F.col(score_col)  # least() skips nulls: a document without a score must stay without a bin
    return F.when(score.isNotNull(), F.least(F.floor(score * bins), F.lit(bins - 1))).cast("int")


def histogram_rows(rows, group_key: str, bins: int = HISTOGRAM_BINS) -> dict:
    """{group: [count per score bin]} from (group, bin, count) rows; rows without a score are left out."""
    result: dict[str, list[int]] = {}
    for row in rows:
        if row["bin"] is not None:
            result.setdefault(row[group_key], [0] * bins)[row["bin"]] += row["count"]
    return dict(sorted(result.items()))


# --- training --------------------------------------------------------------------------------


def labelled_documents(spark, spec: CorpusSpec, label: int):
    """A corpus's documents with `label`, `url` (null where the corpus keeps none) and `path` (the file each
    came from: an extracted page's WARC file name, a corpus record's file), what a site-grouped split needs.
    Another stage's Parquet output keeps its columns (`read_documents`); other corpora go through read_spec."""
    from pyspark.sql import functions as F

    frame = read_spec(spark, spec) if spec.strip_gutenberg else read_documents(spark, spec)
    if frame.columns == CORPUS_SCHEMA.names:
        return frame.withColumn("url", F.lit(None).cast("string")).withColumn("label", F.lit(float(label)))
    columns = set(frame.columns)  # another stage's output: file names, not machine-specific paths
    path = F.col("warc_path") if "warc_path" in columns else F.col("_metadata.file_path")
    error = F.when(F.col("doc_id").isNull(), F.lit("no_doc_id")).when(F.col("text").isNull(), F.lit("null_text"))
    return frame.select(
        F.col("doc_id").cast("string"),
        F.lit(spec.name).alias("source"),
        F.regexp_replace(path, "^.*/", "").alias("path"),
        F.col("text").cast("string"),
        error.alias("parse_error"),
        (F.col("url") if "url" in columns else F.lit(None)).cast("string").alias("url"),
        F.lit(float(label)).alias("label"),
    )


def load_labelled(spark, positives: list[CorpusSpec], negatives: list[CorpusSpec]):
    frames = [
        labelled_documents(spark, spec, label) for label, specs in ((1, positives), (0, negatives)) for spec in specs
    ]
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    return union.select("doc_id", "source", "path", "url", "text", "parse_error", "label")


def holdout_group_column():
    """`site:<registered domain of url>`, else `file:<source>/<path>`: the unit the held-out split keeps whole."""
    from pyspark.sql import functions as F

    @F.pandas_udf("string")
    def site(urls: pd.Series) -> pd.Series:
        urls = [url if isinstance(url, str) else None for url in urls.tolist()]
        domains = {url: registered_domain(url) for url in set(urls)}  # one look-up per distinct URL of a batch
        return pd.Series([domains[url] for url in urls], dtype=object)

    return F.coalesce(
        F.concat(F.lit("site:"), site(F.col("url"))),
        F.concat(F.lit("file:"), F.col("source"), F.lit("/"), F.col("path")),
    )


def train_classifier(
    spark,
    positives: list[CorpusSpec],
    negatives: list[CorpusSpec],
    model_dir: str,
    *,
    num_features: int = 1 << 18,
    reg_param: float = 0.01,
    max_iter: int = 100,
    holdout: float = 0.1,
    holdout_by: str = "site",
    seed: int = 0,
) -> dict:
    """Fit, evaluate on the held-out split, save the PipelineModel to `model_dir` and metrics.json beside it.

    Raises BadInput when a class or a source has no usable document (checked before fitting)."""
    from pyspark import StorageLevel
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.sql import functions as F

    labels = {spec.name: 1 for spec in positives} | {spec.name: 0 for spec in negatives}
    docs = load_labelled(spark, positives, negatives).withColumn("group", holdout_group_column())
    status = F.when(F.col("parse_error").isNotNull(), F.lit("parse_error")).when(
        no_tokens_condition(), F.lit("no_tokens")
    )
    docs = docs.withColumn("status", status).persist(StorageLevel.MEMORY_AND_DISK)
    group_counts = {name: 0 for name in labels} | {
        row["source"]: row["groups"]
        for row in docs.where("status IS NULL")
        .groupBy("source")
        .agg(F.countDistinct("group").alias("groups"))
        .collect()
    }
    units = holdout_units(group_counts, holdout, holdout_by)
    by_site = sorted(name for name, unit in units.items() if unit == "site")
    draw = hash_uniform(seed, F.col("source"), F.col("doc_id"))
    if by_site:
        draw = F.when(F.col("source").isin(by_site), hash_uniform(seed, F.col("group"))).otherwise(draw)
    docs = docs.withColumn(
        "outcome", F.coalesce(F.col("status"), F.when(draw < holdout, F.lit("held_out")).otherwise(F.lit("train")))
    )
    counts: dict[str, Counter] = {name: Counter() for name in labels}
    sides: dict[str, dict] = {name: {} for name in labels}
    for row in (
        docs.groupBy("source", "outcome")
        .agg(F.count("*").alias("count"), F.countDistinct("group").alias("groups"))
        .collect()
    ):
        counts[row["source"]][row["outcome"]] = row["count"]
        if row["outcome"] in ("train", "held_out"):
            sides[row["source"]][row["outcome"]] = {"documents": row["count"], "groups": row["groups"]}
    empty = [name for name in labels if counts[name]["train"] == 0]
    if empty:
        docs.unpersist()
        raise BadInput(
            f"no usable training documents in: {', '.join(empty)} "
            f"(outcomes: {', '.join(f'{n}={dict(counts[n])}' for n in empty)})"
        )
    weights = class_weights({name: counts[name]["train"] for name in labels}, labels)
    weight_expr = F.create_map(*[F.lit(x) for name, w in weights.items() for x in (name, w)])[F.col("source")]
    train = docs.where("outcome = 'train'").withColumn("weight", weight_expr)
    started = time.perf_counter()
    model = build_pipeline(num_features, reg_param, max_iter).fit(train)
    fit_seconds = time.perf_counter() - started
    model.write().overwrite().save(model_dir)

    held_out = (
        model.transform(docs.where("outcome = 'held_out'").withColumn("weight", weight_expr))
        .select("source", "group", "label", "weight", score_column().alias("score"))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    training_groups = docs.where("outcome = 'train'").select("group").distinct()
    metrics = {
        "model": published_path(model_dir),
        "params": {
            "num_features": num_features,
            "reg_param": reg_param,
            "max_iter": max_iter,
            "holdout_fraction": holdout,
            "holdout_by": holdout_by,
            "seed": seed,
        },
        "positives": [s.name for s in positives],
        "negatives": [s.name for s in negatives],
        "fit_seconds": round(fit_seconds, 1),
        "holdout": {
            "by": holdout_by,
            "min_site_groups": min_site_groups(holdout),
            "units": units,
            "groups_before_split": group_counts,
            "sides": sides,
        },
        "held_out": evaluate(held_out, BinaryClassificationEvaluator),
        "held_out_pairs": pair_metrics(held_out, positives, negatives, BinaryClassificationEvaluator),
        "held_out_unseen_sites": unseen_site_metrics(
            held_out, training_groups, negatives, BinaryClassificationEvaluator
        ),
        "sources": source_metrics(held_out, counts, labels, weights),
    }
    docs.unpersist()
    held_out.unpersist()
    write_json(spark, f"{model_dir}/metrics.json", metrics)
    return metrics


def areas(scored, evaluator_class, weight_col: str | None = None) -> dict:
    """ROC AUC and PR AUC of a (label, score) frame (weighted by `weight_col` if given), with its class counts."""
    from pyspark.sql import functions as F

    row = scored.agg(F.count("*").alias("documents"), F.sum("label").alias("positives")).first()
    positives = int(row["positives"] or 0)
    result = {"positives": positives, "negatives": row["documents"] - positives}
    if result["positives"] and result["negatives"]:
        for name, metric in (("roc_auc", "areaUnderROC"), ("pr_auc", "areaUnderPR")):
            evaluator = evaluator_class(rawPredictionCol="score", labelCol="label", metricName=metric)
            result[name] = round((evaluator.setWeightCol(weight_col) if weight_col else evaluator).evaluate(scored), 4)
    return result


def pair_metrics(held_out, positives, negatives, evaluator_class) -> dict:
    """{positive source: {negative source: areas}}: which kinds of text the classifier tells apart."""
    from pyspark.sql import functions as F

    return {
        p.name: {
            n.name: areas(held_out.where(F.col("source").isin(p.name, n.name)), evaluator_class) for n in negatives
        }
        for p in positives
    }


def unseen_site_metrics(held_out, training_groups, negatives, evaluator_class) -> dict:
    """Every held-out positive against the held-out negatives whose group (site, else file) no training
    document shares, all together and per negative source: what the filter meets on a new crawl."""
    from pyspark.sql import functions as F

    negative = held_out.where("label = 0")
    unseen = negative.join(training_groups, "group", "left_anti").select(*held_out.columns)
    positive = held_out.where("label = 1")
    counted = {
        row["source"]: (row["documents"], row["groups"])
        for row in unseen.groupBy("source")
        .agg(F.count("*").alias("documents"), F.countDistinct("group").alias("groups"))
        .collect()
    }
    overall = areas(positive.unionByName(unseen), evaluator_class)
    result = {
        "all": overall
        | {
            "negative_groups": sum(g for _, g in counted.values()),
            "negatives_from_seen_groups": negative.count() - overall["negatives"],
        }
    }
    for spec in negatives:
        documents, groups = counted.get(spec.name, (0, 0))
        result[spec.name] = (
            areas(positive.unionByName(unseen.where(F.col("source") == spec.name)), evaluator_class)
            if documents
            else {"negatives": 0}
        ) | {"negative_groups": groups}
    return result


def evaluate(held_out, evaluator_class) -> dict:
    from pyspark.sql import functions as F

    correct = ((F.col("score") >= 0.5).cast("double") == F.col("label")).cast("double")
    row = held_out.agg(
        F.count("*").alias("documents"),
        F.avg(correct).alias("accuracy"),
        F.sum(F.col("weight") * correct).alias("weighted_correct"),
        F.sum("weight").alias("weight"),
    ).first()
    result = {"documents": row["documents"]} | areas(held_out, evaluator_class)
    balanced = areas(held_out, evaluator_class, weight_col="weight")  # the classes weigh the same
    result |= {f"{name}_balanced": balanced[name] for name in ("roc_auc", "pr_auc") if name in balanced}
    if row["documents"]:
        result["accuracy_at_0.5"] = round(row["accuracy"], 4)
        result["balanced_accuracy_at_0.5"] = round(row["weighted_correct"] / row["weight"], 4)
    return result


def source_metrics(held_out, counts, labels, weights) -> dict:
    from pyspark.sql import functions as F

    quantiles = {
        row["source"]: row
        for row in held_out.groupBy("source")
        .agg(
            F.percentile_approx("score", list(REPORTED_QUANTILES), 10000).alias("reported"),
            F.percentile_approx("score", SCORE_GRID, 10000).alias("grid"),
            F.avg("score").alias("mean"),
        )
        .collect()
    }
    histograms = histogram_rows(held_out.groupBy("source", score_bin("score").alias("bin")).count().collect(), "source")
    result = {}
    for name, label in labels.items():
        row = quantiles.get(name)
        result[name] = {
            "label": label,
            "documents": sum(counts[name].values()),
            "outcomes": dict(sorted(counts[name].items())),
            "weight": round(weights[name], 6),
            "mean_score": round(row["mean"], 4) if row else None,
            "score_quantiles": {str(q): round(v, 4) for q, v in zip(REPORTED_QUANTILES, row["reported"])}
            if row
            else {},
            "score_grid": [round(v, 6) for v in row["grid"]] if row else [],
            "histogram": histograms.get(name, [0] * HISTOGRAM_BINS),
        }
    return result


# --- model directory checks (before Spark) ------------------------------------------------------


def check_model_dir(model_dir: str) -> dict:
    """metrics.json of a saved pipeline; ConfigError when `model_dir` is not a saved PipelineModel."""
    metadata = Path(model_dir) / "metadata"
    parts = sorted(metadata.glob("part-*")) if metadata.is_dir() else []
    if not parts:
        raise ConfigError(
            f"not a saved pipeline model (no metadata/ in {model_dir}): train one with jobs/train_classifier.py"
        )
    try:
        saved_class = json.loads(parts[0].read_text().splitlines()[0])["class"]
    except (ValueError, KeyError, IndexError):
        raise ConfigError(f"unreadable pipeline metadata in {model_dir}") from None
    if saved_class != PIPELINE_CLASS:
        raise ConfigError(f"{model_dir} holds a {saved_class}, not a {PIPELINE_CLASS}")
    metrics_path = Path(model_dir) / "metrics.json"
    return json.loads(metrics_path.read_text()) if metrics_path.exists() else {}


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
        f"filter: alpha {alpha} ({alpha_rule['rule']}): expected keep rate {expected_keep_rate:.4f} "
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
    if "://" in path and not path.startswith("file:"):
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
    fig.savefig(path.removeprefix("file:"), dpi=100)
    plt.close(fig)


# --- jobs ----------------------------------------------------------------------------------------


class TrainClassifierJob(SparkJob):
    """`spark-submit jobs/train_classifier.py --positive NAME=PATH ... --negative PATH --model DIR`."""

    name = "train_classifier"
    description = "Reference corpora (positives) vs crawl (negatives) -> a saved PipelineModel + metrics.json."

    def add_arguments(self, parser):
        parser.add_argument(
            "--positive",
            action="append",
            required=True,
            metavar="NAME=PATH[,key=value]",
            help="a reference corpus (repeatable); keys: format, text_field, id_field, strip_gutenberg",
        )
        parser.add_argument(
            "--negative",
            action="append",
            required=True,
            metavar="[NAME=]PATH[,key=value]",
            help="crawl documents (repeatable), e.g. RUN/extract/documents",
        )
        parser.add_argument("--model", required=True, help="directory for the PipelineModel and metrics.json")
        parser.add_argument("--num-features", type=int, default=1 << 18)
        parser.add_argument("--reg-param", type=float, default=0.01)
        parser.add_argument("--max-iter", type=int, default=100)
        parser.add_argument("--holdout", type=float, default=0.1, help="held-out fraction (of sites or documents)")
        parser.add_argument(
            "--holdout-by",
            choices=HOLDOUT_UNITS,
            default="site",
            help="keep each site (registered domain of the URL, else the source file) on one side "
            "of the held-out split, or split by document",
        )
        parser.add_argument("--seed", type=int, default=0)

    def check_options(self, args):
        if args.num_features < 2:
            raise ConfigError("--num-features must be at least 2")
        if not 0.0 < args.holdout < 0.9:
            raise ConfigError("--holdout must be between 0 and 0.9")
        if args.reg_param < 0 or args.max_iter < 1:
            raise ConfigError("--reg-param must be >= 0 and --max-iter >= 1")
        args.positive_specs = [parse_corpus_spec(s) for s in args.positive]
        args.negative_specs = [parse_corpus_spec(s) for s in args.negative]
        names = [s.name for s in args.positive_specs + args.negative_specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"corpus names must be distinct (repeated: {', '.join(duplicates)}); use NAME=PATH")

    def validate(self, args):
        for spec in args.positive_specs + args.negative_specs:
            check_input(spec)
        if os.path.isdir(args.model) and os.listdir(args.model) and not args.overwrite:
            raise ConfigError(f"model directory is not empty: {args.model} (pass --overwrite to replace it)")
        check_writable(args.model)

    def run(self, spark, args):
        try:
            metrics = train_classifier(
                spark,
                args.positive_specs,
                args.negative_specs,
                args.model,
                num_features=args.num_features,
                reg_param=args.reg_param,
                max_iter=args.max_iter,
                holdout=args.holdout,
                holdout_by=args.holdout_by,
                seed=args.seed,
            )
        except BadInput as err:
            print(f"{self.name}: bad input: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        held = metrics["held_out"]
        print(
            f"{self.name}: model {published_path(args.model)}: "
            f"held-out ROC AUC {held.get('roc_auc')}, PR AUC {held.get('pr_auc')}, "
            f"accuracy@0.5 {held.get('accuracy_at_0.5')} over {held['documents']} documents"
        )
        for name, source in metrics["sources"].items():
            print(
                f"{self.name}:   {name:<12} label {source['label']} outcomes {source['outcomes']} "
                f"split by {metrics['holdout']['units'][name]}, median score {source['score_quantiles'].get('0.5')}"
            )
        for positive, pairs in metrics["held_out_pairs"].items():
            print(
                f"{self.name}:   ROC AUC {positive} vs "
                + ", ".join(f"{negative} {pair.get('roc_auc')}" for negative, pair in pairs.items())
            )
        unseen = metrics["held_out_unseen_sites"]["all"]
        print(
            f"{self.name}:   ROC AUC vs negatives from sites unseen in training: {unseen.get('roc_auc')} "
            f"({unseen['negatives']} documents, {unseen['negative_groups']} sites or files)"
        )
        return 0


class FilterJob(SparkJob):
    """`spark-submit jobs/filter.py --model DIR --input DOCS --output DIR --alpha 9 --seed S`."""

    name = "filter"
    description = "Score documents with the quality classifier and keep them by GPT-3's Pareto rule."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="a PipelineModel saved by jobs/train_classifier.py")
        parser.add_argument("--input", required=True, help="documents: Parquet with doc_id and text (or a corpus)")
        parser.add_argument("--output", required=True, help="output directory: kept/, rejects/, summary.json, report.*")
        parser.add_argument("--alpha", default="9", help="Pareto shape (GPT-3: 9), or 'auto' (see --alpha-rule)")
        parser.add_argument(
            "--alpha-rule",
            choices=ALPHA_RULES,
            default="match_reference_mean",
            help="--alpha auto: reference_keep: the reference corpus's expected keep rate is "
            "--reference-keep; match_reference_mean: kept documents' mean score = the "
            "reference corpus's mean score",
        )
        parser.add_argument(
            "--reference-source",
            default="webtext",
            help="--alpha auto: the positive source whose held-out scores calibrate alpha",
        )
        parser.add_argument(
            "--reference-keep",
            type=float,
            default=0.9,
            help="--alpha auto with reference_keep: the reference documents' expected keep rate",
        )
        parser.add_argument("--seed", type=int, default=0)

    def check_options(self, args):
        if args.alpha == "auto":
            if not 0.0 < args.reference_keep < 1.0:
                raise ConfigError(f"--reference-keep must be between 0 and 1 (got {args.reference_keep})")
            return
        try:
            args.alpha_value = float(args.alpha)
        except ValueError:
            raise ConfigError(f"--alpha must be a positive number or 'auto' (got {args.alpha!r})") from None
        if not args.alpha_value > 0 or math.isinf(args.alpha_value):
            raise ConfigError(f"--alpha must be a positive number or 'auto' (got {args.alpha!r})")

    def validate(self, args):
        metrics = check_model_dir(args.model)
        check_input(parse_corpus_spec(args.input))
        if args.alpha == "auto":  # calibrated on the model's held-out scores
            grid = tuple(reference_grid(metrics, args.reference_source))
            args.alpha_value = AutoAlpha(args.alpha_rule, args.reference_source, grid, args.reference_keep)

    def run(self, spark, args):
        documents = documents_to_filter(spark, args.input)
        summary = filter_documents(spark, args.model, documents, args.output, alpha=args.alpha_value, seed=args.seed)
        print(
            f"{self.name}: {summary['documents_in']} documents -> kept {summary['kept']} "
            f"({summary['keep_rate']:.1%}, expected {summary['expected_keep_rate']:.1%}), rejected "
            f"{summary['rejected_by_reason']}; outputs under {published_path(args.output)}"
        )
        if not summary["conserved"]:
            print(f"{self.name}: error: counts do not add up (documents_in != kept + rejected)", file=sys.stderr)
            return 1
        nothing_kept = nothing_kept_error(summary)
        if nothing_kept:  # an empty kept/ fails the run at the mixture minutes later: stop here, say why
            print(f"{self.name}: error: {nothing_kept}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return 0
