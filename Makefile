# Developer entry points. `make test` and `make demo` work on a fresh machine:
# they create .venv and install everything they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test check lint typecheck contracts demo bench golden clean campaign

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check reconciler tests bench
	$(BIN)/ruff format --check reconciler tests bench

typecheck: $(STAMP)
	$(BIN)/mypy reconciler

contracts: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck contracts test

demo: $(STAMP)
	$(BIN)/python examples/demo.py

bench: $(STAMP)
	$(BIN)/python -m bench

golden: $(STAMP)
	UPDATE_GOLDEN=1 $(BIN)/python -m pytest -q tests -k golden

campaign: $(STAMP)
	CAMPAIGN_SEEDS=200 $(BIN)/python -m pytest -q tests/e2e/test_fault_campaign.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
