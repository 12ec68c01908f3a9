"""The whole pipeline from one config: config errors, atomic stages, skip and resume, conservation, faults.

One baseline run (module fixture) reads the sample crawl with two faults among its good shards: a
corrupt shard and a shard served over http that answers 503 twice before serving it. The other
tests copy that run and break it (a half-written stage, a tampered summary, an interrupted driver,
killed Python workers), re-run the pipeline, and compare with the baseline.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_extract import FlakyHandler, warcio_record_count

from curation.corpora import CorpusSpec
from curation.errors import ConfigError
from curation.extract import ExtractJob
from curation.job import partial_path
from curation.options import from_namespace, from_table, keys
from curation.pipeline import PipelineJob, conservation_checks, load_config, option_values, plan
from curation.rules.stage import RulesJobOptions
from curation.sample import generate_sample
from curation.settings import PROJECT_ROOT
from curation.stage import RunLayout
from curation.stages import STAGE_NAMES, STAGES

STAGE = dict(zip(STAGE_NAMES, STAGES))


def write_config(path: Path, run_dir: Path, crawl: list[str], sample: Path, **extra: str) -> Path:
    """A small but complete run over `crawl`, with the sample's reference corpora and benchmark;
    `extra` adds lines to a stage's table, e.g. mixture='vocab_size = 320'."""
    tables = {
        "extract": f'input = {json.dumps(crawl)}\nextractor = "resiliparse"\ncommit_every = 2',
        "rules": f'blocklists = {{ adult = "{sample}/blocklists/adult" }}',
        "classifier": "num_features = 4096\nmax_iter = 20",
        "classify": 'alpha = "auto"\nalpha_rule = "reference_keep"',
        "dedup": 'priority = ["webtext", "wikipedia", "books", "crawl"]',
        "decontaminate": f'benchmarks = "{sample}/benchmarks"',
        "mixture": "token_budget = 1e5\nvocab_size = 300",
    }
    text = f'output = "{run_dir}"\nseed = 3\n\n[reference]\n'
    text += f'webtext = "{sample}/reference/webtext.jsonl.gz"\nwikipedia = "{sample}/reference/wikipedia.jsonl.gz"\n'
    text += f'books = {{ path = "{sample}/reference/books.jsonl.gz", strip_gutenberg = true }}\n'
    for stage, body in tables.items():
        text += f"\n[{stage}]\n{body}\n{extra.get(stage, '')}\n"
    text += (
        '\n[mixture.datasets]\ncommon_crawl = { source = "crawl", weight = 0.6 }\n'
        'webtext2 = { source = "webtext", weight = 0.3 }\nbooks = { source = "books", weight = 0.1 }\n'
    )
    path.write_text(text)
    return path


def run_pipeline(config: Path, *extra: str) -> int:
    return PipelineJob().main(["--config", str(config), *extra])


def run_outputs(spark, run: Path) -> dict:
    """What a run produced, whatever its file names: sorted (doc_id, text) of every stage's documents
    per dataset, and the sha256 of every mixture shard."""
    found = {}
    folders = ["extract/documents", "rules/kept", "rules/rejects", "classify/kept", "classify/rejects"]
    folders += [f"dedup/{d}" for d in ("crawl", "webtext", "wikipedia", "books")]
    folders += [f"decontaminate/{d}/documents" for d in ("crawl", "webtext", "wikipedia", "books")]
    for folder in folders:
        found[folder] = sorted(
            tuple(r) for r in spark.read.parquet(str(run / folder)).select("doc_id", "text").collect()
        )
    manifest = json.loads((run / "mixture" / "manifest.json").read_text())
    found["mixture"] = {s["tokens_file"]: s["sha256"] for d in manifest["datasets"] for s in d["shards"]}
    return found


def stage_lines(text: str) -> dict[str, str]:
    """The pipeline's one line per stage, by stage."""
    lines = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) > 2 and words[0] == "pipeline:" and words[1] in STAGE_NAMES and "documents" in line:
            lines[words[1]] = line
    return lines


def copy_run(source: Path, target: Path, config_args: dict, *drop: str) -> Path:
    """A copy of run `source` at `target` without the stages `drop`, and its config."""
    shutil.copytree(source, target)
    for stage in drop:
        shutil.rmtree(target / stage)
    return write_config(target.parent / f"{target.name}.toml", target, **config_args)


@pytest.fixture(scope="module")
def flaky_url(sample_dir):
    """A shard served over http by a server that answers 503 twice first."""
    FlakyHandler.body = (sample_dir / "crawl" / "sample-00002.warc.gz").read_bytes()
    FlakyHandler.failures_left = 2
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/sample-00002.warc.gz"
    server.shutdown()


@pytest.fixture(scope="module")
def crawl(sample_dir, flaky_url, tmp_path_factory) -> list[str]:
    """Good local shards, the sample's truncated shard, a corrupt shard (8 KiB overwritten in its
    middle) and the http shard."""
    root = tmp_path_factory.mktemp("crawl")
    generate_sample(root / "other", pages=30, seed=11, shards=1, reference_docs=3)
    data = bytearray((root / "other" / "crawl" / "sample-00000.warc.gz").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8192] = bytes(range(256)) * 32
    (root / "corrupt.warc.gz").write_bytes(data)
    local = [
        str(sample_dir / "crawl" / name)
        for name in ("sample-00000.warc.gz", "sample-00001.warc.gz", "sample-truncated.warc.gz")
    ]
    return [*local, str(root / "corrupt.warc.gz"), flaky_url]


@pytest.fixture(scope="module")
def baseline(spark, sample_dir, crawl, tmp_path_factory):
    """(run directory, config arguments, exit status) of one clean run of the whole pipeline."""
    root = tmp_path_factory.mktemp("baseline")
    config_args = {"crawl": crawl, "sample": sample_dir}
    config = write_config(root / "run.toml", root / "run", **config_args)
    status = run_pipeline(config)
    return root / "run", config_args, status


# --- config ----------------------------------------------------------------------------------------


def test_config_mistakes_are_one_line_before_spark(sample_dir, tmp_path):
    good = write_config(tmp_path / "good.toml", tmp_path / "run", [str(sample_dir / "crawl")], sample_dir)
    stages = plan(load_config(str(good)))
    assert [s.name for s in stages] == list(STAGE_NAMES)
    assert stages[0].input_files == sorted(str(p) for p in (sample_dir / "crawl").iterdir())

    def error(old: str, new: str) -> str:
        bad = tmp_path / "bad.toml"
        text = good.read_text()
        assert old in text
        bad.write_text(text.replace(old, new, 1))
        with pytest.raises(ConfigError) as raised:
            plan(load_config(str(bad)))
        return str(raised.value)

    assert "unknown key or table 'ouput'" in error("output =", "ouput =")
    assert "[dedup] unknown key 'treshold'" in error("[dedup]\n", "[dedup]\ntreshold = 0.5\n")
    assert "[classify] output is set by the pipeline" in error("[classify]\n", '[classify]\noutput = "x"\n')
    assert "input does not exist" in error(str(sample_dir / "crawl"), str(tmp_path / "no-crawl"))
    assert "corpus does not exist" in error("webtext.jsonl.gz", "missing.jsonl.gz")
    assert "[decontaminate] benchmarks: no such file" in error(f"{sample_dir}/benchmarks", str(tmp_path / "none"))
    assert "[classify] argument --alpha-rule: invalid choice" in error('"reference_keep"', '"nope"')
    assert "[mixture] argument --vocab-size: invalid int value" in error("vocab_size = 300", 'vocab_size = "big"')
    assert "[mixture.datasets] books" in error('source = "books"', 'source = "novels"')
    assert "[rules] --languages: unknown language code 'klingon'" in error(
        "[rules]\n", '[rules]\nlanguages = ["en", "klingon"]\n'
    )
    assert "[rules] --blocklist adult: no such file" in error("blocklists/adult", "blocklists/missing")
    assert "not valid TOML" in error("seed = 3", "seed = ")
    assert "`seed` must be an integer" in error("seed = 3", 'seed = "3"')

    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "jobs" / "pipeline.py"), "--config", str(tmp_path / "missing.toml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"pipeline: error: config file not found: {tmp_path / 'missing.toml'}"
    ]


def test_every_stage_is_checked_before_the_first_runs(sample_dir, tmp_path):
    """Mistakes that show in the config and the user's files alone stop the run before Spark starts,
    not when their stage comes, after the stages before it ran (hours, on a real crawl)."""
    good = write_config(tmp_path / "good.toml", tmp_path / "run", [str(sample_dir / "crawl")], sample_dir)
    empty_benchmarks = tmp_path / "benchmarks"
    empty_benchmarks.mkdir()
    mistakes = {
        "[classify] --alpha must be a positive number": ('alpha = "auto"', "alpha = -1"),
        "[dedup] --threshold must be in (0, 1]": ("[dedup]\n", "[dedup]\nthreshold = 2\n"),
        "[mixture] dataset 'webtext2' has weight -0.5": ("weight = 0.3", "weight = -0.5"),
        "[mixture] --token-budget must be a positive number": ("token_budget = 1e5", "token_budget = -5"),
        "[decontaminate] no benchmark files": (f"{sample_dir}/benchmarks", str(empty_benchmarks)),
        "[classifier] --holdout must be between 0 and 0.9": ("[classifier]\n", "[classifier]\nholdout = 2\n"),
    }
    for expected, (old, new) in mistakes.items():
        bad = tmp_path / "bad.toml"
        assert old in good.read_text()
        bad.write_text(good.read_text().replace(old, new, 1))
        with pytest.raises(ConfigError) as raised:
            plan(load_config(str(bad)))
        assert str(raised.value).startswith(f"{bad}: {expected}"), raised.value

    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "jobs" / "pipeline.py"), "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"pipeline: error: {bad}: [classifier] --holdout must be between 0 and 0.9"
    ]
    assert not (tmp_path / "run").exists()


def test_a_stage_table_is_its_jobs_options():
    table = {"input": ["a.warc.gz", "b.warc.gz"], "max_html_bytes": 5e6, "time_limit": 2.5}
    values = option_values(STAGE["extract"], table, "x:")
    assert values == {"input": ("a.warc.gz", "b.warc.gz"), "max_html_bytes": 5_000_000, "time_limit": 2.5}
    assert isinstance(values["max_html_bytes"], int)
    dedup = {"priority": ["webtext", "crawl"], "threshold": 0.8}
    assert option_values(STAGE["dedup"], dedup, "x:") == {"priority": ("webtext", "crawl"), "threshold": 0.8}
    ngrams = {"ngram": ["lambada=8", "piqa=auto"]}
    assert option_values(STAGE["decontaminate"], ngrams, "x:") == {"ngram": ("lambada=8", "piqa=auto")}
    table = {
        "blocklists": {"adult": "a/domains", "phishing": "p"},
        "languages": ["en", "de"],
        "gopher_max_top_ngram_chars": [0.2, 0.18, 0.16],
    }
    assert option_values(STAGE["rules"], table, "x:") == {
        "blocklists": ("adult=a/domains", "phishing=p"),
        "languages": ("en", "de"),
        "gopher_max_top_ngram_chars": (0.2, 0.18, 0.16),
    }
    # the command line builds the same options
    argv = ["--input", "I", "--output", "O", "--blocklist", "adult=a/domains", "--blocklist", "phishing=p"]
    argv += ["--languages", "en,de", "--gopher-max-top-ngram-chars", "0.2,0.18,0.16"]
    parsed = STAGE["rules"].job.parser().parse_args(argv)
    options = from_namespace(RulesJobOptions, parsed)
    assert options == from_table(RulesJobOptions, table, input="I", output="O")
    assert options.repetition.max_top_ngram_chars == (0.2, 0.18, 0.16)
    with pytest.raises(ConfigError, match=r"\[extract\] resume is set by the pipeline"):
        option_values(STAGE["extract"], {"resume": True}, "x:")
    with pytest.raises(ConfigError, match="must be a number, a string or a list"):
        option_values(STAGE["dedup"], {"threshold": True}, "x:")


def test_every_stage_declares_a_contract_its_job_and_the_list_agree_with():
    """What a stage says the pipeline sets is what its wiring sets, and only options its job has; its upstream
    stages come before it; whatever stage comes before, a crawl reader reads the last one's kept documents."""
    reference = {"webtext": CorpusSpec("webtext", "w.jsonl")}
    run = RunLayout("RUN", STAGES, reference, {"cc": ("crawl", 0.6), "web": ("webtext", None)})
    for index, stage in enumerate(STAGES):
        assert set(stage.upstream) <= set(STAGE_NAMES[:index]), stage.name
        known = set(keys(stage.job.options_class))
        assert set(stage.wire(run, "OUT")) == set(stage.set_by_pipeline), stage.name
        assert known >= {*stage.set_by_pipeline, *stage.input_options, *stage.required} - {"datasets"}, stage.name
    assert run.crawl("classify") == os.path.join("RUN", "rules", "kept")
    assert run.crawl("dedup") == os.path.join("RUN", "classify", "kept")
    without_rules = RunLayout("RUN", tuple(s for s in STAGES if s.name != "rules"), reference, {})
    assert without_rules.crawl("classifier") == os.path.join("RUN", "extract", "documents")


def test_rules_table_puts_the_stage_between_extract_and_the_classifier(sample_dir, tmp_path):
    with_rules = write_config(tmp_path / "on.toml", tmp_path / "run", [str(sample_dir / "crawl")], sample_dir)
    stages = {s.name: s for s in plan(load_config(str(with_rules)))}
    extracted = str(tmp_path / "run" / "extract" / "documents")
    rules = stages["rules"].options("OUT")
    assert (rules.input, rules.output) == (extracted, "OUT")
    assert stages["rules"].input_files == [f"{sample_dir}/blocklists/adult"]  # fingerprinted: a new list re-runs it
    kept = str(tmp_path / "run" / "rules" / "kept")
    assert stages["classifier"].options("M").negative == (CorpusSpec("crawl", kept),)
    assert stages["classify"].options("O").input == kept
    without = tmp_path / "off.toml"
    table = f'[rules]\nblocklists = {{ adult = "{sample_dir}/blocklists/adult" }}'
    without.write_text(with_rules.read_text().replace(table, ""))
    stages = {s.name: s for s in plan(load_config(str(without)))}
    assert "rules" not in stages and stages["classify"].options("O").input == extracted


def conservation(summaries: dict, written: dict) -> list[dict]:
    """The conservation checks of a run of the stages that wrote `summaries`."""
    run = RunLayout("run", tuple(s for s in STAGES if s.name in summaries), {}, {})
    counts = {stage.name: stage.counts(summaries[stage.name]) for stage in run.stages}
    return conservation_checks(run, counts, written)


def test_conservation_checks_find_lost_documents():
    summaries = {
        "extract": {"records": 10, "outcomes": {"extracted": 6, "not_html": 4}},
        "classify": {"documents_in": 6, "kept": 4, "rejected_by_reason": {"pareto_draw": 2}},
        "dedup": {"datasets": {"crawl": {"documents_in": 4, "kept": 3, "removed_exact": 1, "removed_fuzzy": 0}}},
    }
    written = {
        "extract": {"crawl": {"out": 6}},
        "classify": {"crawl": {"out": 4, "rejected": 2}},
        "dedup": {"crawl": {"out": 3, "rejected": 1}},
    }
    checks = conservation(summaries, written)
    assert checks and all(c["holds"] for c in checks)
    summaries["dedup"]["datasets"]["crawl"]["kept"] = 2  # one document vanished
    broken = [c["check"] for c in conservation(summaries, written) if not c["holds"]]
    assert broken == [
        "dedup/crawl: documents in = out + removed_exact + removed_fuzzy",
        "dedup/crawl: out in the summary = rows written",
    ]
    summaries["dedup"]["datasets"]["crawl"].update(documents_in=5, kept=4)  # one appeared from nowhere
    broken = [c["check"] for c in conservation(summaries, written) if not c["holds"]]
    assert broken == ["dedup/crawl: out in the summary = rows written", "classify/crawl out = dedup/crawl in"]
    # with the rules stage, classify reads what rules kept
    summaries["rules"] = {"documents_in": 6, "kept": 5, "rejected_by_reason": {"language:not_listed": 1}}
    written["rules"] = {"crawl": {"out": 5, "rejected": 1}}
    broken = [c["check"] for c in conservation(summaries, written) if not c["holds"]]
    assert "rules/crawl out = classify/crawl in" in broken and "extract/crawl out = rules/crawl in" not in broken
    assert "rules/crawl: documents in = out + language:not_listed" not in broken


# --- the baseline run and its faulty inputs --------------------------------------------------------


def test_run_is_atomic_conserved_and_writes_the_funnel(baseline):
    run, _, status = baseline
    assert status == 0
    checks = json.loads((run / "conservation.json").read_text())
    assert len(checks) > 40 and all(c["holds"] for c in checks)
    funnel = json.loads((run / "funnel.json").read_text())
    assert {row["stage"] for row in funnel} >= {"extract: documents", "classify: kept", "mixture: tokenized"}
    funnel_md = (run / "funnel.md").read_text()
    assert (run / "funnel.png").stat().st_size > 0 and "\n| stage | dataset |" in funnel_md
    assert funnel_md.startswith("Data: ") and "GENERATED by curation.sample" in funnel_md  # the sample says so
    for stage in STAGE_NAMES:
        marker = json.loads((run / stage / "_SUCCESS").read_text())
        assert marker["stage"] == stage and len(marker["fingerprint"]) == 64
        assert marker["params"]["output" if stage != "classifier" else "model"] == f"$RUN/{stage}"
        assert all((run / stage / rel).stat().st_size == size for rel, size in marker["files"].items())
    crawl = json.loads((run / "dedup" / "_SUCCESS").read_text())["params"]["dataset"][0]  # a CorpusSpec, as JSON
    assert crawl | {"path": None} == {
        "name": "crawl",
        "path": None,
        "fmt": None,
        "text_field": "text",
        "id_field": None,
        "strip_gutenberg": False,
    }
    assert crawl["path"] == "$RUN/classify/kept"
    assert json.loads((run / "classify" / "_SUCCESS").read_text())["inputs"]["stages"] == {
        name: json.loads((run / name / "_SUCCESS").read_text())["fingerprint"]
        for name in ("extract", "rules", "classifier")
    }
    rules = json.loads((run / "rules" / "summary.json").read_text())
    assert rules["rejected_by_reason"].get("blocklist:adult", 0) >= 1 and rules["kept"] > 0
    assert {"rules/crawl out = classify/crawl in", "extract/crawl out = rules/crawl in"} <= {c["check"] for c in checks}
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no .partial directory left


def test_outputs_record_their_published_paths(baseline):
    run, _, _ = baseline
    assert json.loads((run / "classifier" / "metrics.json").read_text())["model"] == str(run / "classifier")


def test_corrupt_shard_among_good_ones_is_counted_and_the_run_goes_on(spark, baseline, crawl):
    run, _, _ = baseline
    ledger = {r["warc_path"]: r.asDict() for r in spark.read.parquet(str(run / "extract" / "ledger")).collect()}
    assert sorted(ledger) == sorted(crawl)
    corrupt = ledger[crawl[3]]
    lost = corrupt["outcomes"].get("malformed_record", 0) + corrupt["outcomes"].get("truncated_file", 0)
    assert lost >= 1 and corrupt["outcomes"]["extracted"] > 0  # the records around the damage are kept
    assert corrupt["records"] == sum(corrupt["outcomes"].values())
    assert ledger[crawl[0]]["file_error"] is None and ledger[crawl[1]]["file_error"] is None
    summary = json.loads((run / "extract" / "summary.json").read_text())
    assert summary["conserved"] and summary["records"] == sum(row["records"] for row in ledger.values())


def test_http_source_failing_twice_is_retried_and_read_whole(spark, baseline, crawl, sample_dir):
    run, _, _ = baseline
    url = crawl[-1]
    row = spark.read.parquet(str(run / "extract" / "ledger")).where(f"warc_path = '{url}'").first()
    assert row["file_error"] is None
    assert row["records"] == warcio_record_count(sample_dir / "crawl" / "sample-00002.warc.gz")
    documents = spark.read.parquet(str(run / "extract" / "documents")).where(f"warc_path = '{url}'").count()
    assert documents == row["outcomes"]["extracted"] > 0


# --- re-runs ---------------------------------------------------------------------------------------


def test_rerun_skips_unchanged_stages_and_redoes_changed_ones(baseline, tmp_path, capsys):
    run, config_args, _ = baseline
    markers = {stage: (run / stage / "_SUCCESS").stat().st_mtime_ns for stage in STAGE_NAMES}
    capsys.readouterr()
    assert run_pipeline(run.parent / "run.toml") == 0
    lines = stage_lines(capsys.readouterr().out)
    assert all("unchanged, skipped" in lines[stage] for stage in STAGE_NAMES)
    assert markers == {stage: (run / stage / "_SUCCESS").stat().st_mtime_ns for stage in STAGE_NAMES}

    # a moved run is still up to date; a changed mixture parameter re-runs the mixture alone
    config = copy_run(run, tmp_path / "moved", {**config_args, "mixture": "shard_text_mb = 0.05"})
    assert run_pipeline(config) == 0
    lines = stage_lines(capsys.readouterr().out)
    assert all("unchanged, skipped" in lines[stage] for stage in STAGE_NAMES[:-1])
    assert "documents/s" in lines["mixture"]
    assert len(json.loads((tmp_path / "moved" / "mixture" / "manifest.json").read_text())["datasets"][0]["shards"]) > 1


def test_half_written_output_is_redone(spark, baseline, tmp_path, capsys):
    run, config_args, _ = baseline
    config = copy_run(run, tmp_path / "run", config_args)
    half = tmp_path / "run" / "dedup"
    (half / "_SUCCESS").unlink()  # a crashed run that wrote in place: no marker, files missing
    next((half / "crawl").glob("*.parquet")).unlink()
    crashed = Path(partial_path(str(tmp_path / "run" / "decontaminate")))  # a crash inside a stage
    crashed.mkdir()
    (crashed / "part-00000.parquet").write_bytes(b"PAR1 half written")
    capsys.readouterr()
    assert run_pipeline(config) == 0
    out = capsys.readouterr().out
    lines = stage_lines(out)
    assert "documents/s" in lines["dedup"]
    assert all("unchanged, skipped" in lines[s] for s in STAGE_NAMES if s != "dedup")
    assert f"dedup: wrote {tmp_path / 'run' / 'dedup'}/<dataset>/" in out  # where it is, not where it was written
    assert not crashed.exists()
    assert run_outputs(spark, tmp_path / "run") == run_outputs(spark, run)


def test_conservation_violation_fails_the_run_loudly(baseline, tmp_path, capsys):
    run, config_args, _ = baseline
    config = copy_run(run, tmp_path / "run", config_args)
    summary_file = tmp_path / "run" / "classify" / "summary.json"
    text = summary_file.read_text()
    kept = json.loads(text)["kept"]
    summary_file.write_text(text.replace(f'"kept": {kept},', f'"kept": {kept - 1},'.ljust(len(f'"kept": {kept},'))))
    assert summary_file.stat().st_size == len(text)  # the same size: the stage's files look intact
    capsys.readouterr()
    assert run_pipeline(config) == 1
    errors = capsys.readouterr().err
    assert (
        "pipeline: CONSERVATION VIOLATED: classify/crawl: documents in = out + no_doc_id + no_tokens + "
        "pareto_draw" in errors
    )
    assert f"CONSERVATION VIOLATED: classify/crawl out = dedup/crawl in: expected {kept - 1}, found {kept}" in errors
    assert "pipeline: error: 3 of " in errors and "conservation checks failed" in errors
    assert not all(c["holds"] for c in json.loads((tmp_path / "run" / "conservation.json").read_text()))


def test_extraction_resumes_per_file(spark, sample_dir, tmp_path):
    shards = [str(p) for p in sorted((sample_dir / "crawl").glob("*.warc.gz"))]
    clean = tmp_path / "clean"
    assert ExtractJob().main(["--input", *shards, "--output", str(clean), "--commit-every", "1"]) == 0

    # an interrupted run: two files committed, a third staged and half moved in
    out = tmp_path / "resumed"
    assert ExtractJob().main(["--input", *shards[:2], "--output", str(out), "--commit-every", "1"]) == 0
    partial = Path(partial_path(str(out)))
    out.rename(partial)
    committed = sorted(p.name for p in (partial / "documents").glob("chunk-*.parquet"))
    staged = partial / "_chunks" / "000002" / "documents"
    staged.mkdir(parents=True)
    shutil.copy(partial / "documents" / committed[0], staged / "part-00000.parquet")
    shutil.copy(partial / "documents" / committed[0], partial / "documents" / f"chunk-000002-{committed[0][13:]}")

    assert ExtractJob().main(["--input", *shards, "--output", str(out), "--commit-every", "1", "--resume"]) == 0
    assert set(committed) <= {p.name for p in (out / "documents").glob("chunk-*.parquet")}  # kept, not redone
    ledger = spark.read.parquet(str(out / "ledger"))
    assert sorted(r["warc_path"] for r in ledger.collect()) == sorted(shards)

    def rows(path):
        return sorted(tuple(r) for r in spark.read.parquet(str(path / "documents")).select("doc_id", "text").collect())

    assert rows(out) == rows(clean)
    summary, clean_summary = (json.loads((d / "summary.json").read_text()) for d in (out, clean))
    assert summary == clean_summary and not (out / "_chunks").exists()

    # resuming over an output of other inputs is refused
    out.rename(partial)
    assert ExtractJob().main(["--input", *shards[1:], "--output", str(out), "--resume"]) == 2


# --- faults in a running pipeline ----------------------------------------------------------------

FAULTY_WORKER = '''
"""A PySpark worker module that dies (os._exit) in the Nth task it runs, for N in KILL_AT."""
import os

from pyspark.worker import main as worker_main
from pyspark.worker_util import get_sock_file_to_executor

KILL_AT = {1, 4}


def main(infile, outfile):
    folder = os.environ["CURATION_TEST_FAULT_DIR"]
    number = 1
    while True:  # one number per task, across all worker processes
        try:
            os.close(os.open(os.path.join(folder, f"task-{number}"), os.O_CREAT | os.O_EXCL))
            break
        except FileExistsError:
            number += 1
    if number in KILL_AT:
        open(os.path.join(folder, f"killed-{number}"), "w").close()
        os._exit(1)
    worker_main(infile, outfile)


if __name__ == "__main__":  # spark.python.use.daemon=false: one process per task, started as pyspark.worker is
    with get_sock_file_to_executor() as sock_file:
        main(sock_file, sock_file)
'''


def spark_submit() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")


def test_python_workers_killed_mid_stage_are_retried(spark, baseline, tmp_path):
    run, config_args, _ = baseline
    config = copy_run(run, tmp_path / "run", config_args, "extract")
    faults = tmp_path / "faults"
    faults.mkdir()
    (tmp_path / "curation_faulty_worker.py").write_text(FAULTY_WORKER)
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "CURATION_TEST_FAULT_DIR": str(faults),
        "CURATION_RETRY_BASE_S": "0.01",
        "CURATION_SPARK_LOG_LEVEL": "ERROR",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    FlakyHandler.failures_left = 2
    result = subprocess.run(
        [
            spark_submit(),
            "--master",
            "local[2,3]",  # 3 attempts per task
            "--conf",
            "spark.python.use.daemon=false",
            "--conf",
            "spark.python.worker.module=curation_faulty_worker",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.shuffle.partitions=4",
            "--conf",
            "spark.default.parallelism=4",
            str(PROJECT_ROOT / "jobs" / "pipeline.py"),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in faults.glob("killed-*")) == ["killed-1", "killed-4"]
    lines = stage_lines(result.stdout)
    assert "documents/s" in lines["extract"]
    assert all("unchanged, skipped" in line for stage, line in lines.items() if stage != "extract")
    assert run_outputs(spark, tmp_path / "run") == run_outputs(spark, run)


def test_interrupted_driver_then_rerun_resumes(spark, baseline, tmp_path, capsys):
    run, config_args, _ = baseline
    config = copy_run(run, tmp_path / "run", config_args, "extract")
    ledger = Path(partial_path(str(tmp_path / "run" / "extract"))) / "ledger"
    env = {**os.environ, "CURATION_RETRY_BASE_S": "0.01", "CURATION_SPARK_LOG_LEVEL": "ERROR"}
    driver = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "jobs" / "pipeline.py"), "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not list(ledger.glob("chunk-*.parquet")) and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(driver.pid, signal.SIGINT)  # Ctrl-C once the first file is committed
        _, errors = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == 130, errors[-2000:]
    # one line says where it stopped and how to go on: no py4j tracebacks, no stack traces of aborted jobs
    printed = [
        line
        for line in errors.replace("\r", "\n").splitlines()
        if line.strip() and not line.lstrip().startswith("[Stage")
    ]
    assert "pipeline: interrupted in extract; run the same command again to continue" in printed, errors[-3000:]
    assert len(printed) <= 3, printed  # and the JVM's own "Using incubator modules" warning
    committed = {p.name for p in (ledger.parent / "documents").glob("chunk-*.parquet")}
    assert len(list(ledger.glob("chunk-*.parquet"))) in (1, 2)  # of 3 chunks (2 files each)

    capsys.readouterr()
    assert run_pipeline(config) == 0
    out = capsys.readouterr().out
    assert f"pipeline: extract: resuming into {ledger.parent}" in out
    assert committed <= {p.name for p in (tmp_path / "run" / "extract" / "documents").iterdir()}
    assert all("unchanged, skipped" in line for stage, line in stage_lines(out).items() if stage != "extract")
    assert run_outputs(spark, tmp_path / "run") == run_outputs(spark, run)
