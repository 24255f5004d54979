# The two commands a new user needs: `make demo` and `make test`.
# Each creates .venv on first use and installs what it needs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test docs lint clean bench bench-quick property

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[plot]"
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,plot,distributed]"
	touch $@ $(VENV)/.demo-installed

# The comparison libraries (umap-learn, skglm) that only benchmarks/ imports.
$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[plot,benchmark]"
	touch $@ $(VENV)/.demo-installed

# The gallery compares UKR with UMAP, so the docs build takes the benchmark
# extra too (the comparison libraries stay out of the runtime dependencies).
$(VENV)/.docs-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[docs,plot,benchmark]"
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/python -m demo

test: $(VENV)/.test-installed
	$(BIN)/python -m ruff check src tests demo
	$(BIN)/python -m pytest

# The HTML site, running every gallery example; any warning is an error.
docs: $(VENV)/.docs-installed
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

# Every benchmark case against its anchors (several minutes); the table and
# the plot go to benchmarks/results/. bench-quick: smaller sizes, < 2 minutes.
bench: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/run.py

bench-quick: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/run.py --quick

# The long mode of the property test over every configuration (docs/peer.rst).
property: $(VENV)/.test-installed
	GRADEST_PROPERTY_EXAMPLES=2000 $(BIN)/python -m pytest tests/test_property_objectives.py

lint: $(VENV)/.test-installed
	$(BIN)/python -m ruff check src tests demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis gradest-demo \
		docs/_build docs/auto_examples docs/generated docs/sg_execution_times.rst
