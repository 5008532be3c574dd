# Linli: `make run` starts the whole system, `make test` runs lint and the test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# pytest-xdist workers for `make test` (each uses its own Redis database: 15, 14, …)
TEST_WORKERS ?= 2

.PHONY: install run test lint format migrate seed bench screenshots clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	VENV=$(VENV) scripts/run-dev

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: install
	FLASK_APP=wsgi $(BIN)/flask db upgrade

seed: install
	FLASK_APP=wsgi $(BIN)/flask seed

# The shoppers' pages at 375x812 and the staff console's pages at 1280x800 (BD's board,
# the deal editor and the calendar; the CS queue and the money overview) in headless
# chromium, written to docs/screenshots/ (and the free-meal giveaway: the campaign, the entry
# form and the console's campaign).
screenshots: install
	LINLI_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q -p no:randomly tests/browser/test_screens.py \
	  tests/browser/test_merchant_screens.py tests/browser/test_staff_bd.py tests/browser/test_staff_ops.py \
	  tests/browser/test_giveaway.py tests/browser/test_reviews.py

# Benchmarks need wrk (apt-get install wrk) and PostgreSQL at 127.0.0.1 (throwaway databases).
# They use Redis DB 13 (BENCH_REDIS_URL), flushed before and after: clear of make test's DBs.
# Each prints its figures beside /healthz from the same run; the flash opening exits non-zero
# on oversold units, a shopper over the limit or a stock counter off.
bench: install
	$(BIN)/python bench/per_request.py --requests 1000 --top 8
	$(BIN)/python bench/auth.py --wrk --postgres
	$(BIN)/python bench/catalog.py --postgres
	$(BIN)/python bench/flash_opening.py --restart-redis

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .run *.egg-info
