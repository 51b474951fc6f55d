# The README's two commands: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install run test lint typecheck format bench lock contract clean

install:
	@bash scripts/bootstrap.sh

run: install
	$(BIN)/perpflow dev

test: install
	@bash scripts/system.sh
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	@bash scripts/system.sh
	@set -e; for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

# Re-resolve the Python lock after editing pyproject.toml dependencies.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -q --no-header -o requirements.lock
	sed -i '1i # Locked with: make lock  (uv pip compile pyproject.toml --extra dev --python-version 3.11)' requirements.lock

# Recompile contracts/LeverageGuard.sol into the committed artifact (needs Node).
contract: install
	node scripts/compile_contract.js

clean:
	rm -rf .perpflow .pytest_cache .mypy_cache .ruff_cache
