# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[fast]'
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[fast,test,distributed,zarr,xlsx,docs]'
	touch $@

demo: $(STAMP)
	$(BIN)/threatsim run scenarios/baseline.toml --out results/baseline.nc --brief results/baseline.html

# Two test processes (pytest-xdist): CI has two cores, and most tests use one.
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -n 2

# The documentation site -> docs/_build/html/index.html: the user guide (README.md and
# docs/*.md), the API reference from the docstrings, the tutorial notebook executed.
# Warnings are errors and every cross-reference to threatsim must resolve (-n).
.PHONY: docs
docs: $(TEST_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -n -b html -d docs/_build/doctrees docs docs/_build/html

# Every benchmark side by side (threatsim, naive baselines, the peers of PEERS_DIR when
# their venv exists, scaling curves) -> benchmarks/RESULTS.md. About 25-40 minutes.
bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) results docs/_build
