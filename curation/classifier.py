"""The quality classifier of GPT-3's filter: a logistic regression telling reference corpora from raw crawl.

`spark-submit jobs/classifier.py` (the pipeline's `classifier` stage): Spark ML `Tokenizer -> HashingTF ->
LogisticRegression`, reference corpora as positives (each source given equal total weight), crawl documents as
negatives (the two classes given equal total weight), and `metrics.json` beside the saved `PipelineModel`. The
held-out split is by SITE (`--holdout-by site`, the default): a hash of (seed, group), the group being the
registered domain of the document's URL, else its source file. Split by document, pages of one site or WARC file
sit on both sides and the classifier is scored on the boilerplate and spam templates it trained on (held-out ROC
AUC 0.991 on real pages that, held out by file, fall to 0.68-0.80). The filter scores crawl from sites it never
saw, so metrics.json reports ROC/PR AUC overall, per positive source against each negative source, and for
held-out negatives whose site no training document came from. A source with too few groups to split (a
reference corpus that is one site or one file: Wikipedia, a JSONL file of WebText) is split by document,
and metrics.json says so.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from curation.corpora import CORPUS_SCHEMA, CorpusSpec, parse_corpus_spec, read_documents, read_spec
from curation.errors import EXIT_BAD_INPUT, BadInput, ConfigError
from curation.job import SparkJob, check_input, published_path, write_json
from curation.options import option
from curation.stage import Counts, Handoff, Stage
from curation.urls import registered_domain

SCORE_GRID = [(i + 0.5) / 100 for i in range(100)]  # mid-point quantiles: E[f(s)] ~ mean of f(q_i)
REPORTED_QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
HISTOGRAM_BINS = 20
UNIT_53 = float(2**53)
PIPELINE_CLASS = "org.apache.spark.ml.PipelineModel"
HOLDOUT_UNITS = ("site", "document")


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


# --- Spark expressions ----------------------------------------------------------------------


def no_tokens_condition(text_col: str = "text"):
    from pyspark.sql import functions as F

    return F.col(text_col).isNull() | F.col(text_col).rlike(r"^\s*$")


def hash_uniform(seed: int, *cols):
    """A uniform in (0, 1) from the top 53 bits of xxhash64(seed, cols...): same input, same number."""
    from pyspark.sql import functions as F

    bits = F.shiftrightunsigned(F.xxhash64(F.lit(int(seed)).cast("long"), *cols), 11)
    return (bits.cast("double") + 0.5) / UNIT_53


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
            f"not a saved pipeline model (no metadata/ in {model_dir}): train one with jobs/classifier.py"
        )
    try:
        saved_class = json.loads(parts[0].read_text().splitlines()[0])["class"]
    except (ValueError, KeyError, IndexError):
        raise ConfigError(f"unreadable pipeline metadata in {model_dir}") from None
    if saved_class != PIPELINE_CLASS:
        raise ConfigError(f"{model_dir} holds a {saved_class}, not a {PIPELINE_CLASS}")
    metrics_path = Path(model_dir) / "metrics.json"
    return json.loads(metrics_path.read_text()) if metrics_path.exists() else {}


# --- the job and its stage ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifierJobOptions:
    """The classifier job's options: its flags, and the [classifier] table of a pipeline config."""

    positive: tuple[CorpusSpec, ...] = field(
        default=(),
        metadata=option(
            "a reference corpus (repeatable); keys: format, text_field, id_field, strip_gutenberg",
            metavar="NAME=PATH[,key=value]",
            repeatable=True,
            parse=parse_corpus_spec,
            required=True,
        ),
    )
    negative: tuple[CorpusSpec, ...] = field(
        default=(),
        metadata=option(
            "crawl documents (repeatable), e.g. RUN/extract/documents",
            metavar="[NAME=]PATH[,key=value]",
            repeatable=True,
            parse=parse_corpus_spec,
            required=True,
        ),
    )
    model: str = field(default="", metadata=option("directory for the PipelineModel and metrics.json", required=True))
    num_features: int = 1 << 18
    reg_param: float = 0.01
    max_iter: int = 100
    holdout: float = field(default=0.1, metadata=option("held-out fraction (of sites or documents)"))
    holdout_by: str = field(
        default="site",
        metadata=option(
            "keep each site (registered domain of the URL, else the source file) on one side "
            "of the held-out split, or split by document",
            choices=HOLDOUT_UNITS,
        ),
    )
    seed: int = 0

    def check(self) -> None:
        if self.num_features < 2:
            raise ConfigError("--num-features must be at least 2")
        if not 0.0 < self.holdout < 0.9:
            raise ConfigError("--holdout must be between 0 and 0.9")
        if self.reg_param < 0 or self.max_iter < 1:
            raise ConfigError("--reg-param must be >= 0 and --max-iter >= 1")
        names = [s.name for s in self.positive + self.negative]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"corpus names must be distinct (repeated: {', '.join(duplicates)}); use NAME=PATH")


class ClassifierJob(SparkJob):
    """`spark-submit jobs/classifier.py --positive NAME=PATH ... --negative PATH --model DIR`."""

    name = "classifier"
    description = "Reference corpora (positives) vs crawl (negatives) -> a saved PipelineModel + metrics.json."
    options_class = ClassifierJobOptions
    output_option = "model"

    def validate(self, options):
        for spec in options.positive + options.negative:
            check_input(spec)

    def run(self, spark, options):
        try:
            metrics = train_classifier(
                spark,
                list(options.positive),
                list(options.negative),
                options.model,
                num_features=options.num_features,
                reg_param=options.reg_param,
                max_iter=options.max_iter,
                holdout=options.holdout,
                holdout_by=options.holdout_by,
                seed=options.seed,
            )
        except BadInput as err:
            print(f"{self.name}: bad input: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        held = metrics["held_out"]
        print(
            f"{self.name}: model {published_path(options.model)}: "
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


class ClassifierStage(Stage):
    """Trained on the reference corpora against the crawl documents of the stage before it; passes nothing on
    (classify scores with its model). Its counts: the documents of each source it used (trained on or held out)
    and those it could not."""

    name = "classifier"
    job = ClassifierJob()
    upstream = ("extract", "rules")
    seeded = True
    set_by_pipeline = ("positive", "negative", "model")
    summary_file = "metrics.json"

    def wire(self, run, output):
        crawl = CorpusSpec("crawl", run.crawl(self.name))
        return {"positive": tuple(run.reference.values()), "negative": (crawl,), "model": output}

    def input_files(self, options, run):
        return run.reference_files()

    def counts(self, metrics):
        used = ("train", "held_out")
        return {
            name: Counts(
                source["documents"],
                sum(source["outcomes"].get(outcome, 0) for outcome in used),
                {outcome: n for outcome, n in source["outcomes"].items() if outcome not in used},
            )
            for name, source in metrics["sources"].items()
        }

    def reads(self, run, counts):
        return [Handoff(run.crawl_stage(self.name), "crawl", "out", "crawl")]
