# Quick start: `make run` (the portal with embedded services and demo data), `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint browser services-stop clean

install: $(STAMP)

$(STAMP): requirements/base.txt requirements/local.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + ").")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/local.txt
	@touch $(STAMP)

run: install
	$(BIN)/python -m portal.devstack run

# The leak matrix (tests/security, ~4 min of one core) runs beside the rest of the suite,
# on embedded servers of its own; its log is printed at the end; both must pass.
LEAK_ENV := EMBEDDED_PG_PORT=$${LEAK_PG_PORT:-54339} EMBEDDED_REDIS_PORT=$${LEAK_REDIS_PORT:-63799} \
	PORTAL_VAR_DIR=$(CURDIR)/var/leak-matrix TEST_DATABASE_NAME=test_leak_matrix PORTAL_PORT=8019

test: install browser
	@mkdir -p var
	@$(LEAK_ENV) $(BIN)/python -m pytest tests/security -q -s > var/leak-matrix.log 2>&1 & leak=$$!; \
	$(BIN)/python -m pytest --ignore=tests/security; suite=$$?; \
	wait $$leak; security=$$?; \
	echo "--- tests/security (leak matrix) ---"; cat var/leak-matrix.log; \
	exit $$(( suite || security ))

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

services-stop: install
	$(BIN)/python -m portal.devstack stop

clean: services-stop
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
