# The two Quickstart commands: `make train` and `make test`. Both create (or reuse)
# the local virtualenv .venv first. Extra arguments: make train ARGS="model=lenet ..."
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup train test lint format clean-logs

$(BIN)/tsr-train: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable ".[dev]"
	touch $@

setup: $(BIN)/tsr-train

train: setup
	$(BIN)/python -m tsr.train $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-logs:
	rm -rf logs
