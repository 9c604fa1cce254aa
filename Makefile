# `make demo` and `make test` build the environment from nothing, then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.inuprep-installed

.PHONY: env demo test lint clean

env: $(STAMP)

# torch first, pinned: on a CPU-only machine this takes the local CPU wheel instead of the CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m inuprep.bids_app.demo --demo-dir demo

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check inuprep tests benchmarks

clean:
	rm -rf $(VENV) demo work
