# edgelab's entry points. `make up` and `make test` work on a fresh machine:
# they create the venv, prepare the host (Docker engine, images; built from
# packages when no registry answers) and then do their job.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODES  ?= 1
STORE  ?= 4523
LAB    ?= pos-down-4523
PYTEST_ARGS ?=
LANES  ?= 4  # tests/conftest.py: lanes (a store each) side by side; more only starve 2 cores
SETUP_ARGS ?=    # e.g. --registry-mirror registry.corp:5000, or --offline (root)

.PHONY: up down setup test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@

setup: $(STAMP)  ## decide online/offline once, get kind, kubectl and images (cached)
	$(BIN)/edgelab setup $(SETUP_ARGS)

up: setup  ## store STORE on NODES nodes (workloads, audit trail, learner access), then lab LAB on it
	$(BIN)/edgelab up --store $(STORE) --nodes $(NODES)
	$(BIN)/edgelab lab start $(LAB) --store $(STORE)

down: $(STAMP)
	$(BIN)/edgelab down --store $(STORE)

test: setup  ## unit tests, browser tests and real-cluster tests (what CI runs), in lanes side by side
	./hack/ensure-chromium.sh
	$(BIN)/pytest -n $(LANES) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

test-fast: $(STAMP)  ## unit tests only, for local iteration
	$(BIN)/pytest -m "not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check harness operator tests bench
	$(BIN)/mypy
	$(BIN)/mypy bench  # the scripts behind docs/numbers.md ([tool.mypy] names the packages)
	$(BIN)/lint-imports  # the layers of pyproject.toml's [tool.importlinter]

bench: setup  ## measure build and cluster times; see docs/numbers.md
	$(BIN)/python bench/cluster_times.py --stores

clean:
	rm -rf $(VENV) .pytest-kind
