# Two set-up commands: `make demo` and `make test`. Everything else is for operators.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.local/dagster
STAMP := $(VENV)/.installed

.PHONY: install demo test ui lint format doctor dbt-parse clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) dbt-parse

# dagster-dbt reads dbt's manifest at load time; prepare it explicitly (prepare_if_dev only acts under `dagster dev`).
dbt-parse: $(STAMP)
	cd dbt_project && ../$(BIN)/dbt parse --quiet --profiles-dir . --target duckdb

demo: install
	$(BIN)/python -m pipelines.demo.run

# Two workers, one per core; a test file stays on one worker so its module fixtures build once,
# and files go out in collection order (slow ones first, see tests/conftest.py). The 25
# slowest tests are listed at the end, to keep the suite inside CI's time budget.
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=25

ui: install
	$(BIN)/python -m pipelines local-instance
	$(BIN)/dagster dev -m pipelines.definitions

doctor: install
	$(BIN)/python -m pipelines doctor

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .local dbt_project/target dbt_project/logs
