# catalog-sync: `make demo` (no server needed) and `make test` (real PostgreSQL and Redis).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv installs .venv from uv.lock. A working uv on PATH is used as it is; otherwise this pinned
# release (one that reads uv.lock's format) goes into a project-local venv, .tools: a system
# Python that is "externally managed" (PEP 668, e.g. Debian's) refuses `pip install` outside one.
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(shell uv --version >/dev/null 2>&1 && command -v uv || echo $(TOOLS)/bin/uv)
ifeq ($(UV),$(TOOLS)/bin/uv)
# Trust what pip trusted when it installed that uv: the system's certificate store.
export UV_SYSTEM_CERTS ?= 1
endif
PYTEST_ARGS ?=

.PHONY: help env system-deps lint typecheck test test-fast demo bench run clean

help:
	@echo "make demo   sync examples/catalog into a local SQLite database (no server, no GitHub)"
	@echo "make test   ruff, mypy and the whole suite on real PostgreSQL and Redis"
	@echo "make bench  every benchmark under bench/, figures into bench/RESULTS.md"

$(TOOLS)/bin/uv:
	@$(PYTHON) -m venv $(TOOLS) || { rm -rf $(TOOLS); \
	  echo "make: '$(PYTHON) -m venv' failed: on Debian/Ubuntu, apt-get install python3-venv" >&2; exit 1; }
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The Python environment, exactly as locked in uv.lock, on the interpreter $(PYTHON) names.
# Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set (CI images often do),
# every process (each CLI command, worker, test subprocess) would compile its imports again,
# about a second each on this kind of machine.
$(BIN)/catalog-sync: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --compile-bytecode --python $(PYTHON)
	@touch $@

env: $(BIN)/catalog-sync

# PostgreSQL and Redis binaries for the test servers (the suite starts its own), unless
# CATALOG_SYNC_TEST_PG_URL / CATALOG_SYNC_TEST_REDIS_URL name servers that already run;
# `prometheus` for promtool, which tests the alert rules.
system-deps:
	@missing=""; \
	[ -n "$$CATALOG_SYNC_TEST_PG_URL" ] || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || missing="$$missing postgresql"; \
	[ -n "$$CATALOG_SYNC_TEST_REDIS_URL" ] || command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: env
	$(BIN)/mypy

# Unit and integration tests on both cores (each worker starts its own servers); the e2e
# tests, which time real processes, one at a time.
test: env system-deps lint typecheck
	$(BIN)/pytest -n 2 tests/unit tests/integration $(PYTEST_ARGS)
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test-fast: env
	$(BIN)/pytest tests/unit -q

demo: env
	@bash examples/demo.sh

bench: env system-deps
	$(BIN)/python -m bench.run

run: env
	$(BIN)/catalog-sync run

# Everything `make env/demo/test` and `catalog-sync run` (from the checkout) leave behind.
clean:
	rm -rf $(TOOLS) $(VENV) *.egg-info build dist bench/.work
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -f catalog-sync.sqlite catalog-sync.sqlite-* catalog-sync-broker.sqlite catalog-sync-broker.sqlite-*
	rm -f celerybeat-schedule celerybeat-schedule.*
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
