# make install | run | serve | test | fuzz | lint | bench — each works on a fresh machine with nothing set.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
STAMP := $(VENV)/.installed

.PHONY: install run serve test fuzz lint bench bench-ab clean

install: $(STAMP)

$(STAMP): requirements.txt setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -e '.[test,dev]'
	touch $(STAMP)

run: install
	$(BIN)/flask --app messaging init-db
	PORT=$(PORT) $(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

# The production front (deploy/front.py): init-db, then nginx on PORT, buffering, before gunicorn
# on a Unix socket; both in the foreground, Ctrl-C or SIGTERM stops both. Files go to RUN_DIR (run/).
serve: install
	exec env PORT=$(PORT) $(BIN)/python deploy/front.py

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

# The suite's fuzz test with many more generated requests per operation.
FUZZ_EXAMPLES ?= 500
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/test_fuzz.py $(PYTEST_ARGS)

# Seeds MariaDB (databases messaging_bench*), loads the service with wrk, prints the table.
# Sizes and durations: BENCH_* variables (bench/run.py); BENCH_SMOKE=1 for a quick pass.
bench: install
	$(BIN)/python -m bench

# Only the A/B against BENCH_BASELINE (a checkout of another commit): bench/ab.py.
bench-ab: install
	$(BIN)/python -m bench.ab

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

clean:
	rm -rf $(VENV) instance logs run .pytest_cache
