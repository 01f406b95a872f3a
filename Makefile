# One entry point for people and CI. `make test` is what .ci/run calls.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck sandbox bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install lint
	$(BIN)/pytest -n 2 -q

sandbox: install
	$(BIN)/mesh-upgrade-bot sandbox --port 8080

bench: install
	$(BIN)/python bench/census.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
