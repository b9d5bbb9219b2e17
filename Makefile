# The one way to run the demo and the tests on a fresh Debian machine.
#   make demo   — a virtualenv with mailbot, then the demo on an embedded mail server
#   make test   — the same plus test tools and (as root) the Debian packages the tests need
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test system-deps lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/mailbot demo

system-deps:
	bash scripts/install-test-deps.sh

test: $(VENV)/.installed-test system-deps
	$(BIN)/pytest $(PYTEST_ARGS)
	$(BIN)/ruff check mailbot tests
	$(BIN)/mypy mailbot

lint: $(VENV)/.installed-test
	$(BIN)/ruff check mailbot tests
	$(BIN)/mypy mailbot

# The benchmarks (about ten minutes on two cores): one table of figures against the targets.
.PHONY: bench
bench: $(VENV)/.installed-test system-deps
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
