"""Quality classifier and Pareto resampling: the keep-rate math, alpha calibration, training, deterministic
filtering whatever the partitioning, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curation.classifier import (
    ClassifierJob,
    check_model_dir,
    class_weights,
    hash_uniform,
    holdout_units,
    min_site_groups,
    score_column,
    train_classifier,
)
from curation.classify import (
    ALPHA_MAX,
    AutoAlpha,
    ClassifyJob,
    calibrate_alpha,
    calibrate_alpha_to_mean,
    expected_keep_rate,
    filter_documents,
    hashing_tf_margins,
    keep_probability,
    kept_mean_score,
    lomax_draw,
    nothing_kept_error,
    pareto_draw_column,
    score_documents,
)
from curation.corpora import parse_corpus_spec
from curation.errors import ConfigError
from curation.extract import extract_to_parquet
from curation.features import murmur3_strings, murmur3_x86_32, spark_tokens
from curation.urls import registered_domain
from curation.warc_records import ExtractOptions

# --- the Pareto rule -----------------------------------------------------------------------------------


def test_keep_probability_matches_gpt3_numbers():
    assert keep_probability(1.0, 9) == pytest.approx(1.0)
    assert keep_probability(0.9, 9) == pytest.approx(0.424, abs=1e-3)
    assert keep_probability(0.5, 9) == pytest.approx(0.026, abs=1e-3)


@pytest.mark.parametrize("score", [0.2, 0.5, 0.9, 0.99])
def test_lomax_inversion_and_numpy_pareto_keep_at_the_formula_rate(score):
    u = (np.arange(200_000) + 0.5) / 200_000  # an exact uniform grid: the rate is the formula's to 1e-5
    assert np.mean(lomax_draw(u, 9) > 1 - score) == pytest.approx(keep_probability(score, 9), abs=1e-4)
    draws = np.random.default_rng(0).pareto(9, 200_000)  # what GPT-3's np.random.pareto(alpha) samples
    assert np.mean(draws > 1 - score) == pytest.approx(keep_probability(score, 9), abs=0.005)


def test_calibrate_alpha_hits_the_reference_keep_rate_and_clips():
    alpha = calibrate_alpha([0.99] * 10, 0.9)
    assert alpha == pytest.approx(np.log(0.9) / -np.log(1.01), rel=1e-3)  # ~10.6: GPT-3's regime
    spread = np.linspace(0.5, 1.0, 100)
    assert expected_keep_rate(spread, calibrate_alpha(spread, 0.5)) == pytest.approx(0.5, abs=1e-3)
    assert calibrate_alpha([1.0] * 5, 0.9) == ALPHA_MAX  # keep rate 1 for every alpha: clipped, not looping
    with pytest.raises(ConfigError):
        calibrate_alpha(spread, 1.5)


def test_calibrate_alpha_to_mean_matches_the_kept_mean():
    crawl = np.linspace(0.0, 1.0, 101)
    alphas = [1, 3, 9, 27]
    means = [kept_mean_score(crawl, a) for a in alphas]
    assert means == sorted(means)  # tilting towards high scores: monotone in alpha
    alpha = calibrate_alpha_to_mean(crawl, 0.8)
    assert kept_mean_score(crawl, alpha) == pytest.approx(0.8, abs=1e-3)
    assert calibrate_alpha_to_mean(crawl, 0.9999) == ALPHA_MAX
    choice, details = AutoAlpha("match_reference_mean", "webtext", (0.7, 0.8, 0.9)).choose(crawl)
    assert details["reference_mean_score"] == pytest.approx(0.8) and details["input_kept_mean_score"] == 0.8


def test_class_weights_balance_classes_and_sources():
    counts = {"webtext": 100, "wikipedia": 900, "books": 10, "crawl": 4000}
    labels = {"webtext": 1, "wikipedia": 1, "books": 1, "crawl": 0}
    weights = class_weights(counts, labels)
    mass = {name: weights[name] * counts[name] for name in counts}
    assert mass["webtext"] == pytest.approx(mass["wikipedia"]) == pytest.approx(mass["books"])
    assert mass["crawl"] == pytest.approx(mass["webtext"] + mass["wikipedia"] + mass["books"])
    assert sum(mass.values()) / sum(counts.values()) == pytest.approx(1.0)


def test_registered_domain_groups_a_site_by_the_public_suffix_list():
    assert registered_domain("http://news.bbc.co.uk/1/hi/world.stm") == "bbc.co.uk"
    assert registered_domain("https://www.bbc.co.uk/") == "bbc.co.uk"
    assert registered_domain("http://data.gov.uk/dataset/x") == "data.gov.uk"  # gov.uk is a public suffix
    assert registered_domain("https://A.B.Example.COM.au./x?y") == "example.com.au"
    assert registered_domain("http://someone.blogspot.com/p") == "someone.blogspot.com"  # a private suffix
    assert registered_domain("http://192.168.0.1:8080/x") == "192.168.0.1"
    assert registered_domain("http://localhost/x") == "localhost"
    assert registered_domain(None) is None and registered_domain("") is None
    assert registered_domain("not a url") is None and registered_domain("http://[::1/x") is None


def test_holdout_units_split_by_site_only_sources_with_enough_groups():
    assert min_site_groups(0.1) == 20 and min_site_groups(0.25) == 8
    counts = {"crawl": 40, "wikipedia": 1, "webtext": 1, "small_crawl": 7}
    assert holdout_units(counts, 0.25, "site") == {
        "crawl": "site",
        "wikipedia": "document",
        "webtext": "document",
        "small_crawl": "document",
    }
    assert set(holdout_units(counts, 0.25, "document").values()) == {"document"}
    with pytest.raises(ConfigError, match="--holdout-by"):
        holdout_units(counts, 0.25, "page")


def test_nothing_kept_says_what_it_expected_and_which_alpha_keeps_some():
    summary = {
        "documents_in": 82,
        "kept": 0,
        "expected_keep_rate": 0.0021,
        "alpha": 9.0,
        "median_score": 0.112,
        "alpha_for_keep_rate": {"0.1": 3.52, "0.3": 1.81},
        "rejected_by_reason": {"pareto_draw": 82},
    }
    line = nothing_kept_error(summary)
    assert line.startswith("kept 0 of 82 documents: expected keep rate 0.21% at alpha 9 (median score 0.112)")
    assert "alpha = 'auto' with alpha_rule = 'reference_keep'" in line and "alpha 3.52 keeps ~10%" in line
    assert "\n" not in line
    assert nothing_kept_error(summary | {"kept": 1}) is None
    assert nothing_kept_error(summary | {"documents_in": 0}) is None
    blank = summary | {"median_score": None, "alpha_for_keep_rate": {}, "rejected_by_reason": {"no_tokens": 82}}
    assert "none has a score" in nothing_kept_error(blank)


def test_native_hash_draw_keeps_at_the_formula_rate_and_is_partitioning_free(spark):
    from pyspark.sql import functions as F

    docs = spark.range(20_000).select(
        F.concat(F.lit("doc-"), F.col("id").cast("string")).alias("doc_id"),
        (F.col("id") % 4 * 0.25 + 0.1).alias("score"),
    )  # 0.1, 0.35, 0.6, 0.85
    decided = docs.withColumn("keep", pareto_draw_column(3, 9.0) > 1 - F.col("score")).withColumn(
        "u", hash_uniform(3, F.col("doc_id"))
    )
    rows = (
        decided.groupBy("score")
        .agg(
            F.avg(F.col("keep").cast("double")).alias("rate"),
            F.count("*").alias("n"),
            F.avg("u").alias("mean_u"),
            F.min("u"),
            F.max("u"),
        )
        .collect()
    )
    for row in rows:
        p = float(keep_probability(row["score"], 9))
        assert row["rate"] == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / row["n"]) + 1e-3)
        assert row["mean_u"] == pytest.approx(0.5, abs=0.02) and 0 < row["min(u)"] and row["max(u)"] < 1
    one = {r.doc_id for r in decided.repartition(1).where("keep").select("doc_id").collect()}
    seven = {r.doc_id for r in decided.repartition(7, "doc_id").where("keep").select("doc_id").collect()}
    assert one == seven
    other_seed = docs.withColumn("keep", pareto_draw_column(4, 9.0) > 1 - F.col("score")).where("keep")
    assert {r.doc_id for r in other_seed.select("doc_id").collect()} != one


# --- training and filtering on the sample ----------------------------------------------------------------


@pytest.fixture(scope="module")
def crawl_documents(spark, sample_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("extract")
    warcs = [str(p) for p in sorted((sample_dir / "crawl").glob("*.warc.gz"))]
    extract_to_parquet(spark, warcs, str(out), ExtractOptions(extractor="resiliparse"))
    return out / "documents"


@pytest.fixture(scope="module")
def trained(spark, sample_dir, crawl_documents, tmp_path_factory):
    reference = sample_dir / "reference"
    positives = [
        parse_corpus_spec(f"webtext={reference / 'webtext.jsonl.gz'}"),
        parse_corpus_spec(f"wikipedia={reference / 'wikipedia.jsonl.gz'}"),
        parse_corpus_spec(f"books={reference / 'books.jsonl.gz'},strip_gutenberg=true"),
    ]
    negatives = [parse_corpus_spec(f"crawl={crawl_documents}")]
    model_dir = tmp_path_factory.mktemp("model") / "classifier"
    metrics = train_classifier(
        spark, positives, negatives, str(model_dir), num_features=1 << 14, max_iter=10, holdout=0.25, seed=1
    )
    return model_dir, metrics


def test_training_saves_a_pipeline_and_metrics(spark, trained):
    from pyspark.ml import PipelineModel

    model_dir, metrics = trained
    model = PipelineModel.load(str(model_dir))
    assert [type(s).__name__ for s in model.stages] == ["Tokenizer", "HashingTF", "LogisticRegressionModel"]
    assert model.stages[1].getNumFeatures() == 1 << 14
    tokens = spark_tokens("Hello  Héllo\t日本語 x\n")  # the bench's loop baseline reproduces Tokenizer + HashingTF
    assert tokens == ["hello", "", "héllo", "日本語", "x"]
    hashed = model.stages[1].transform(spark.createDataFrame([(tokens,)], "tokens array<string>")).first().features
    assert sorted(hashed.indices.tolist()) == sorted({murmur3_x86_32(t.encode()) % (1 << 14) for t in tokens})
    on_disk = json.loads((model_dir / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    held = on_disk["held_out"]
    assert {"roc_auc", "pr_auc", "accuracy_at_0.5", "documents", "positives", "negatives"} <= set(held)
    assert held["positives"] > 0 and held["negatives"] > 0 and held["roc_auc"] > 0.8
    for name in ("webtext", "wikipedia", "books", "crawl"):
        source = on_disk["sources"][name]
        assert source["documents"] == sum(source["outcomes"].values()) and source["outcomes"]["train"] > 0
    webtext = on_disk["sources"]["webtext"]
    assert len(webtext["score_grid"]) == 100 and {"0.01", "0.5", "0.99"} <= set(webtext["score_quantiles"])
    assert webtext["mean_score"] > on_disk["sources"]["crawl"]["mean_score"]
    check_model_dir(str(model_dir))  # a saved pipeline passes the pre-Spark check


def test_held_out_split_keeps_each_site_on_one_side_and_reports_unseen_sites(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "casino", "lottery", "cheap", "pills", "river", "history"]
    reference = tmp_path / "reference.jsonl"
    texts = [" ".join(rng.choice(words[:4] + words[8:], 30)) for _ in range(120)]
    reference.write_text("".join(json.dumps({"id": f"r{i}", "text": text}) + "\n" for i, text in enumerate(texts)))
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    urls = [f"http://{sub}.site{i}.co.uk/page{j}" for i in range(40) for j, sub in enumerate(("www", "news", "m"))]
    urls += [None] * 6  # no URL: grouped by their file
    pq.write_table(
        pa.table(
            {
                "doc_id": [f"c{i}" for i in range(len(urls))],
                "url": urls,
                "text": [" ".join(rng.choice(words[2:8], 30)) for _ in urls],
            }
        ),
        crawl / "pages.parquet",
    )
    positives, negatives = [parse_corpus_spec(f"ref={reference}")], [parse_corpus_spec(f"crawl={crawl}")]
    runs = {}
    for mode in ("site", "document"):
        runs[mode] = train_classifier(
            spark,
            positives,
            negatives,
            str(tmp_path / mode),
            num_features=1 << 10,
            max_iter=5,
            holdout=0.25,
            holdout_by=mode,
            seed=3,
        )
    site = runs["site"]["holdout"]
    assert site["units"] == {"ref": "document", "crawl": "site"}  # one file of references: split by document
    assert site["groups_before_split"]["crawl"] == 41  # 40 registered domains + the file of pages without URL
    sides = site["sides"]["crawl"]
    assert sides["train"]["groups"] + sides["held_out"]["groups"] == 41  # no site on both sides
    assert sides["held_out"]["documents"] % 3 == 0  # whole sites of 3 pages (and the file of 6)
    unseen = runs["site"]["held_out_unseen_sites"]
    assert unseen["all"]["negatives_from_seen_groups"] == 0
    assert unseen["crawl"]["negatives"] == sides["held_out"]["documents"] and "roc_auc" in unseen["crawl"]
    assert set(runs["site"]["held_out_pairs"]["ref"]["crawl"]) >= {"roc_auc", "pr_auc", "positives", "negatives"}
    document = runs["document"]
    assert document["holdout"]["units"] == {"ref": "document", "crawl": "document"}
    assert document["held_out_unseen_sites"]["all"]["negatives_from_seen_groups"] > 0  # sites straddle the split


def test_murmur3_of_a_whole_array_equals_the_per_string_hash():
    import pyarrow as pa

    rng = np.random.default_rng(3)
    alphabet = list("ab é λ中\t") + ["\U0001f600"]
    words = ["", "a", "ab", "abc", "abcd", "abcde", "i\u0307smet", "x" * 1001] + [
        "".join(rng.choice(alphabet, rng.integers(0, 40))) for _ in range(2000)
    ]
    expected = np.array([murmur3_x86_32(w.encode("utf-8")) for w in words], np.int32)
    assert (murmur3_strings(pa.array(words)) == expected).all()
    assert (murmur3_strings(pa.array(words).slice(5, 300)) == expected[5:305]).all()  # offset arrays


TRICKY_TEXTS = [
    "Hello  Héllo\t日本語 x\n",
    "  leading and trailing  \r\n\t",
    "İSMET ΟΔΟΣ Straße\x0bform\ffeed",
    "one",
    "a\u00a0b\u2003c",
    "tabs\t\t\tand\n\n\nnewlines",
    "x " * 3000,
]


def test_vectorized_scores_equal_the_pipeline_model(spark, trained, crawl_documents):
    from pyspark.ml import PipelineModel
    from pyspark.sql import functions as F

    model = PipelineModel.load(str(trained[0]))
    docs = (
        spark.read.parquet(str(crawl_documents))
        .select("doc_id", "text")
        .unionByName(
            spark.createDataFrame(
                [(f"tricky-{i}", t) for i, t in enumerate(TRICKY_TEXTS)], "doc_id string, text string"
            )
        )
    )
    fast = score_documents(model, docs).select("doc_id", "quality_score")
    spark_ml = model.transform(docs).select("doc_id", score_column().alias("spark_ml"))
    worst = (
        fast.join(spark_ml, "doc_id")
        .agg(F.max(F.abs(F.col("quality_score") - F.col("spark_ml"))), F.count("*"))
        .first()
    )
    assert worst[1] == docs.count() and worst[0] < 1e-12
    regression = model.stages[-1]
    margins = hashing_tf_margins(TRICKY_TEXTS, regression.coefficients.toArray(), regression.intercept)
    expected = [
        regression.intercept
        + sum(regression.coefficients[murmur3_x86_32(t.encode()) % (1 << 14)] for t in spark_tokens(text))
        for text in TRICKY_TEXTS
    ]
    assert margins == pytest.approx(expected, abs=1e-12)


def test_filter_is_deterministic_conserving_and_reports(spark, trained, crawl_documents, tmp_path):
    from pyspark.sql import functions as F

    model_dir, _ = trained
    docs = spark.read.parquet(str(crawl_documents))
    blanks = spark.createDataFrame([("blank-1", "   \n "), ("blank-2", None)], "doc_id string, text string")
    docs = docs.unionByName(blanks, allowMissingColumns=True)
    runs = {}
    for name, frame in (("one", docs.repartition(1)), ("seven", docs.repartition(7)), ("again", docs)):
        summary = filter_documents(
            spark, str(model_dir), frame, str(tmp_path / name), alpha=3.0, seed=11, log=lambda _: None
        )
        kept = spark.read.parquet(str(tmp_path / name / "kept"))
        runs[name] = (summary, {r.doc_id for r in kept.select("doc_id").collect()})
    summary, kept_ids = runs["one"]
    assert runs["seven"][1] == kept_ids == runs["again"][1] and 0 < len(kept_ids) < summary["documents_in"]
    assert summary["conserved"] and summary["documents_in"] == docs.count()
    assert summary["kept"] + summary["rejected"] == summary["documents_in"]
    assert summary["rejected_by_reason"]["no_tokens"] == 2
    rejects = spark.read.parquet(str(tmp_path / "one" / "rejects"))
    assert set(rejects.columns) == set(docs.columns) | {"quality_score", "reason"}
    assert rejects.where("reason = 'pareto_draw' AND quality_score IS NULL").count() == 0
    kept = spark.read.parquet(str(tmp_path / "one" / "kept"))
    assert kept.where(F.col("quality_score").isNull()).count() == 0
    report = json.loads((tmp_path / "one" / "report.json").read_text())
    assert report["alpha"] == 3.0 and sum(report["input_histogram"]) == summary["documents_in"] - 2
    assert report["keep_curve"]["keep_probability"][-1] == pytest.approx(1.0)
    assert (tmp_path / "one" / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_filter_job_alpha_auto_end_to_end(spark, trained, crawl_documents, tmp_path):
    model_dir, metrics = trained
    out = tmp_path / "auto"
    status = ClassifyJob().main(
        [
            "--model",
            str(model_dir),
            "--input",
            str(crawl_documents),
            "--output",
            str(out),
            "--alpha",
            "auto",
            "--seed",
            "5",
        ]
    )
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    rule = summary["alpha_rule"]
    assert rule["rule"] == "match_reference_mean" and rule["reference_source"] == "webtext"
    assert rule["reference_mean_score"] == pytest.approx(np.mean(metrics["sources"]["webtext"]["score_grid"]), abs=1e-4)
    if not rule["clipped"]:
        assert rule["input_kept_mean_score"] == pytest.approx(rule["reference_mean_score"], abs=2e-3)
    assert 0 < summary["expected_keep_rate"] < 1 and summary["conserved"]
    grid = metrics["sources"]["webtext"]["score_grid"]
    alpha, details = AutoAlpha("reference_keep", "webtext", tuple(grid), 0.8).choose([0.1, 0.5])
    assert alpha == calibrate_alpha(grid, 0.8) and details["reference_expected_keep"] == pytest.approx(0.8, abs=1e-3)


def test_an_outcome_without_documents_is_still_a_readable_dataset(spark, trained, tmp_path):
    blanks = spark.createDataFrame([("blank-1", "  "), ("blank-2", None)], "doc_id string, text string")
    summary = filter_documents(
        spark, str(trained[0]), blanks, str(tmp_path / "out"), alpha=9.0, seed=0, log=lambda _: None
    )
    assert summary["kept"] == 0 and summary["rejected_by_reason"]["no_tokens"] == 2 and summary["conserved"]
    kept = spark.read.parquet(str(tmp_path / "out" / "kept"))
    assert kept.count() == 0 and set(kept.columns) == {"doc_id", "text", "quality_score"}
    rejects = spark.read.parquet(str(tmp_path / "out" / "rejects"))
    assert sorted(r.reason for r in rejects.collect()) == ["no_tokens", "no_tokens"]


def test_filter_job_that_keeps_nothing_fails_with_one_line(spark, trained, crawl_documents, tmp_path, capsys):
    model_dir, _ = trained
    low = spark.read.parquet(str(crawl_documents)).select("doc_id", "text").limit(5)
    low.write.parquet(str(tmp_path / "input"))
    out = tmp_path / "out"
    status = ClassifyJob().main(
        [
            "--model",
            str(model_dir),
            "--input",
            str(tmp_path / "input"),
            "--output",
            str(out),
            "--alpha",
            "100",
            "--seed",
            "0",
        ]
    )
    assert status == 3 and not out.exists()  # not published: the next stage cannot read an empty kept/
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("classify: error:")]
    assert len(errors) == 1 and "kept 0 of 5 documents: expected keep rate" in errors[0]
    assert "at alpha 100 " in errors[0] and "alpha = 'auto'" in errors[0] and "keeps ~10%" in errors[0]


# --- bad input -----------------------------------------------------------------------------------------------


def test_bad_model_and_arguments_fail_before_spark(trained, crawl_documents, tmp_path, capsys):
    model_dir, _ = trained
    (tmp_path / "not_a_model").mkdir()
    with pytest.raises(ConfigError, match="not a saved pipeline"):
        check_model_dir(str(tmp_path / "not_a_model"))
    base = ["--input", str(crawl_documents), "--output", str(tmp_path / "out")]
    assert ClassifyJob().main(["--model", str(tmp_path / "not_a_model"), *base]) == 2
    assert ClassifyJob().main(["--model", str(model_dir), *base, "--alpha", "-1"]) == 2
    assert ClassifyJob().main(["--model", str(model_dir), *base, "--alpha", "auto", "--reference-source", "x"]) == 2
    assert (
        ClassifyJob().main(
            ["--model", str(model_dir), "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "out")]
        )
        == 2
    )
    train = ["--model", str(tmp_path / "m"), "--negative", f"crawl={crawl_documents}"]
    assert ClassifierJob().main(["--positive", f"w={tmp_path / 'missing.jsonl'}", *train]) == 2
    assert ClassifierJob().main(["--positive", f"crawl={crawl_documents}", *train]) == 2  # duplicate name
    errors = capsys.readouterr().err
    assert "not a saved pipeline" in errors and "corpus does not exist" in errors and "distinct" in errors


def test_a_class_without_usable_documents_is_bad_input(spark, crawl_documents, tmp_path, capsys):
    empty_texts = tmp_path / "blank.jsonl"
    empty_texts.write_text('{"id": "a", "text": "   "}\n{"id": "b", "text": ""}\n')
    status = ClassifierJob().main(
        ["--positive", f"blank={empty_texts}", "--negative", f"crawl={crawl_documents}", "--model", str(tmp_path / "m")]
    )
    assert status == 3
    assert "no usable training documents in: blank" in capsys.readouterr().err
