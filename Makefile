# deepfake-lab: every target installs what it needs first, so each is one command on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# wandb syncs only where the user configured a key (WANDB_API_KEY, or the api.wandb.ai entry
# `wandb login` writes to ~/.netrc or $NETRC); elsewhere runs stay offline instead of asking
# for a login. A WANDB_MODE of the user's own wins. Tests and CI are offline regardless
# (tests/conftest.py, .ci/run).
WANDB_KEY := $(shell [ -n "$$WANDB_API_KEY" ] || grep -qs 'api\.wandb\.ai' "$${NETRC:-$$HOME/.netrc}" && echo configured)
ifeq ($(WANDB_KEY),)
export WANDB_MODE ?= offline
endif
# No hub downloads, no update checks: the project runs from what is installed.
export HF_HUB_OFFLINE ?= 1
export NO_ALBUMENTATIONS_UPDATE ?= 1

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast lint format bench clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -e '.[dev]'
	$(PY) -m pip install --no-deps facenet-pytorch==2.6.0
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install torch, the project (editable) and facenet-pytorch

run: $(STAMP) ## The whole loop on the embedded dataset (CPU, <15 min): FOMM, fakes, detector, studies, report
	$(PY) -m loop

test: $(STAMP) ## Run the whole test suite
	$(PY) -m pytest

test-fast: $(STAMP) ## Run the tests without the slow end-to-end ones
	$(PY) -m pytest -m "not slow"

lint: $(STAMP) ## Check format and lint with ruff, and the layer contract with import-linter
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

format: $(STAMP) ## Format and fix lint in place
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP) ## Run the benchmarks (they print numbers)
	@for b in $$(grep -l '__main__' benchmarks/*.py); do echo "== $$b"; $(PY) $$b || exit 1; done

clean: ## Remove caches, logs and outputs (keeps .venv and data/)
	rm -rf .pytest_cache .ruff_cache .import_linter_cache logs outputs multirun
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
