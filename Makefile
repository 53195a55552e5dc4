# phi-replay: `make demo` to see it work, `make test` to prove it. Both set up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
CHROMIUM ?= /usr/bin/chromium
SDK_SOURCES := $(shell find sdk-js/src -type f 2>/dev/null) sdk-js/scripts/build.mjs sdk-js/tsconfig.json sdk-js/package.json

.PHONY: help setup demo test lint test-sdk test-py test-e2e chromium bench clean

help:
	@echo "make demo   set up, then run the collector and a sample clinical app"
	@echo "make test   set up, then run every check and test"

setup: $(VENV)/.installed sdk-js/dist/phi-replay.min.js chromium

# The virtual environment, with the package (editable) and dev tools at locked versions.
# Every file pip installs must match its hash in the lock; the package itself is built
# with the locked setuptools, not one fetched into an isolated (unhashed) build.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

sdk-js/node_modules/.installed: sdk-js/package.json sdk-js/package-lock.json
	cd sdk-js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

sdk-js/dist/phi-replay.min.js: sdk-js/node_modules/.installed $(SDK_SOURCES)
	cd sdk-js && npm run --silent build

# Playwright cannot download browsers here: the tests drive Debian's Chromium.
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "installing Debian's chromium"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium >/dev/null; \
	fi

demo: setup
	$(VENV)/bin/phi-replay demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	cd sdk-js && npm run --silent typecheck

test-sdk: setup
	cd sdk-js && npm test

test-py: setup
	$(PY) -m pytest tests

test-e2e: setup
	$(PY) -m pytest e2e

# Two runs: the e2e browser fixture keeps Playwright's event loop open for its whole
# session, which async unit tests in the same process cannot share.
test: lint test-sdk
	$(PY) -m pytest tests
	$(PY) -m pytest e2e

# Benchmarks (bench/README.md): the recorder against rrweb's record() in the same
# Chromium; the collector against a bare WebSocket receiver on the same machine.
bench: setup
	$(PY) -m bench.recorder
	$(PY) -m bench.collector
	$(PY) -m bench.session_list

clean:
	rm -rf $(VENV) sdk-js/node_modules sdk-js/dist .mypy_cache .ruff_cache .pytest_cache
