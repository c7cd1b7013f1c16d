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

## demo: the seed's scenario (orchestrator, simulated ault14 server, client 200 GB / 60 min)
demo: $(VENV)/.runtime
	$(PY) -m storalloc.cli.demo

## test: lint, then the whole test suite (unit, end-to-end processes, VM when qemu runs)
test: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

## bench: issue 11's targets, curves and profiles -> doc/performance.md (about 10 min),
## then the placement (-> doc/benchmarks-placement.md) and replay benchmarks
bench: $(VENV)/.dev
	$(PY) bench/bench_scale.py
	$(PY) bench/bench_placement.py
	$(PY) bench/bench_replay.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
