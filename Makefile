# empg_jax: two set-up-free entry points (`make run`, `make test`) plus helpers for local loops.
# Every target creates .venv and installs the package when .venv is missing or setup.py changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# envs: the TextWorld, TextWorldExpress and ScienceWorld engines, so `make test` runs their
# adapter tests (TextWorldExpress and ScienceWorld start a Java 17 VM: `java` must be on PATH).
EXTRAS ?= dev,torch,qwen,envs
comma := ,
STAMP := $(VENV)/.install-stamp-$(subst $(comma),-,$(EXTRAS))
# Simulated 8-device CPU mesh for the test run (sharded code is tested this way). `make run`
# keeps the real single CPU device: the packed RL update is a single-device path.
TEST_XLA_FLAGS ?= --xla_force_host_platform_device_count=8
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# pip prints one "Location ... is ignored" warning per local index entry: noise, not failures.
PIP_FILTER := grep -v "is ignored" || true
WORKERS ?= 2

# Tunix (the peer of experiments/bench_vs_tunix.py) in its own venv: its pins conflict with ours.
TUNIX_VENV := .venv-tunix
TUNIX_PINS := google-tunix==0.1.7 jax==0.10.2 jaxlib==0.10.2 flax==0.12.8 optax==0.2.8 \
	transformers==5.11.0

.PHONY: install run test test-quick notebooks bench bench-tunix lint clean help

help:
	@echo "make run         - the default experiment on CPU: SFT, then GRPO vs GRPO + EMPG (table, plots, checkpoints)"
	@echo "make test        - the whole test suite (8 simulated CPU devices)"
	@echo "make test-quick  - the suite without tests marked slow"
	@echo "make notebooks   - execute analysis/*.py notebooks into .ipynb + PNG figures"
	@echo "make bench       - all benchmarks (experiments/bench_*.py)"
	@echo "make bench-tunix - Tunix vs empg_jax per GRPO step (installs Tunix into $(TUNIX_VENV))"
	@echo "make lint        - ruff and the import-layer contract (.importlinter)"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -U pip 2>&1 | $(PIP_FILTER)

$(STAMP): setup.py | $(VENV)/bin/python
	@echo "[make] installing empg_jax[$(EXTRAS)] into $(VENV) ..."
	$(VENV)/bin/pip install -q --progress-bar off -e ".[$(EXTRAS)]" 2>&1 | $(PIP_FILTER)
	@rm -f $(VENV)/.install-stamp-*
	@touch $@

install: $(STAMP)

run: $(STAMP)
	$(PY) -m experiments.compare --config=configs/compare/default.py --workdir=runs/default

test: $(STAMP)
	PYTHONPATH=. $(VENV)/bin/lint-imports --no-cache
	XLA_FLAGS=$(TEST_XLA_FLAGS) $(PY) -m pytest -n $(WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

test-quick: $(STAMP)
	XLA_FLAGS=$(TEST_XLA_FLAGS) $(PY) -m pytest -n $(WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

notebooks: $(STAMP)
	$(PY) -m analysis.render

bench: $(STAMP)
	for f in experiments/bench_*.py; do m=$${f%.py}; $(PY) -m $${m//\//.} || exit 1; done

$(TUNIX_VENV)/bin/python:
	$(PYTHON) -m venv $(TUNIX_VENV)
	$(TUNIX_VENV)/bin/pip install -q --progress-bar off $(TUNIX_PINS) 2>&1 | $(PIP_FILTER)

bench-tunix: $(STAMP) $(TUNIX_VENV)/bin/python
	nice -n 10 $(PY) -m experiments.bench_vs_tunix --tunix_python=$(TUNIX_VENV)/bin/python

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	PYTHONPATH=. $(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) $(TUNIX_VENV) .pytest_cache .hypothesis runs
