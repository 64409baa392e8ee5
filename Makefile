# The two commands of the README. Each creates its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean assets

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "coldtrail needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,local,dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/coldtrail demo $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench

# The pages' third-party browser libraries, pinned in web/package-lock.json, copied (and
# committed) into api/web/static/vendor/. Needs node and npm; running the API does not.
assets:
	cd web && npm ci --no-audit --no-fund && node vendor.mjs

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
