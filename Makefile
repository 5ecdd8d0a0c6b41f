# Quick start: `make run` (the portal with embedded services and demo data), `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test security lint browser idp azurite a11y services-stop clean

install: $(STAMP)

$(STAMP): requirements/base.txt requirements/local.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + ").")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# --no-compile: Python compiles what it imports on first use; compiling every installed
	# file up front took ~2 of the ~3 minutes of a fresh install.
	$(BIN)/python -m pip install --quiet --no-compile -r requirements/local.txt
	@touch $(STAMP)

run: install
	$(BIN)/python -m portal.devstack run

# The whole suite, leak matrix included, on TEST_WORKERS processes (pytest-xdist; each has
# its own test database and broker database): whole files per process, the longest first
# (tests/conftest.py). TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: install browser idp azurite a11y
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The leak matrix alone (about 4 minutes), with its report.
security: install
	$(BIN)/python -m pytest tests/security -q -s

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# Debian's Chromium for the browser tests (Playwright cannot download browsers here).
browser:
	@if [ "$$(uname -s)" = Linux ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then echo "Chromium is missing and apt-get needs root: browser tests will be skipped."; \
	  else echo "Installing Debian's chromium for the browser tests ..."; \
	    ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null) \
	    || echo "Could not install chromium: browser tests will be skipped (they fail under CI=true)."; fi; \
	fi

# The test identity provider for single sign-on (tests/idp: oidc-provider on Node 20+):
# its npm packages, from the lock file.
idp:
	@if [ ! -d tests/idp/node_modules/oidc-provider ]; then \
	  if command -v npm >/dev/null 2>&1; then \
	    echo "Installing the test identity provider (npm ci in tests/idp) ..."; \
	    (cd tests/idp && npm ci --no-audit --no-fund --loglevel=error); \
	  else echo "npm is missing: the single sign-on tests need Node.js 20+ and npm."; fi; \
	fi

# Azurite (Azure Storage emulator, tests/azurite) for the object-storage tests.
azurite:
	@if [ ! -x tests/azurite/node_modules/.bin/azurite-blob ]; then \
	  if command -v npm >/dev/null 2>&1; then \
	    echo "Installing Azurite for the object-storage tests (npm ci in tests/azurite) ..."; \
	    (cd tests/azurite && npm ci --no-audit --no-fund --loglevel=error); \
	  else echo "npm is missing: the object-storage tests need Node.js 20+ and npm."; fi; \
	fi

# axe-core (tests/a11y) for the accessibility test of every page (WCAG 2.2 A/AA).
a11y:
	@if [ ! -f tests/a11y/node_modules/axe-core/axe.min.js ]; then \
	  if command -v npm >/dev/null 2>&1; then \
	    echo "Installing axe-core for the accessibility test (npm ci in tests/a11y) ..."; \
	    (cd tests/a11y && npm ci --no-audit --no-fund --loglevel=error); \
	  else echo "npm is missing: the accessibility test needs Node.js 20+ and npm."; fi; \
	fi

services-stop: install
	$(BIN)/python -m portal.devstack stop

clean: services-stop
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
