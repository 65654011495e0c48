# The only entry points; .ci/run calls the same targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
# Named for what it installs: a venv made before bytecode was compiled at install gets it once.
STAMP := $(VENV)/.installed-from-lock-compiled
export AWS_DEFAULT_REGION ?= eu-west-1
export SAM_CLI_TELEMETRY := 0
export BC_SKIP_MAPPING := TRUE
# sam build needs the Lambda runtime's Python (3.13); pyenv provides it when it is not on PATH.
PYTHON313_DIR := $(shell for p in "$$(command -v python3.13 2>/dev/null)" $$HOME/.pyenv/versions/3.13*/bin/python3.13; do [ -n "$$p" ] && "$$p" -c '' 2>/dev/null && { dirname "$$p"; break; }; done)

.PHONY: help install local unit test lint security build bench oracle oracle-freeze requirements clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	@python3 -m venv .tools
	@.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) uv.lock pyproject.toml
	@echo "installing the locked environment into $(VENV) ..."
	@# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on this machine), every
	@# python process would otherwise compile boto3, botocore and moto from source again.
	@$(UV) sync --frozen --quiet --compile-bytecode
	@touch $(STAMP)

install: $(STAMP) ## create .venv from uv.lock (quick when up to date)

local: install ## run the whole pipeline on the local twin (no AWS, no Docker)
	@$(BIN)/cpctl local demo

unit: install ## the fast loop: unit and template tests only (no twin, no network)
	$(BIN)/pytest tests/unit tests/template -q -n auto

test: install ## pytest, then cfn-lint and sam validate --lint on the template
	$(BIN)/pytest
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint

lint: install ## ruff, ruff format --check, mypy strict on functions/ and cpctl/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@$(UV) export --frozen --no-default-groups --no-hashes --no-emit-project --no-header --quiet | diff -q - dependencies/requirements.txt >/dev/null \
		|| { echo "dependencies/requirements.txt is out of date with uv.lock: run make requirements"; exit 1; }

security: install ## checkov on the template (findings are fixed or suppressed with a reason in the template)
	$(BIN)/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

build: install requirements ## sam build of the real Lambda artifact (needs Python 3.13)
	@test -n "$(PYTHON313_DIR)" || { echo "make build needs python3.13 on PATH (pyenv install 3.13)"; exit 1; }
	PATH="$(PYTHON313_DIR):$$PATH" $(BIN)/sam build

bench: install ## speed and memory benchmarks
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

oracle: install ## the validator against Lightbend Config on the differential corpus (needs java, javac and its jar)
	PYTHONPATH=functions:. $(BIN)/python -m tests.oracle.differential

oracle-freeze: install ## the same, then freeze Lightbend's verdicts as test data (tests/oracle/lightbend-verdicts.json.gz)
	PYTHONPATH=functions:. $(BIN)/python -m tests.oracle.differential --freeze

requirements: install ## export the Lambda's runtime requirements from the lock
	@$(UV) export --frozen --no-default-groups --no-hashes --no-emit-project --no-header --quiet -o dependencies/requirements.txt

clean: ## remove the environment and build output
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache
