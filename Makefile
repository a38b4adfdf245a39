# Developer entry points. `make test` and `make demo` work on a fresh machine:
# they create .venv and install everything they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test check lint typecheck contracts demo bench golden clean campaign postgres-server

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) postgres-server
	$(BIN)/python -m pytest -q

# The PostgreSQL state's tests start a real server (tests/support/postgres.py). Install
# Debian's `postgresql` when no initdb is found and we may (root with apt-get); elsewhere
# those tests skip with a reason, or fail under CI=true.
postgres-server:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing the PostgreSQL server for the tests (apt-get install postgresql)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else \
	    echo "note: no PostgreSQL server found; its tests skip (install Debian's postgresql package)"; \
	  fi; \
	fi

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
