# The two Quickstart commands: `make train` and `make test`. Both create (or reuse)
# the local virtualenv .venv first, installing the versions in requirements.lock.
# Extra arguments: make train ARGS="model=lenet ..."; make test PYTEST_ARGS="-x".
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup train test test-fast lint format lock clean-logs notebooks

$(BIN)/tsr-train: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint requirements.lock --editable ".[dev]"
	touch $@

setup: $(BIN)/tsr-train

train: setup
	$(BIN)/python -m tsr.train $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# everything: lint, the fast tier and the slow tier (real GTSRB archives needed)
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the fast tier: no GTSRB archives needed (a small synthetic archive in their layout)
test-fast: lint
	TSR_TEST_DATA=synthetic $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# the notebooks run on your logs, rendered with their figures to notebooks/_build/*.html:
# make notebooks [LOGS=logs] [PHOTOS=folder of sign photos from outside GTSRB]
LOGS ?= logs
notebooks: setup
	cd notebooks && TSR_LOGS=$(abspath $(LOGS)) $(if $(PHOTOS),TSR_PHOTOS=$(abspath $(PHOTOS))) \
		$(abspath $(BIN))/jupyter nbconvert --execute --to html --output-dir _build \
		--ExecutePreprocessor.timeout=3600 01_data.ipynb 02_results.ipynb

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# re-resolve the dependencies from pyproject.toml in a fresh venv; rewrite requirements.lock
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --editable ".[dev]"
	{ head -3 requirements.lock; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^tsr'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

clean-logs:
	rm -rf logs
