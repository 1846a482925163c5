# Two commands do everything on a fresh machine: `make run` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NODE_MODULES := tests/js/node_modules/.installed

.PHONY: run test lint typecheck system-deps screenshots clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet -e clients/python
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m signaling

# Node runs the official socket.io-client in the contract tests; Debian's Chromium runs the
# browser tests (driven by Playwright's Python package, never `playwright install`); `ip`
# brings up loopback in the tests' own network namespace.
system-deps:
	@missing=""; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; fi

$(NODE_MODULES): tests/js/package.json | system-deps
	cd tests/js && npm install --no-audit --no-fund --silent
	touch $(NODE_MODULES)

lint: $(STAMP)
	$(BIN)/ruff check core chat cards rooms media meetings signaling loadtest tests \
	  clients/python/xietong_sdk
	$(BIN)/mypy

# The whole suite runs in a network namespace of its own with nothing but loopback, so no
# test (WebRTC in Chromium included) can send a packet off this machine.
test: $(STAMP) $(NODE_MODULES) system-deps lint
	unshare -rn sh -c 'ip link set lo up && exec $(BIN)/python -m pytest -q'

# Runs the browser tests with screenshots on: each main screen, desktop and phone, lands in
# docs/screenshots/ (the README shows them). Chinese needs a CJK font to be readable there.
screenshots: $(STAMP) system-deps
	test -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || { apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-wqy-microhei; }
	XIETONG_SCREENSHOTS=$(CURDIR)/docs/screenshots unshare -rn sh -c 'ip link set lo up && exec $(BIN)/python -m pytest -q tests/browser'

clean:
	rm -rf $(VENV) tests/js/node_modules
