# `make check` runs every guardrail (lint, format, import contracts, types) and reports each one;
# `make test` runs the suite. Tools come from .venv (pip install -e '.[test]'), or BIN=... .
BIN ?= $(if $(wildcard .venv/bin/python),.venv/bin,$(patsubst %/,%,$(dir $(shell command -v python3))))

.PHONY: check lint format-check imports types test

check:  ## every guardrail, each run even when an earlier one fails
	@$(MAKE) --no-print-directory -k lint format-check imports types

lint:
	$(BIN)/ruff check .

format-check:
	$(BIN)/ruff format --check --output-format concise .

imports:  ## the contracts in pyproject.toml [tool.importlinter]
	$(BIN)/lint-imports

types:  ## mypy over domain/ (strict), engine/ and store/: [tool.mypy] in pyproject.toml
	$(BIN)/mypy

test:
	$(BIN)/python -m pytest -q
