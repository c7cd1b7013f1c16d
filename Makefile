# Two commands on a fresh clone: `make demo` and `make test`. Each builds .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench clean

$(VENV)/.runtime: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "storalloc needs Python 3.11 or newer; this is " + sys.version.split()[0] + " (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The optional compiled core (storalloc/accel.py), rebuilt when a compiled source changes.
# Without Cython or a C compiler it is skipped, and everything runs from the sources.
ACCEL := storalloc/_compiled/manifest.json
ACCEL_SOURCES := storalloc/accel.py storalloc/sim/replay.py \
	$(wildcard storalloc/core/*.py storalloc/core/*.pyx storalloc/core/*.pxi storalloc/strategies/*.py)
# The tests that exercise the compiled modules most, run again from the Python sources.
CORE_TESTS := tests/test_capacity.py tests/test_strategies.py tests/test_strategies_index.py \
	tests/test_strategy_properties.py tests/test_scheduler.py tests/test_lifecycle_machine.py \
	tests/test_lifecycle_table.py tests/test_planning.py tests/test_simulate.py \
	tests/test_virtual_time.py tests/test_replay_memory.py tests/test_report.py \
	tests/test_accel.py

$(ACCEL): $(VENV)/.dev $(ACCEL_SOURCES)
	$(PY) -m storalloc.accel build || echo "WARNING: no compiled core; the Python sources run"

## demo: the seed's scenario (orchestrator, simulated ault14 server, client 200 GB / 60 min)
demo: $(VENV)/.runtime
	$(PY) -m storalloc.cli.demo

## test: lint, then the whole test suite (unit, end-to-end processes, VM when qemu runs) on
## the compiled core when it builds, then the core's tests again from the Python sources
test: $(VENV)/.dev $(ACCEL)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest
	STORALLOC_COMPILED=0 $(PY) -m pytest -q $(CORE_TESTS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

## bench: issue 11's targets, curves and profiles -> doc/performance.md (about 10 min),
## then the placement (-> doc/benchmarks-placement.md) and replay benchmarks
bench: $(VENV)/.dev $(ACCEL)
	$(PY) bench/bench_scale.py
	$(PY) bench/bench_placement.py
	$(PY) bench/bench_replay.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis storalloc/_compiled
