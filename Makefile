# Rainbow developer entry points. `make demo` runs the main scenario, `make test` the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps demo demo-down demo-cli test lint k8s-tools upstream-client proto clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(STAMP)

# Prometheus and promtool for the metrics tests, PostgreSQL for the store and server tests
# (Debian's packages); needs root when missing.
system-deps:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# The main scenario: hub + three member clusters, server, hub operator and agents; left running.
demo: k8s-tools
	PATH="$(abspath $(BIN)):$$PATH" scripts/demo-k8s

demo-down: setup
	PATH="$(abspath $(BIN)):$$PATH" scripts/demo-k8s down

# The server alone, driven by the CLI through a scripted three-cluster scenario.
demo-cli: setup
	PATH="$(abspath $(BIN)):$$PATH" scripts/demo-cli

k8s-tools: setup
	$(BIN)/python -m rainbow.localk8s build

# Upstream rainbow's own Python client, in its own environment (tests/upstream drives a server with it).
upstream-client:
	scripts/upstream-client >/dev/null

proto: setup
	PYTHON=$(abspath $(BIN))/python scripts/gen-proto

lint: setup
	PYTHON=$(abspath $(BIN))/python scripts/gen-proto --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint k8s-tools system-deps upstream-client
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
