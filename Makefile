# Every target creates or reuses .venv and installs what it needs: nothing by hand.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(AIRFLOW_VERSION)
PYTEST_ARGS ?=
# Python may cache compiled modules (git-ignored __pycache__): with PYTHONDONTWRITEBYTECODE set in
# the caller's environment, every pytest worker, emulator and child process of every run compiled the
# provider, the emulator and the assertion-rewritten tests again (about 3 s of CPU per worker).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: venv test test-fast test-airflow2 test-distributed test-kill-matrix test-kill-matrix-airflow2 lint typecheck demo bench docs dist test-wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes (new dependency, new entry point). The emulator is
# its own distribution (emulator/): named in the same pip command, it satisfies the `test` extra.
$(STAMP): pyproject.toml emulator/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -qq --disable-pip-version-check \
		"apache-airflow==$(AIRFLOW_VERSION)" -e ./emulator -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

# The whole suite (CI's), in two pytest runs. First everything that can share the machine, on three
# pytest-xdist workers (most of their time is spent waiting on child processes, so a third overlaps
# them on two cores), each with its own Airflow home and emulator; `loadfile` keeps a module on one
# worker, so a module-scoped emulator (or the demo pair) starts once, not once per worker, and
# `--no-loadscope-reorder` hands modules out in the suite's order: the long single-test modules
# (the demo and the secrets run, put first by tests/conftest.py, then tests/dags, tests/docs) first,
# the thousands of quick unit tests last to fill the gaps (xdist's default, most tests first, would
# hand out the minute-long one-test modules last). Then, alone,
# what cannot share it with them: the real `airflow standalone` runs (api-server, scheduler,
# dag-processor and triggerer at once, each a full Airflow) and the soak, whose 0.6 s client read
# timeout assumes an emulator that is not starved of CPU. Those mostly wait (on the scheduler's
# loops, on injected latencies and retry delays), so they share two workers among themselves: the
# soak beside the standalone tests, each worker with a standalone of its own for its share of them.
# PYTEST_ARGS go to both runs; a run that selects nothing (exit 5, e.g. PYTEST_ARGS=tests/unit) is
# not a failure. TEST_WORKERS=0 SERIAL_WORKERS=0 runs both parts serially.
TEST_WORKERS ?= 3
SERIAL_WORKERS ?= 2
SERIAL_TESTS := standalone or soak
test: $(STAMP)
	@status=0; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
		-m "not ($(SERIAL_TESTS))" $(PYTEST_ARGS) \
		|| { rc=$$?; [ $$rc -eq 5 ] || status=$$rc; }; \
	$(BIN)/python -m pytest -n $(SERIAL_WORKERS) --dist load -m "$(SERIAL_TESTS)" $(PYTEST_ARGS) \
		|| { rc=$$?; [ $$rc -eq 5 ] || status=$$rc; }; \
	exit $$status

# The inner loop: unit and emulator-backed integration tests; no example-DAG runs, no scheduler,
# no soak, no emulator internals, no Airflow 2 job. `make test` stays the full suite (and CI's).
# Four pytest-xdist workers, each with its own emulator and Airflow home: the emulator-backed tests
# mostly wait for services to come up, so four of them overlap well even on two cores.
FAST_TESTS ?= tests/unit tests/integration
FAST_WORKERS ?= 4
test-fast: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -q -n $(FAST_WORKERS) \
		-m "not slow and not standalone and not soak" $(FAST_TESTS) $(PYTEST_ARGS)

# Second, smaller job on Airflow 2.11, in its own venv: the hook, operator, client, batch, sensor and
# trigger unit tests, and every example DAG through dag.test() against the emulator.
AIRFLOW2_VERSION ?= 2.11.*
VENV2 ?= .venv-airflow2
BIN2 := $(VENV2)/bin
STAMP2 := $(VENV2)/.installed-airflow2
# On two workers like `make test`'s first part, modules handed out in this order: the example DAGs
# (the long modules, and the ones that migrate the database) first, the unit tests after them.
AIRFLOW2_TESTS ?= tests/dags tests/unit/hooks tests/unit/operators tests/unit/links tests/unit/client tests/unit/batch \
	tests/unit/wait/test_blocking.py tests/unit/wait/test_sensor.py tests/unit/wait/test_service_trigger.py \
	tests/unit/wait/test_service_trigger_edges.py tests/unit/wait/test_training_trigger.py \
	tests/unit/wait/test_pool_clients.py tests/unit/wait/test_pool_listing.py \
	tests/unit/wait/test_transient_error_budget.py tests/unit/test_import_light.py \
	tests/integration/operators/test_kill_emulator.py

$(BIN2)/python:
	$(PYTHON) -m venv $(VENV2)
	$(BIN2)/python -m pip install --quiet --upgrade pip

# cryptography 51 refuses the attribute Airflow 2.11 sets on its Fernet (connections then fail to
# load): Airflow's own constraints pin older releases; this is the one pin the job needs.
$(STAMP2): pyproject.toml emulator/pyproject.toml | $(BIN2)/python
	$(BIN2)/python -m pip install -qq --disable-pip-version-check \
		"apache-airflow==$(AIRFLOW2_VERSION)" "cryptography<51" -e ./emulator -e ".[test]"
	touch $(STAMP2)

test-airflow2: $(STAMP2)
	$(BIN2)/python -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
		$(wildcard $(AIRFLOW2_TESTS)) $(PYTEST_ARGS)

# A real distributed run: the CeleryExecutor with two workers, Redis (Debian's redis-server) and an
# S3-compatible store (moto in server mode), all on loopback, started and stopped by the tests.
DIST_STAMP := $(VENV)/.installed-distributed

$(DIST_STAMP): $(STAMP)
	$(BIN)/python -m pip install -qq --disable-pip-version-check \
		"apache-airflow==$(AIRFLOW_VERSION)" -e ./emulator -e ".[test,distributed]"
	command -v redis-server >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server; }
	touch $@

test-distributed: $(DIST_STAMP)
	ABEJA_TEST_DISTRIBUTED=1 $(BIN)/python -m pytest -p no:cacheprovider tests/distributed $(PYTEST_ARGS)

# Kill, timeout and crash under a real scheduler and triggerer (docs/guarantees.md, section 10):
# one `airflow standalone` runs every cell at once against the emulator, its metadata database on a
# private PostgreSQL (the `kill-matrix` extra: pgserver's bundled server and psycopg), started and
# stopped by the test on a unix socket (SQLite's one writer at a time crashed the scheduler).
KILL_STAMP := $(VENV)/.installed-kill-matrix

$(KILL_STAMP): $(STAMP)
	$(BIN)/python -m pip install -qq --disable-pip-version-check \
		"apache-airflow==$(AIRFLOW_VERSION)" -e ./emulator -e ".[test,kill-matrix]"
	touch $@

test-kill-matrix: $(KILL_STAMP)
	ABEJA_TEST_KILL_MATRIX=1 $(BIN)/python -m pytest -p no:cacheprovider tests/kill_matrix $(PYTEST_ARGS)

# The same cells on Airflow 2.11 (its venv; psycopg2, as its SQLAlchemy is 1.4): scheduler, webserver
# and triggerer; tests/kill_matrix/cells.py says where 2.11 promises otherwise. CI runs its deferrable
# column (ABEJA_KILL_MATRIX_MODES=deferrable, about 2 min; the whole matrix takes 7 to 9).
KILL2_STAMP := $(VENV2)/.installed-kill-matrix

$(KILL2_STAMP): $(STAMP2)
	$(BIN2)/python -m pip install -qq --disable-pip-version-check \
		"apache-airflow==$(AIRFLOW2_VERSION)" "cryptography<51" -e ./emulator -e ".[test,kill-matrix]"
	touch $@

test-kill-matrix-airflow2: $(KILL2_STAMP)
	ABEJA_TEST_KILL_MATRIX=1 $(BIN2)/python -m pytest -p no:cacheprovider \
		tests/kill_matrix/test_kill_matrix.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_abeja emulator tests example_dags bench scripts docs
	$(BIN)/ruff format --check airflow_provider_abeja emulator tests example_dags bench scripts docs

typecheck: $(STAMP)
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The docs site (Sphinx + MyST): warnings are errors. Building it runs the example DAGs' graphs and a
# real deploy -> wait -> invoke -> teardown run on the emulator for the pictures (docs/_ext/).
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install -qq --disable-pip-version-check -e ./emulator -e ".[test,docs,dist]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	rm -rf docs/_build/html
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

# The release artifacts: sdist + wheel of the provider and of the emulator in dist/, checked by twine. Built without the egg-info that
# the editable install leaves behind, whose stale file list would otherwise slip into the sdist.
dist: $(DOCS_STAMP)
	rm -rf dist build *.egg-info emulator/build emulator/*.egg-info
	$(BIN)/python -m build -q --outdir dist .
	$(BIN)/python -m build -q --outdir dist emulator
	$(BIN)/python -m twine check --strict dist/*

# The built wheels (not the clone) installed into a clean venv with Airflow: provider metadata, the
# sdist's docs, and the emulator with its sample handler; and the README's install block, run as
# written in a new venv from a copy of the clone. Slow-ish, so not part of `make test`.
test-wheel: dist
	ABEJA_WHEEL="$$(ls dist/airflow_provider_abeja-*.whl)" \
	ABEJA_EMULATOR_WHEEL="$$(ls dist/abeja_platform_emulator-*.whl)" AIRFLOW_VERSION="$(AIRFLOW_VERSION)" \
		$(BIN)/python -m pytest -p no:cacheprovider tests/docs/test_wheel.py tests/docs/test_install_line.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist docs/_build *.egg-info emulator/build emulator/*.egg-info .pytest_cache .mypy_cache .ruff_cache
