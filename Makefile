# One entry point for people and CI. `make test` is what .ci/run calls.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck sandbox bench clean postgres

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml meshsim/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e ./meshsim -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The PostgreSQL tests (store, two replicas) use MESH_UPGRADE_TEST_POSTGRES_URL; without it they
# skip, except in CI. When it is unset and `make postgres` has run (its server answers), the
# same URL is passed on.
ifeq ($(MESH_UPGRADE_TEST_POSTGRES_URL),)
ifneq ($(shell pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && echo up),)
export MESH_UPGRADE_TEST_POSTGRES_URL := $(shell .ci/postgres --print-url)
endif
endif

test: install lint
	$(BIN)/pytest -n 2 -q

postgres:  # as root: install (Debian) and start PostgreSQL, create the test role; prints the URL
	.ci/postgres

sandbox: install
	$(BIN)/mesh-upgrade-bot sandbox --port 8080

bench: install
	$(BIN)/python bench/census.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
