# One target per pipeline stage; each runs alone on the previous stage's output.
# Override any variable: `make extract INPUT='warcs/*.warc.gz' OUT=runs/x/extract`.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))
export CURATION_SHARED_DATA ?= $(abspath ../shared/data)
SPARK_MASTER ?= local[*]
SPARK_SUBMIT = $(VENV)/bin/spark-submit --master '$(SPARK_MASTER)' --driver-memory 4g --conf spark.ui.showConsoleProgress=true

SEED ?= 0
PAGES ?= 600
SAMPLE ?= data/sample
RUN ?= data/demo
EXTRACTOR ?= trafilatura
INPUT ?= $(SAMPLE)/crawl
OUT ?= $(RUN)/extract

.PHONY: help venv check-java sample extract demo test bench-extract clean

help:
	@echo "make demo            set up .venv, generate the sample crawl, run the pipeline on it"
	@echo "make test            set up .venv, run the test suite"
	@echo "make sample          generate the seeded sample (PAGES=$(PAGES) SEED=$(SEED) SAMPLE=$(SAMPLE))"
	@echo "make extract         WARC -> documents (INPUT=$(INPUT) OUT=$(OUT) EXTRACTOR=$(EXTRACTOR))"
	@echo "make bench-extract   Spark job vs a plain loop, and extractor F1 on ../shared/data/html"

$(VENV)/.installed: setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

venv: $(VENV)/.installed

check-java: venv
	@$(PY) -m curation.spark

sample: venv
	$(PY) -m curation.sample --output $(SAMPLE) --pages $(PAGES) --seed $(SEED)

extract: check-java
	$(SPARK_SUBMIT) jobs/extract.py --input $(INPUT) --output $(OUT) --extractor $(EXTRACTOR) --overwrite

demo: check-java sample
	$(MAKE) --no-print-directory extract INPUT=$(SAMPLE)/crawl OUT=$(RUN)/extract
	@$(PY) -m curation.report $(RUN)

test: check-java
	$(PY) -m pytest -q

bench-extract: check-java
	$(PY) -m curation.bench extract

clean:
	rm -rf data/demo data/sample spark-warehouse metastore_db
