# Every target creates or reuses .venv and installs what it needs: nothing by hand.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(AIRFLOW_VERSION)
PYTEST_ARGS ?=

.PHONY: venv test test-fast test-airflow2 lint typecheck demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes (new dependency, new entry point).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -qq --disable-pip-version-check \
		"apache-airflow==$(AIRFLOW_VERSION)" -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The inner loop: unit and emulator-backed integration tests; no example-DAG runs, no scheduler,
# no soak, no emulator internals, no Airflow 2 job. `make test` stays the full suite (and CI's).
FAST_TESTS ?= tests/unit tests/integration
test-fast: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -q -m "not slow and not standalone and not soak" \
		$(FAST_TESTS) $(PYTEST_ARGS)

# Second, smaller job on Airflow 2.11, in its own venv: the hook, operator, client, batch, sensor and
# trigger unit tests, and every example DAG through dag.test() against the emulator.
AIRFLOW2_VERSION ?= 2.11.*
VENV2 ?= .venv-airflow2
BIN2 := $(VENV2)/bin
STAMP2 := $(VENV2)/.installed-airflow2
AIRFLOW2_TESTS ?= tests/unit/hooks tests/unit/operators tests/unit/client tests/unit/batch tests/unit/sensors \
	tests/unit/triggers tests/unit/test_import_light.py tests/dags

$(BIN2)/python:
	$(PYTHON) -m venv $(VENV2)
	$(BIN2)/python -m pip install --quiet --upgrade pip

$(STAMP2): pyproject.toml | $(BIN2)/python
	$(BIN2)/python -m pip install -qq --disable-pip-version-check \
		"apache-airflow==$(AIRFLOW2_VERSION)" -e ".[test]"
	touch $(STAMP2)

test-airflow2: $(STAMP2)
	$(BIN2)/python -m pytest -p no:cacheprovider $(wildcard $(AIRFLOW2_TESTS)) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_abeja tests example_dags bench scripts
	$(BIN)/ruff format --check airflow_provider_abeja tests example_dags bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
