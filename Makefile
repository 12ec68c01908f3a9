# One target per pipeline stage; each runs alone on the previous stage's output.
# Override any variable: `make extract INPUT='warcs/*.warc.gz' OUT=runs/x/extract`.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))
export CURATION_SHARED_DATA ?= $(abspath ../shared/data)
SPARK_MASTER ?= local[*]
# Spark logs warnings and errors only (CURATION_SPARK_LOG_LEVEL=INFO for everything), from the JVM's first line
SPARK_SUBMIT = $(VENV)/bin/spark-submit --master '$(SPARK_MASTER)' --driver-memory 4g --conf spark.ui.showConsoleProgress=true \
	--driver-java-options '-Dlog4j2.configurationFile=$(abspath curation/log4j2.properties)'

SEED ?= 0
PAGES ?= 600
SAMPLE ?= data/sample
RUN ?= data/demo
EXTRACTOR ?= trafilatura
INPUT ?= $(SAMPLE)/crawl
OUT ?= $(RUN)/extract
# reference corpora (positives for the classifier, and datasets of the mixture)
REFERENCE ?= webtext=$(SAMPLE)/reference/webtext.jsonl.gz wikipedia=$(SAMPLE)/reference/wikipedia.jsonl.gz books=$(SAMPLE)/reference/books.jsonl.gz,strip_gutenberg=true
ALPHA ?= 9
ALPHA_RULE ?= match_reference_mean
MODEL ?= $(RUN)/classifier
# the rules stage reads the extracted documents; the classifier and classify read what it kept
BLOCKLISTS ?= adult=$(SAMPLE)/blocklists/adult
LANGUAGES ?= en
CRAWL ?= $(RUN)/rules/kept
PRIORITY ?= webtext,wikipedia,books,crawl
BENCHMARKS ?= $(SAMPLE)/benchmarks
DECONTAM_INPUT ?= crawl=$(RUN)/dedup/crawl webtext=$(RUN)/dedup/webtext wikipedia=$(RUN)/dedup/wikipedia books=$(RUN)/dedup/books
WEIGHTS ?= curation/weights/gpt3.json
TOKEN_BUDGET ?=
VOCAB_SIZE ?= 50257
MIXTURE_DATASETS ?= common_crawl=$(RUN)/decontaminate/crawl/documents webtext2=$(RUN)/decontaminate/webtext/documents books1=$(RUN)/decontaminate/books/documents books2=$(RUN)/decontaminate/books/documents wikipedia=$(RUN)/decontaminate/wikipedia/documents

.PHONY: help venv check-java lint sample extract rules classify dedup decontaminate mixture demo test clean \
	bench-extract bench-rules bench-classify bench-dedup bench-decontaminate bench-mixture bench-pipeline bench-cluster

help:
	@echo "make demo            set up .venv, generate the sample crawl, run the pipeline on it (configs/demo.toml)"
	@echo "make pipeline        every stage from one TOML config, atomic and resumable (CONFIG=$(CONFIG))"
	@echo "make package         the executors' environment and code: build/env.tar.gz, build/curation.zip, submit lines"
	@echo "make test-cluster    the pipeline shipped (make package) to a local standalone cluster of bare-Python workers"
	@echo "make test            set up .venv, run ruff (make lint) and the test suite"
	@echo "make realcrawl       the real-page crawl: ../shared/data/html as WARC files with planted copies (RESPONSES=$(RESPONSES))"
	@echo "make demo-real       the pipeline on the real-page crawl and the shared corpora (configs/realcrawl.toml)"
	@echo "make sample          generate the seeded sample (PAGES=$(PAGES) SEED=$(SEED) SAMPLE=$(SAMPLE))"
	@echo "make extract         WARC -> documents (INPUT=$(INPUT) OUT=$(OUT) EXTRACTOR=$(EXTRACTOR))"
	@echo "make rules           language ID, Gopher and C4 rules, blocklists, PII redaction (BLOCKLISTS=$(BLOCKLISTS))"
	@echo "make classify        train the quality classifier, score and Pareto-resample the crawl (ALPHA=$(ALPHA))"
	@echo "make dedup           exact + MinHash LSH dedup within and across datasets (PRIORITY=$(PRIORITY))"
	@echo "make decontaminate   cut 13-gram overlaps with benchmark test sets (BENCHMARKS=$(BENCHMARKS))"
	@echo "make mixture         tokenized shards + manifest.json (WEIGHTS=$(WEIGHTS))"
	@echo "make bench-STAGE     STAGE = extract, rules, classify, dedup, decontaminate, mixture: Spark vs a plain loop;"
	@echo "                     pipeline: the whole pipeline vs extraction alone on the same crawl (BENCH_RESPONSES)"
	@echo "make bench-cluster   extraction shipped (make package) to a local standalone cluster: 1 vs 2 one-core workers"
	@echo "make train           train a GPT on a mixture (MANIFEST=$(MANIFEST) PRESET=$(PRESET) TRAIN_OUT=$(TRAIN_OUT) TRAIN_ARGS=...)"
	@echo "make bench-train     tokens/s of the tiny preset on the CPU (+ GPT-3 Small tokens/s and MFU on CUDA), one JSON line"
	@echo "make experiment      raw crawl vs filtered crawl vs curated mixture: same GPT, held-out loss table (EXPERIMENT_TOKENS=$(EXPERIMENT_TOKENS))"
	@echo "make experiment-real the same on the real-page crawl and the shared corpora, on real text held out of both"
	@echo "make notebooks       execute notebooks/ against a run's outputs (RUN=$(RUN)); copies in $(RUN)/notebooks/"

$(VENV)/.installed: setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,notebooks]'
	@touch $@

venv: $(VENV)/.installed

check-java: venv
	@$(PY) -m curation.spark

sample: venv
	$(PY) -m curation.sample --output $(SAMPLE) --pages $(PAGES) --seed $(SEED)

extract: check-java
	$(SPARK_SUBMIT) jobs/extract.py --input $(INPUT) --output $(OUT) --extractor $(EXTRACTOR) --overwrite

rules: check-java
	$(SPARK_SUBMIT) jobs/rules.py --input $(RUN)/extract/documents --output $(RUN)/rules --languages $(LANGUAGES) \
		$(addprefix --blocklist ,$(BLOCKLISTS)) --overwrite

classify: check-java
	$(SPARK_SUBMIT) jobs/classifier.py $(addprefix --positive ,$(REFERENCE)) --negative crawl=$(CRAWL) \
		--model $(MODEL) --seed $(SEED) --overwrite
	$(SPARK_SUBMIT) jobs/classify.py --model $(MODEL) --input $(CRAWL) --output $(RUN)/classify \
		--alpha $(ALPHA) --alpha-rule $(ALPHA_RULE) --seed $(SEED) --overwrite

dedup: check-java
	$(SPARK_SUBMIT) jobs/dedup.py --dataset crawl=$(RUN)/classify/kept $(addprefix --dataset ,$(REFERENCE)) \
		--priority $(PRIORITY) --output $(RUN)/dedup --overwrite

decontaminate: check-java
	$(SPARK_SUBMIT) jobs/decontaminate.py --input $(DECONTAM_INPUT) --benchmarks $(BENCHMARKS) \
		--output $(RUN)/decontaminate --overwrite

mixture: check-java
	$(SPARK_SUBMIT) jobs/mixture.py $(if $(WEIGHTS),--weights $(WEIGHTS)) $(addprefix --dataset ,$(MIXTURE_DATASETS)) \
		$(if $(TOKEN_BUDGET),--token-budget $(TOKEN_BUDGET)) --vocab-size $(VOCAB_SIZE) --seed $(SEED) \
		--output $(RUN)/mixture --overwrite

demo: check-java sample $(VENV)/.torch
	$(SPARK_SUBMIT) jobs/pipeline.py --config configs/demo.toml
	@# the end of the flow: the bundled trainer reads the manifest (a few seconds with the nano preset)
	rm -rf $(RUN)/train
	$(PY) -m curation.train --manifest $(RUN)/mixture --preset nano --tokens 3e4 --out $(RUN)/train

test: check-java $(VENV)/.torch lint
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench-extract bench-rules bench-classify bench-dedup bench-decontaminate bench-mixture bench-pipeline: check-java
	$(PY) -m curation.benchmarks $(@:bench-%=%)

bench-cluster: check-java package
	$(PY) -m curation.benchmarks cluster

# training: PyTorch (the CPU wheel is enough), installed once beside the package
TORCH ?= torch==2.13.0
MANIFEST ?= $(RUN)/mixture
PRESET ?= tiny
TRAIN_OUT ?= $(RUN)/train
TRAIN_ARGS ?=
EXPERIMENT_TOKENS ?= 1e6

.PHONY: train bench-train experiment

$(VENV)/.torch: $(VENV)/.installed
	$(PY) -m pip install -q '$(TORCH)'
	@touch $@

train: $(VENV)/.torch
	$(PY) -m curation.train --manifest $(MANIFEST) --preset $(PRESET) --out $(TRAIN_OUT) $(TRAIN_ARGS)

bench-train: $(VENV)/.torch
	$(PY) -m curation.benchmarks train

experiment: check-java $(VENV)/.torch
	$(PY) -m curation.experiment --run $(RUN) --tokens $(EXPERIMENT_TOKENS) --seed $(SEED)

# the same pipeline on real pages: the real-page crawl built from ../shared/data/html, the shared corpora,
# less the sites and documents `realsplit` holds out for experiment-real (configs/realcrawl.toml reads data/realsplit)
REALSPLIT := data/realsplit
REALCRAWL ?= data/realcrawl
RESPONSES ?= 3000

.PHONY: realsplit realcrawl demo-real experiment-real
realsplit: venv
	$(PY) -m curation.realsplit --output $(REALSPLIT) --seed $(SEED)

realcrawl: realsplit
	$(PY) -m curation.realcrawl --output $(REALCRAWL) --responses $(RESPONSES) --seed $(SEED) --html $(REALSPLIT)/html

demo-real: check-java realcrawl
	$(SPARK_SUBMIT) jobs/pipeline.py --config configs/realcrawl.toml

experiment-real: demo-real $(VENV)/.torch
	$(PY) -m curation.experiment --run data/realcrawl-run --held-out $(REALSPLIT) --tokens $(EXPERIMENT_TOKENS) --seed $(SEED)

# the whole pipeline from one config; the test that runs it on a standalone cluster
CONFIG ?= configs/demo.toml

.PHONY: pipeline package test-cluster
pipeline: check-java
	$(SPARK_SUBMIT) jobs/pipeline.py --config $(CONFIG)

# what a cluster's executors need: build/requirements.lock, build/env.tar.gz, build/curation.zip
BUILD ?= build
package: venv
	$(PY) -m curation.package --out $(BUILD)

test-cluster: check-java package
	$(PY) -m pytest -q -m cluster tests/test_cluster.py

.PHONY: notebooks
notebooks: venv
	$(PY) -m curation.notebooks --run $(RUN)

clean:
	rm -rf data/demo data/sample spark-warehouse metastore_db
