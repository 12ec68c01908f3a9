"""Deduplication: features and MinHash (pure), connected components, survivor rule, cross-dataset
removal on the generated sample, hot-bucket guardrail, determinism across partitionings, bad input."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from curation.components import connected_components, driver_components
from curation.dedup import DedupJob, DedupOptions, deduplicate
from curation.errors import ConfigError
from curation.features import murmur3_x86_32
from curation.minhash import analyze, band_keys, document_features, exact_key, hash_family, jaccard, signatures

WORDS = (
    "river market signal castle forest engine harbor violin garden planet quartz ledger meadow "
    "canyon lantern orchard tunnel beacon glacier compass"
).split()


def prose(seed: int, words: int = 120) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + rng.choice(("", "s", "ing", "ed")) for _ in range(words))


def edited(text: str, seed: int, swaps: int) -> str:
    """`text` with `swaps` words replaced: a near duplicate with a known amount of change."""
    rng, words = random.Random(seed), text.split()
    for position in rng.sample(range(len(words)), swaps):
        words[position] = f"edit{rng.randrange(10**6)}"
    return " ".join(words)


DEFAULTS = DedupOptions()


def features(text, options=DEFAULTS):
    return document_features(text, options)


def signature_of(sets, options):
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sets])])
    return signatures(np.concatenate(sets), offsets, hash_family(options))


def test_shingle_features_are_case_and_punctuation_blind():
    a = features("The quick brown fox jumps over the lazy dog")
    assert len(a) == 5  # 9 words -> 5 distinct 5-grams
    assert np.array_equal(a, features("the QUICK, brown fox -- jumps over the lazy dog!"))
    assert jaccard(a, features("The quick brown fox jumps over the lazy cat")) == pytest.approx(4 / 6)
    assert len(features("too short")) == 1  # shorter than a shingle: one shingle, still comparable
    assert len(features("")) == 0 and len(features(" ?! ")) == 0 and len(features(None)) == 0
    assert jaccard(features(""), features("")) == 0.0
    assert exact_key("Hello   World\n") == exact_key("hello world") and exact_key("  \n") is None


TRICKY = [
    "Hello   World\n",
    "  hello world ",
    "\u00c9COLE  na\u00efve\u00a0caf\u00e9 \ufb01le",
    "\u3000full\u3000width\u3000",
    "",
    None,
    " \t ",
    "?!",
    "x",
    "snake_case words, 42 digits; \u65e5\u672c\u8a9e \u0395\u03bb\u03bb\u03ac\u03b4\u03b1 \u2014 \u2019quoted\u2019",
]


def test_batch_analysis_equals_one_text_at_a_time_and_the_plain_definitions():
    """A text's exact key and feature set do not depend on its batch, and they are what the definitions say:
    NFKC-folded, lower-cased, whitespace-collapsed text; `\\w+` words lower-cased; n-gram sets."""
    import re
    import unicodedata

    rng = random.Random(5)
    alphabet = "ab C\u00c9\u00e9\u65e5\u672c_-.,\n\t\u00a0\u2003\u2019\u201403"
    texts = TRICKY + ["".join(rng.choice(alphabet) for _ in range(rng.randrange(80))) for _ in range(60)]
    keys, values, offsets = analyze(texts, DedupOptions())
    normalized = [re.sub(r"\s+", " ", unicodedata.normalize("NFKC", t or "").lower()).strip() for t in texts]
    for i, text in enumerate(texts):
        assert keys[i] == exact_key(text) and (keys[i] is None) == (normalized[i] == "")
        assert np.array_equal(values[offsets[i] : offsets[i + 1]], features(text))
        words = re.findall(r"\w+", (text or "").lower())
        assert len(features(text, DedupOptions(ngram=1))) == len(set(words))
        grams = {tuple(words[j : j + 5]) for j in range(max(1, len(words) - 4))} if words else set()
        assert len(features(text)) == len(grams)
    same = [(a, b) for a in range(len(texts)) for b in range(len(texts)) if normalized[a] == normalized[b]]
    assert all(keys[a] == keys[b] for a, b in same)
    assert sum(keys[a] == keys[b] and keys[a] is not None for a in range(len(texts)) for b in range(len(texts))) == sum(
        normalized[a] == normalized[b] != "" for a, b in same
    )


def test_minhash_signature_agreement_estimates_jaccard_and_is_seeded():
    options = DedupOptions(num_hashes=400, bands=400)
    a, b = features(prose(1, 400), options), features(edited(prose(1, 400), 2, 30), options)
    sig = signature_of([a, b], options)
    assert abs((sig[0] == sig[1]).mean() - jaccard(a, b)) < 0.08
    assert np.array_equal(sig, signature_of([a, b], options))  # fixed seeds: same every process
    buckets, splits = band_keys(signature_of([a, a], DedupOptions()), DedupOptions())
    assert buckets.shape == (2, 10) and np.array_equal(buckets[0], buckets[1]) and np.array_equal(splits[0], splits[1])


def test_classifier_features_match_spark_hashing_tf(spark):
    from pyspark.ml.feature import HashingTF, Tokenizer

    text = "GPT-3 filtered  Common Crawl with a classifier: naïve café über 日本語 x yz abcd"
    options = DedupOptions(features="classifier", num_features=1 << 10)
    tokens = Tokenizer(inputCol="text", outputCol="tokens").transform(spark.createDataFrame([(text,)], "text string"))
    vector = HashingTF(inputCol="tokens", outputCol="tf", numFeatures=1 << 10).transform(tokens).first()["tf"]
    assert features(text, options).tolist() == sorted(vector.indices.tolist())
    assert murmur3_x86_32(b"") == 142593372  # Spark: Murmur3_x86_32.hashUnsafeBytes2(empty, seed 42)


def union_find_components(edges):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {node: find(node) for node in parent}


def random_graph():
    rng = random.Random(3)
    chain = [(i, i + 1) for i in range(24)][::-1]  # a long path: needs the logarithmic rounds
    random_edges = [(rng.randrange(100, 400), rng.randrange(100, 400)) for _ in range(250)]
    return chain + random_edges + [(1000, 1000)]


def test_driver_components_match_union_find():
    edges = [e for e in random_graph() if e[0] != e[1]]
    nodes, components = driver_components(np.array([e[0] for e in edges]), np.array([e[1] for e in edges]))
    assert dict(zip(nodes.tolist(), components.tolist())) == union_find_components(edges)
    assert len(driver_components(np.empty(0, np.int64), np.empty(0, np.int64))[0]) == 0


@pytest.mark.parametrize("driver_edges", [0, 100])  # all rounds on Spark; rounds, then the driver
def test_connected_components_match_union_find(spark, driver_edges):
    edges = random_graph()
    frame = spark.createDataFrame(edges, "src long, dst long").repartition(3)
    found = {r["node"]: r["component"] for r in connected_components(frame, driver_edges).collect()}
    assert found == union_find_components([e for e in edges if e[0] != e[1]])
    assert connected_components(frame.limit(0), driver_edges).count() == 0


def frames(spark, rows_by_dataset, partitions=2):
    return {
        name: spark.createDataFrame(rows, "doc_id string, text string, quality_score double").repartition(partitions)
        for name, rows in rows_by_dataset.items()
    }


def read_removals(spark, out):
    return {r["doc_id"]: r.asDict() for r in spark.read.parquet(str(out / "removals")).collect()}


def survivor_corpus():
    base, other = prose(10, 200), prose(11, 200)
    return {
        "crawl": [
            ("c1", base, 0.9),
            ("c2", edited(base, 1, 4), 0.2),
            ("c3", base.upper(), None),
            ("c4", other, 0.1),
            ("c5", edited(other, 2, 3), 0.5),
            ("c6", edited(other, 3, 3), 0.5),
            ("c7", prose(12, 200), None),
            ("c8", "", None),
            ("c9", "short text", None),
        ],
        "books": [("b1", edited(base, 4, 2), 0.0), ("b2", prose(13, 200), None)],
    }


def test_survivor_rule_and_cross_dataset_removal(spark, tmp_path):
    inputs = frames(spark, survivor_corpus())
    spark.sparkContext.setJobGroup("dedup-survivor", "dedup-survivor")
    summary = deduplicate(spark, inputs, str(tmp_path), DedupOptions(), priority=["books", "crawl"])
    jobs = spark.sparkContext.statusTracker().getJobIdsForGroup("dedup-survivor")
    spark.sparkContext.setJobGroup("tests", "tests")
    assert len(jobs) <= 60  # no per-round jobs: components finish on the driver (was ~100 jobs a run)
    removed = read_removals(spark, tmp_path)
    # cluster 1: books outranks crawl, whatever the quality score: b1 survives, c3 is c1's exact copy
    assert {
        d: (r["survivor_dataset"], r["survivor_doc_id"]) for d, r in removed.items() if d in ("c1", "c2", "c3")
    } == {"c1": ("books", "b1"), "c2": ("books", "b1"), "c3": ("books", "b1")}
    assert removed["c3"]["cause"] == "fuzzy" and 0.7 <= removed["c3"]["jaccard"] < 1
    # cluster 2: all crawl, highest quality wins; a tie on quality goes to the smallest doc_id
    assert removed["c4"]["survivor_doc_id"] == "c5" and removed["c6"]["survivor_doc_id"] == "c5"
    assert set(removed) == {"c1", "c2", "c3", "c4", "c6"}
    assert removed["c4"]["cluster_id"] == removed["c6"]["cluster_id"] != removed["c1"]["cluster_id"]
    assert summary["datasets"]["crawl"] == {
        "documents_in": 9,
        "kept": 4,
        "removed_exact": 0,
        "removed_fuzzy": 5,
        "conserved": True,
    }
    assert summary["empty_documents"] == 1 and summary["conserved"]
    kept = spark.read.parquet(str(tmp_path / "crawl"))
    assert kept.columns == ["doc_id", "text", "quality_score"]  # input columns kept
    assert sorted(r["doc_id"] for r in kept.collect()) == ["c5", "c7", "c8", "c9"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["cluster_size_histogram"] == {"3": 1, "4": 1} and report["example_pairs"]


def test_same_clusters_for_any_partitioning_and_exact_cause(spark, tmp_path):
    rows = {
        "crawl": [
            (f"d{i:03d}", edited(prose(i // 4, 150), i, 2) if i % 4 else prose(i // 4, 150), float(i % 3))
            for i in range(60)
        ]
        + [(f"x{i}", prose(0, 150), 5.0) for i in range(3)]
    }
    results = []
    for partitions in (1, 5):
        out = tmp_path / f"p{partitions}"
        deduplicate(spark, frames(spark, rows, partitions), str(out), DedupOptions())
        results.append(read_removals(spark, out))
    assert results[0] == results[1]
    assert len(results[0]) == 63 - 15  # 15 groups of 4 (+3 exact copies of group 0's original)
    assert sum(r["cause"] == "exact" for r in results[0].values()) >= 3


def test_hot_bucket_is_split_then_skipped_and_counted(spark, tmp_path):
    base = prose(20, 300)
    rows = {"crawl": [(f"n{i:02d}", edited(base, i, 1), None) for i in range(12)]}  # 12 docs, 1 word apart
    summary = deduplicate(spark, frames(spark, rows), str(tmp_path), DedupOptions(bucket_cap=4))
    guard = summary["guardrail"]
    assert guard["largest_bucket"] > 4 and guard["hot_buckets"] >= 1
    assert guard["skipped_sub_buckets"] >= 1 and guard["skipped_bucket_slots"] > 4
    assert summary["conserved"] and summary["documents_in"] == 12
    # without the cap the twelve collapse into one cluster
    loose = deduplicate(spark, frames(spark, rows), str(tmp_path / "loose"), DedupOptions())
    assert loose["kept"] == 1 and loose["guardrail"]["hot_buckets"] == 0


def test_all_identical_documents_keep_one(spark, tmp_path):
    rows = {"a": [(f"a{i}", "Same text   again", None) for i in range(20)], "b": [("b0", "same TEXT again", None)]}
    summary = deduplicate(spark, frames(spark, rows), str(tmp_path), DedupOptions(), priority=["b", "a"])
    assert summary["kept"] == 1 and summary["removed_exact"] == 20
    assert summary["datasets"]["b"]["kept"] == 1


def test_sample_crawl_against_references_via_the_job(spark, sample_dir, tmp_path, workdir):
    from curation.extract import extract_to_parquet
    from curation.warc_records import ExtractOptions

    shards = [str(p) for p in sorted((sample_dir / "crawl").glob("*.warc.gz"))]
    extract_to_parquet(spark, shards, str(tmp_path / "extract"), ExtractOptions())
    out = tmp_path / "dedup"
    status = DedupJob().main(
        [
            "--dataset",
            f"webtext={sample_dir}/reference/webtext.jsonl.gz",
            "--dataset",
            f"wikipedia={sample_dir}/reference/wikipedia.jsonl.gz",
            "--dataset",
            f"crawl={tmp_path}/extract/documents",
            "--priority",
            "webtext,wikipedia,crawl",
            "--output",
            str(out),
        ]
    )
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conserved"]
    documents = spark.read.parquet(str(tmp_path / "extract" / "documents"))
    doc_of_url = {r["url"]: r["doc_id"] for r in documents.select("url", "doc_id").collect()}
    removed = read_removals(spark, out)
    cluster = {d: r["cluster_id"] for d, r in removed.items()}
    cluster.update({r["survivor_doc_id"]: r["cluster_id"] for r in removed.values()})
    truth = [json.loads(line) for line in (sample_dir / "truth.jsonl").read_text().splitlines()]
    checked = {"exact_duplicate": 0, "near_duplicate": 0, "reference_near_duplicate": 0}
    for page in truth:
        if page["category"] not in checked or page["url"] not in doc_of_url:
            continue
        doc = doc_of_url[page["url"]]
        if page["category"] == "reference_near_duplicate":
            assert removed[doc]["survivor_doc_id"] == page["near_duplicate_of"], page
            assert removed[doc]["survivor_dataset"] in ("webtext", "wikipedia")
        else:
            source = doc_of_url[page.get("duplicate_of") or page["near_duplicate_of"]]
            assert cluster.get(doc) is not None and cluster.get(doc) == cluster.get(source), page
        checked[page["category"]] += 1
    assert all(checked.values()), checked
    assert summary["datasets"]["webtext"]["kept"] == summary["datasets"]["webtext"]["documents_in"]
    assert (out / "crawl").is_dir() and (out / "report.json").is_file()


def test_bad_configuration_fails_before_spark(capsys, tmp_path):
    job = DedupJob()
    existing = str(tmp_path)
    assert job.main(["--dataset", f"a={existing}", "--dataset", f"a={existing}", "--output", str(tmp_path / "o")]) == 2
    assert "given twice" in capsys.readouterr().err
    assert job.main(["--dataset", f"a={existing}", "--bands", "3", "--output", str(tmp_path / "o")]) == 2
    assert job.main(["--dataset", f"a={existing}", "--priority", "b", "--output", str(tmp_path / "o")]) == 2
    assert job.main(["--dataset", "a", "--output", str(tmp_path / "o")]) == 2
    with pytest.raises(ConfigError):
        DedupOptions(threshold=0).check()


def test_duplicate_doc_id_is_bad_input(spark, tmp_path):
    from curation.errors import BadInput

    with pytest.raises(BadInput, match="not unique"):
        deduplicate(
            spark, frames(spark, {"a": [("x", "one", None), ("x", "two", None)]}), str(tmp_path), DedupOptions()
        )


def test_one_json_lines_file_is_split_over_tasks(spark, tmp_path):
    """A corpus that is one gzip JSON Lines file is read by one task; the signature pass after it must not be."""
    import gzip

    from curation.corpora import CorpusSpec, read_documents

    path = tmp_path / "web.jsonl.gz"
    rows = [{"id": f"d{i}", "text": prose(i)} for i in range(40)] + [{"id": "copy", "text": prose(3)}]
    path.write_bytes(gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode()))
    frame = read_documents(spark, CorpusSpec("web", str(path)))
    assert frame.rdd.getNumPartitions() == 1
    summary = deduplicate(spark, {"web": frame}, str(tmp_path / "out"), DedupOptions())
    assert (summary["kept"], summary["removed_exact"]) == (40, 1)
    written = list((tmp_path / "out" / "web").glob("part-*.parquet"))
    assert len(written) == spark.sparkContext.defaultParallelism  # one per task that held the survivors


def test_removal_jaccard_is_the_exact_jaccard_to_the_survivor(spark, tmp_path):
    """The survivor's features come through the cluster window: each removal's Jaccard is still the exact one."""
    corpus = survivor_corpus()
    deduplicate(spark, frames(spark, corpus), str(tmp_path), DedupOptions(), priority=["books", "crawl"])
    texts = {doc: text for rows in corpus.values() for doc, text, _ in rows}
    removed = read_removals(spark, tmp_path)
    assert removed
    for doc, row in removed.items():
        exact = exact_key(texts[doc]) == exact_key(texts[row["survivor_doc_id"]])
        expected = 1.0 if exact else jaccard(features(texts[doc]), features(texts[row["survivor_doc_id"]]))
        assert row["cause"] == ("exact" if exact else "fuzzy") and row["jaccard"] == pytest.approx(expected)


def test_an_empty_dataset_beside_a_full_one(spark, tmp_path):
    rows = {"empty": [], "full": [("f1", prose(1), None), ("f2", prose(1), None), ("f3", prose(2), None)]}
    summary = deduplicate(spark, frames(spark, rows), str(tmp_path), DedupOptions())
    assert summary["datasets"]["empty"] == {
        "documents_in": 0,
        "kept": 0,
        "removed_exact": 0,
        "removed_fuzzy": 0,
        "conserved": True,
    }
    assert (summary["kept"], summary["removed_exact"], summary["clusters"]) == (2, 1, 1)


def test_concurrent_actions_keep_the_job_group_and_raise(spark):
    from curation.spark import concurrently

    spark.sparkContext.setJobGroup("dedup-concurrent", "dedup-concurrent")
    counts = concurrently(spark, lambda: spark.range(10).count(), lambda: spark.range(5).count())
    jobs = spark.sparkContext.statusTracker().getJobIdsForGroup("dedup-concurrent")
    spark.sparkContext.setJobGroup("tests", "tests")
    assert counts == [10, 5] and len(jobs) >= 2
    with pytest.raises(ZeroDivisionError):
        concurrently(spark, lambda: spark.range(1).count(), lambda: 1 // 0)


def test_sorted_sets_are_each_texts_unique_values_in_order():
    from curation.minhash import sorted_sets

    rng = np.random.default_rng(4)
    counts = np.array([0, 5, 1, 0, 300, 7], dtype=np.int64)
    values = rng.integers(0, 50, counts.sum()).astype(np.uint32)
    values[-7:] = np.uint32(0xFFFFFFFF)  # the top value survives the packing into 64 bits
    sets, offsets = sorted_sets(values, counts)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for i in range(len(counts)):
        assert sets[offsets[i] : offsets[i + 1]].tolist() == np.unique(values[bounds[i] : bounds[i + 1]]).tolist()
    assert sets.dtype == np.uint32 and offsets[-1] == len(sets)


def test_features_and_exact_key_are_pinned():
    """The hash values themselves (computed by the code that measured the README's removals): a faster
    implementation of the same definitions must give the same features, hence the same clusters."""
    text = "The quick brown fox jumps over the lazy dog; \u0130stanbul \u03a3\u0391\u03a3 \ufb01le \u65e5\u672c\u8a9e"
    assert features(text).tolist() == [
        592896300,
        994177734,
        1004075021,
        1121602270,
        1501447892,
        1647808724,
        1864028938,
        2160030377,
        3274236699,
    ]
    assert exact_key(text) == -6150785879534456198
