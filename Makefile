# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[fast]'
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[fast,test,distributed,zarr,xlsx]'
	touch $@

demo: $(STAMP)
	$(BIN)/threatsim run scenarios/baseline.toml --out results/baseline.nc --brief results/baseline.html

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

# Every benchmark side by side (threatsim, naive baselines, the peers of PEERS_DIR when
# their venv exists, scaling curves) -> benchmarks/RESULTS.md. About 25-40 minutes.
bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) results
