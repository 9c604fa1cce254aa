# `make demo` and `make test` build the environment from nothing, then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.inuprep-installed
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# the image: tag, docker-archive, and extra build options (e.g. --build-arg BASE=... FETCH_MODELS=0)
IMAGE ?= inuprep:$(VERSION)
ARCHIVE ?= build/inuprep.tar
BUILD_OPTS ?=

.PHONY: env demo quick smoke test lint clean container container-test

env: $(STAMP)

# torch first, pinned: on a CPU-only machine this takes the local CPU wheel instead of the CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m inuprep.cli.demo --demo-dir demo

# the layers (pyproject.toml's markers): quick, the unit layer, stops at the first failure (about a minute);
# smoke, the App end to end once (one all-methods run, its group level, the validator, the examples);
# test, everything (the container tests skip unless make container-test gives them the image)
QUICK := not (e2e or slow or slurm or container)

quick: $(STAMP)
	$(PY) -m pytest -x -q -m "$(QUICK)"

smoke: $(STAMP)
	$(PY) -m pytest -m smoke

# make test's workers (pytest-xdist; 0: none), each given a whole file at a time (a module's fixtures made once)
# in the order tests/conftest.py sets (the longest layers first)
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(VENV)/bin/ruff check inuprep tests benchmarks examples
	$(VENV)/bin/ruff format --check inuprep tests benchmarks examples

# builds the image (buildah, else docker) and writes it as a docker-archive for docker/podman load, apptainer build
container:
	tools/build-container.sh $(IMAGE) $(ARCHIVE) $(BUILD_OPTS)

# runs the image as a cluster would (ch-run: read-only, non-root, no HOME) and compares it with the venv
container-test: $(STAMP) container
	INUPREP_IMAGE_ARCHIVE=$(ARCHIVE) $(PY) -m pytest tests/container

clean:
	rm -rf $(VENV) demo work build
