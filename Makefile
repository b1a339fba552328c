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
.PHONY: help install run app test test-fast test-browser lint format bench clean

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

# The web app's packages (gradio; playwright drives a browser in its tests): an optional
# extra, installed on first use of `make app` or `make test-browser`.
APP_STAMP := $(VENV)/.installed-app
$(APP_STAMP): $(STAMP)
	$(PY) -m pip install -e '.[app]'
	touch $(APP_STAMP)

run: $(STAMP) ## The whole loop on the embedded dataset (CPU, <15 min): FOMM, fakes, detector, studies, report
	$(PY) -m loop

app: $(APP_STAMP) ## The web app on 127.0.0.1, port APP_PORT (7860): animate, detect, browse the loop reports
	$(PY) -m loop.app

# One pytest-xdist worker a core (TEST_WORKERS=0: one process); a test file stays on one
# worker, so its module fixtures are built once.
TEST_WORKERS ?= auto
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test: $(STAMP) ## Run the whole test suite
	$(PYTEST)

test-fast: $(STAMP) ## Run the tests without the slow end-to-end ones
	$(PYTEST) -m "not slow"

# Debian's chromium, headless, drives the page; installed with apt-get where missing (as
# root, or through sudo), else the target says what to install.
CHROMIUM := $(firstword $(shell command -v chromium chromium-browser 2>/dev/null))
test-browser: $(APP_STAMP) ## The web app's tests, in a headless Chromium (installs it if missing)
ifeq ($(CHROMIUM),)
	@if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	  sudo apt-get update && sudo apt-get install -y chromium; \
	else echo "error: no chromium on PATH; install Debian's chromium package (apt-get install chromium) and rerun make test-browser" >&2; exit 1; fi
endif
	$(PY) -m pytest tests/app -p no:cacheprovider

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
