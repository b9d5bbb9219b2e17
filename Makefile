# The one way to run the demo and the tests on a fresh Debian machine.
#   make demo   — a virtualenv with mailbot, then the demo on an embedded mail server
#   make test   — the same plus test tools and (as root) the Debian packages the tests need
#   make lock   — after the tests pass: pin the virtualenv's versions in requirements*.lock
# Dependencies come from the lock files (the versions the tests passed with), then mailbot
# itself without resolving anything again.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test system-deps lint clean lock
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml setup.py requirements.lock | $(BIN)/python
	$(PIP) -r requirements.lock
	$(PIP) --no-deps -e .
	touch $@

$(VENV)/.installed-test: requirements-test.lock $(VENV)/.installed
	$(PIP) -r requirements-test.lock
	touch $@

lock: $(VENV)/.installed-test
	$(BIN)/python scripts/lock_dependencies.py

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
