# catalog-sync: `make demo` (no server needed) and `make test` (real PostgreSQL and Redis).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo $(PYTHON) -m uv)
PYTEST_ARGS ?=

.PHONY: help env system-deps lint typecheck test test-fast demo bench run clean

help:
	@echo "make demo   sync examples/catalog into a local SQLite database (no server, no network)"
	@echo "make test   ruff, mypy and the whole suite on real PostgreSQL and Redis"
	@echo "make bench  every benchmark under bench/, figures into bench/RESULTS.md"

# The Python environment, exactly as locked in uv.lock.
$(BIN)/catalog-sync: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --extra dev
	@touch $@

env: $(BIN)/catalog-sync

# PostgreSQL and Redis binaries for the test servers (the suite starts its own).
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v git >/dev/null || missing="$$missing git"; \
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

test: env system-deps lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: env
	$(BIN)/pytest tests/unit -q

demo: env
	@bash examples/demo.sh

bench: env system-deps
	$(BIN)/python -m bench.run

run: env
	$(BIN)/catalog-sync run

clean:
	rm -rf $(VENV) catalog-sync.sqlite catalog-sync-broker.sqlite .pytest_cache .mypy_cache .ruff_cache
