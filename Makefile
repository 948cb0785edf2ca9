# lprx: `make demo` runs the whole job, `make test` runs every test tier.
# Both set everything up themselves on a machine with Python 3.11, Java 17 and Maven.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LPRX   := $(BIN)/lprx
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "lprx needs Python 3.11"'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install lprx with its pinned dependencies

services: install ## Fetch (first time) and start Kafka and Cassandra
	$(LPRX) services up

models: install ## Provision the OCR weights offline (first time; LPRX_OCR_BACKEND's)
	$(LPRX) models

setup: services ## Create topics, keyspace and tables
	$(LPRX) setup

demo: services models ## Run the whole job: services, workers, cameras, hits to partners
	$(LPRX) demo

keycloak: install ## Fetch (first time) and start the local Keycloak (an agency identity provider)
	$(LPRX) services up keycloak

tools: ## helm, promtool, prometheus, kubernetes-validate into .cache/tools (first time)
	bash deploy/tools.sh

deploy-check: install tools ## Lint and render the chart over its values matrix, promtool rules and tests
	PYTHON=$(BIN)/python bash deploy/validate.sh

browser: ## Debian's Chromium for the console's browser tests (first time; apt)
	bash deploy/browser.sh

test: services models keycloak browser deploy-check ## Deploy checks, unit, integration (real servers), browser and end-to-end tests
	# The hotlist reload test at full size: 1,000,000 entries reloaded while matching runs.
	LPRX_RELOAD_ENTRIES=1000000 $(BIN)/pytest tests/unit tests/fuzz tests/integration tests/e2e

test-unit: install ## Unit tests only (no servers)
	$(BIN)/pytest tests/unit

lint: install ## ruff and mypy --strict
	$(BIN)/ruff check pipelines connectors schemas tests benchmarks
	$(BIN)/ruff format --check pipelines connectors schemas tests benchmarks
	$(BIN)/mypy

fuzz: install ## Long fuzzing run: LPRX_FUZZ_EXAMPLES cases per target (default 10000)
	LPRX_FUZZ_EXAMPLES=$${LPRX_FUZZ_EXAMPLES:-10000} $(BIN)/pytest tests/fuzz -q -p no:cacheprovider --hypothesis-show-statistics

check: lint test ## What CI runs

bench: services ## Benchmarks (print JSON)
	$(BIN)/python benchmarks/pipeline.py

faults: install ## Fault suite on its own servers: kills worker and broker, stops Cassandra (JSON)
	$(BIN)/python benchmarks/faults.py --reads $${FAULT_READS:-2000}

down: install ## Stop Kafka, Cassandra and Keycloak
	$(LPRX) services down

clean: ## Remove the virtualenv and caches (keeps server data in .cache)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install services keycloak models setup demo tools deploy-check browser test test-unit lint check bench faults fuzz down clean
