# OMNI: two commands on a fresh machine with Python 3.11 (see README "Quick start").
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: the daemon on the embedded sim venue with config/default.yaml until Ctrl-C
run: $(STAMP)
	$(BIN)/omni run --config config/default.yaml $(ARGS)

## test: linters and the whole test suite
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check omni tests bench
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/replay.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
