# smsdesk: the same commands everywhere (README, CI, laptops). `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Serving processes use numpy/scikit-learn and torch together: one BLAS thread each keeps their
# thread pools from fighting over the cores (p95 16 ms -> 108 ms when they do).
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE ?= 1
export ANONYMIZED_TELEMETRY ?= False

.PHONY: help install browser-deps run test soak test-fast lint format bench eval eval-gate clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install smsdesk with its dev tools (idempotent)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The CPU build of torch first: any other spec pulls gigabytes of CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

browser-deps: ## Debian's Chromium (console browser tests) and libfaketime, where missing
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || missing="$$missing faketime"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; \
	  else echo "browser tests will skip: apt-get install$$missing"; exit 0; fi; \
	  echo "installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: install ## Start smsdesk on the embedded defaults (SQLite, console SMS provider)
	$(BIN)/smsdesk serve

test: install browser-deps ## Run the whole test suite (PostgreSQL and browser tests skip with a reason when their server or browser is missing)
	$(BIN)/pytest -n 2 --dist loadgroup -m "not soak"

soak: install ## The proof-sized runs (the 1,000-number opt-out race on SQLite and PostgreSQL)
	$(BIN)/pytest -n 2 --dist loadgroup -m soak

test-fast: install ## The test suite without the slow marker
	$(BIN)/pytest -n 2 -m "not slow"

lint: install ## ruff (lint + format check) and mypy --strict on app/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## Run the benchmarks; results go to bench/results/*.json
	$(BIN)/python bench/compliance_throughput.py
	$(BIN)/python bench/compliance_false_positives.py
	$(BIN)/python bench/webhook_ingress.py
	$(BIN)/python bench/procrastinate_workers.py
	$(BIN)/python bench/ai_latency.py
	$(BIN)/python bench/console_pages.py
	$(BIN)/python bench/abuse.py

eval: install ## Every eval suite on the shipped data; the report lands in evals/reports/
	$(BIN)/smsdesk eval all

eval-gate: install ## The CI subset of the evals, gated on evals/baseline.json (about 2 minutes)
	$(BIN)/smsdesk eval all --quick --baseline evals/baseline.json --out evals/reports/gate

clean: ## Remove the virtualenv, caches and local data
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis data
