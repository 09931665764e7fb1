# covidlake: `make run` runs the whole pipeline on the bundled sample; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/covidlake run

test: $(STAMP)
	bash scripts/test-deps.sh
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	bash scripts/test-deps.sh
	$(BIN)/python -m pytest -m "not integration and not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts

sample:
	$(PYTHON) scripts/make_sample.py ../shared/data/covid19-lake src/covidlake/sample/covid19-lake

clean:
	rm -rf $(VENV) lake covidlake.duckdb covidlake.duckdb.wal
