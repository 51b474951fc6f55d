# The README's two commands: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# `make run` passes these to `perpflow dev` when set: make run TEMPORAL_PORT=7300 UI_PORT=8300, or
# any of its options as ARGS: make run ARGS="--anvil-port 8600 --duration 600".
TEMPORAL_PORT ?=
UI_PORT ?=
SIM_PORT ?=
ANVIL_PORT ?=
METRICS_PORT ?=
ARGS ?=
DEV_ARGS = $(if $(TEMPORAL_PORT),--temporal-port $(TEMPORAL_PORT)) $(if $(UI_PORT),--ui-port $(UI_PORT)) \
	$(if $(SIM_PORT),--sim-port $(SIM_PORT)) $(if $(ANVIL_PORT),--anvil-port $(ANVIL_PORT)) \
	$(if $(METRICS_PORT),--metrics-port $(METRICS_PORT))

.PHONY: install run test lint typecheck format bench lock contract dashboards clean

install:
	@bash scripts/bootstrap.sh

run: install
	$(BIN)/perpflow dev $(strip $(DEV_ARGS) $(ARGS))

test: install
	@bash scripts/system.sh
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest -n 2 --dist loadscope -m "not serial" $(PYTEST_ARGS)
	$(BIN)/pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: none selected by PYTEST_ARGS

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

# Regenerate config/grafana/dashboards/*.json from perpflow/dashboards (a test holds them equal).
dashboards: install
	$(BIN)/python -m perpflow.dashboards

# Recompile contracts/LeverageGuard.sol into the committed artifact (needs Node).
contract: install
	node scripts/compile_contract.js

clean:
	rm -rf .perpflow .pytest_cache .mypy_cache .ruff_cache
