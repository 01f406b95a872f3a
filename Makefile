# One entry point for people and CI. `make test` is what .ci/run calls.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck sandbox bench clean postgres release

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
	$(BIN)/pytest -n 2 --dist worksteal -q  # an idle worker takes half of the other's queue

postgres:  # as root: install (Debian) and start PostgreSQL, create the test role; prints the URL
	.ci/postgres

sandbox: install
	$(BIN)/mesh-upgrade-bot sandbox --port 8080

bench: install
	$(BIN)/python bench/census.py

# One install manifest per overlay, named by the version of the installed package:
# $(DIST)/mesh-upgrade-bot-<version>-base.yaml (deploy/) and -ha.yaml (deploy/overlays/ha),
# each exactly what `kubectl kustomize` renders (tests/deploy checks both). Refuses when
# deploy/components/release stamps another version than the package's.
DIST ?= dist
RELEASE_OVERLAYS := base=deploy ha=deploy/overlays/ha
release: install
	@version=$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("mesh-upgrade-bot"))') \
	&& mkdir -p $(DIST) && for pair in $(RELEASE_OVERLAYS); do \
	  out=$(DIST)/mesh-upgrade-bot-$$version-$${pair%%=*}.yaml; \
	  kubectl kustomize $${pair#*=} > $$out.tmp || exit 1; \
	  grep -q "app.kubernetes.io/version: $$version$$" $$out.tmp \
	  && grep -q "image: .*:$$version$$" $$out.tmp \
	  || { echo "$${pair#*=} is not version $$version: set it in deploy/components/release" >&2; \
	       rm -f $$out.tmp; exit 1; }; \
	  mv $$out.tmp $$out && echo $$out; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
