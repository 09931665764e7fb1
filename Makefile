# covidlake: `make run` runs the whole pipeline on the bundled sample; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint lock sample clean bench

# Installs the locked versions (requirements.lock), then the project itself.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

lock: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	( echo "# The versions CI and 'make' install (pip freeze of the dev environment; audited by pip-audit)."; \
	  echo "# Regenerate: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -vi '^covidlake' ) > requirements.lock

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

# A benchmark, not a test: see bench/bench.py. BENCH="full scale x10 --spark" for more.
BENCH ?= sample full scale
bench: $(STAMP)
	$(BIN)/python bench/bench.py $(BENCH)
