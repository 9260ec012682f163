# The README's two commands: `make dev` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: dev test chaos lint format bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The server with its dev extras, and the Python client package (clients/python) beside it.
$(STAMP): pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e clients/python
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/harmonia dev

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The fault-injection suite (tests/chaos, README "Reliability"): real processes, real Postgres
# and Redis, each scenario bounded in time. CHAOS_PROFILE=short runs a smaller load.
chaos: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/chaos $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app worker config tests bench examples clients/python
	$(BIN)/ruff format --check app worker config tests bench examples clients/python

format: $(STAMP)
	$(BIN)/ruff check --fix app worker config tests bench examples clients/python
	$(BIN)/ruff format app worker config tests bench examples clients/python

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .harmonia .pytest_cache
