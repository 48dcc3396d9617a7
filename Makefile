# Fondation — the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check -c requirements/constraints.txt
PYTEST_ARGS ?=

.PHONY: demo test test-llm lint bench bench-peers install install-test local-llm system-deps assets clean

## Runtime environment: the package and its pinned dependencies.
$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Fondation needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	@touch $@

## Test environment: the same plus the test tools.
$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test]'
	@touch $@

install: $(VENV)/.installed assets
install-test: $(VENV)/.installed-test assets

## Browser assets (mermaid, htmx) from npm at the versions package.json pins, into src/fondation/render/vendor/.
assets:
	@scripts/fetch-assets.sh

## PostgreSQL server, git, Node.js, Chromium and deploy/'s validators (systemd-analyze, promtool, logrotate)
## from the Debian packages, when missing (needs root).
system-deps:
	@scripts/install-system-deps.sh

## Set everything up and run the main job on the embedded defaults (SQLite, no server needed).
demo: $(VENV)/.installed assets
	@scripts/demo.sh $(BIN)/fondation

## Set everything up and run the whole suite on SQLite and on a throwaway PostgreSQL.
test: system-deps $(VENV)/.installed-test assets lint
	scripts/with-postgres.sh $(BIN)/pytest -n 2 -q -p no:cacheprovider $(PYTEST_ARGS)

## The real local LLM (llama-cpp-python's OpenAI-compatible server and SmolLM2-135M) in the virtualenv: built
## once (~6 min) into a wheel cache outside the work tree, then installed from it in seconds (see the script).
local-llm: $(VENV)/.installed-test
	@scripts/install-local-llm.sh $(BIN)/python

## The tests marked `local_llm` (left out of `make test`), against a real model served on 127.0.0.1.
test-llm: system-deps $(VENV)/.installed-test local-llm
	scripts/with-postgres.sh $(BIN)/pytest -q -p no:cacheprovider -m local_llm $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

## Benchmarks (not tests): the job queue and the worker, figures written to docs/BENCHMARKS.md.
bench: system-deps $(VENV)/.installed-test
	scripts/with-postgres.sh $(BIN)/python -m bench.run --out docs/BENCHMARKS.md

## The job queue against procrastinate and pgqueuer on one throwaway PostgreSQL, figures written to
## docs/BENCHMARKS-PEERS.md. The peers go into a virtualenv of their own, outside the work tree (see
## scripts/bench-peers.sh), never into $(VENV). PEERS_ARGS takes bench.peers.run's options (--jobs N ...).
bench-peers: system-deps
	scripts/with-postgres.sh scripts/bench-peers.sh --out docs/BENCHMARKS-PEERS.md $(PEERS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis node_modules src/fondation/render/vendor
