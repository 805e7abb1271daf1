# The two commands a newcomer needs: `make run` and `make test`. Both set up
# everything on a fresh machine (a virtualenv in .venv, the tiny offline models).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pinned and installed first: an unpinned torch makes pip pick the CUDA build
# (several GB) even on hosts without a GPU. On a CPU-only host where this version
# resolves to a CUDA wheel, add the CPU index:
#   make run PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
PIP_ARGS ?=
TINY_DIR := research/models/tiny
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: help venv tiny run test lint format bench gpu-check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet $(PIP_ARGS) -e '.[dev]'
	@touch $@

venv: $(BIN)/.installed ## create .venv with every dependency

# The recipes as prerequisites: a changed recipe (a new tiny model) rebuilds the set.
$(TINY_DIR)/tiny-models.json: $(BIN)/.installed imagegen/_tiny.py imagegen/_tiny_preference.py
	$(BIN)/python -m imagegen.tiny --out $(TINY_DIR)

tiny: $(TINY_DIR)/tiny-models.json ## build the tiny offline models (under a second)

run: venv tiny ## run backend + runner locally on the tiny model (no GPU, no Docker)
	$(BIN)/python scripts/run_local.py --port $(PORT)

test: venv ## run the whole test suite (the compose test too, where Docker can be had)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv ## ruff, mypy and the import contract (pyproject's [tool.importlinter])
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv ## lease micro-benchmarks and the contention benchmark (appends to docs/performance.md)
	$(BIN)/python -m perf.lease
	$(BIN)/python -m perf.contention

gpu-check: venv ## the GPU host check on CUDA (docs/gpu_check.md); DRY=1 runs it on the CPU
	$(BIN)/python -m perf.gpu_check $(if $(DRY),--dry-run,)

clean: ## remove the virtualenv, caches and the tiny models
	rm -rf $(VENV) $(TINY_DIR) .pytest_cache .mypy_cache .ruff_cache
