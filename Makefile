# greenbench: two commands do all set-up.
#   make run   – create .venv, install greenbench with both backends, run suites/mnist.yaml, render the report
#   make test  – create .venv, install the dev extras, run the tests
# Both are idempotent: a second call only re-installs when pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
SUITE  ?= suites/mnist.yaml
PYTEST_ARGS ?=
BIN    := $(VENV)/bin

.PHONY: run test install install-dev report clean help

help:
	@echo "make run    - install greenbench with both backends, run $(SUITE), render the HTML report"
	@echo "make test   - install the dev extras and run the test suite"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-all: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[all]"
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@ $(VENV)/.installed-all

install: $(VENV)/.installed-all
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed-all
	$(BIN)/greenbench run $(SUITE)
	$(BIN)/greenbench report
	@echo "Open the report: $$(ls -t reports/*.html | head -n 1)"

report: $(VENV)/.installed-all
	$(BIN)/greenbench report

test: $(VENV)/.installed-dev
	$(BIN)/python tests/sessions.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
