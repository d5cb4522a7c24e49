# Mergeguard. `make demo` runs the product with demo data; `make test` runs the whole suite.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Every command below runs with the URLs `make services` wrote (or the ones given in the environment).
WITH_ENV := set -a; . .var/env; set +a;
CHROMIUM := /usr/bin/chromium

.PHONY: help install services stop migrate demo test bench lint lock

help:
	@echo "make demo      start PostgreSQL, Redis, the web server (127.0.0.1:8000) and a Celery worker, with demo data"
	@echo "make test      run the whole test suite (browser tests included)"
	@echo "make bench     run the benchmarks and print their figures"
	@echo "make services  start (or reuse) the project-local PostgreSQL and Redis under .var/"
	@echo "make stop      stop the project-local PostgreSQL and Redis"
	@echo "make install   create .venv with the locked dependencies and the npm packages"
	@echo "make lint      ruff, Django's checks and a check for missing migrations"

# The venv is rebuilt when the lock file or the project metadata change.
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHROMIUM):
	apt-get update -qq && apt-get install -y -qq chromium >/dev/null

install: $(VENV)/.installed node_modules/.package-lock.json

services:
	scripts/services.sh start

stop:
	scripts/services.sh stop

migrate: install services
	$(WITH_ENV) $(BIN)/python manage.py migrate --noinput

demo: migrate .var/static
	$(WITH_ENV) $(BIN)/python manage.py seed_demo
	$(WITH_ENV) DEBUG=$${DEBUG:-1} scripts/demo.sh

test: install services $(CHROMIUM) .var/static
	$(BIN)/ruff check .
	$(WITH_ENV) $(BIN)/pytest $(PYTEST_ARGS)

# WhiteNoise expects STATIC_ROOT to exist even before collectstatic.
.var/static:
	mkdir -p $@

# The benchmarks' own packages (the accuracy benchmark's public data sets): never in the lock
# the tests and the product install.
$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

bench: migrate $(VENV)/.bench-installed
	$(WITH_ENV) $(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: install services
	$(BIN)/ruff check .
	$(WITH_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	$(WITH_ENV) $(BIN)/python manage.py check

# Regenerates requirements.lock from pyproject.toml in a throwaway venv.
lock:
	rm -rf .var/lockvenv && $(PYTHON) -m venv .var/lockvenv
	.var/lockvenv/bin/pip install -q -e '.[dev]'
	.var/lockvenv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf .var/lockvenv
