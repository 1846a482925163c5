# Two commands do everything on a fresh machine: `make run` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NODE_MODULES := tests/js/node_modules/.installed

.PHONY: run test lint typecheck system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m signaling

# Node runs the official socket.io-client in the contract tests.
system-deps:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  apt-get update && apt-get install -y --no-install-recommends nodejs npm; fi

$(NODE_MODULES): tests/js/package.json | system-deps
	cd tests/js && npm install --no-audit --no-fund --silent
	touch $(NODE_MODULES)

lint: $(STAMP)
	$(BIN)/ruff check core chat cards rooms media signaling loadtest tests
	$(BIN)/mypy

test: $(STAMP) $(NODE_MODULES) lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) tests/js/node_modules
