# Liaison — two commands on a fresh machine:
#   make run    installs, migrates, seeds the demo and serves http://127.0.0.1:5000
#   make test   installs what the tests need and runs the whole suite, ruff and mypy

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
DEMO   := LIAISON_MODE=demo

.PHONY: run serve-prod install install-dev system-packages browser-deps test test-postgres test-production lint unit bench clean

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.dev-installed

system-packages:
	bash scripts/system-packages.sh

# axe-core for the browser tests' accessibility audit, at the version and hash of the lockfile.
AXE := tests/browser/node_modules/axe-core/axe.min.js

$(AXE): tests/browser/package-lock.json | system-packages
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	touch $@

browser-deps: $(AXE)

run: install
	$(DEMO) $(FLASK) db upgrade
	$(DEMO) $(FLASK) demo seed --if-empty
	$(DEMO) $(BIN)/gunicorn --bind 127.0.0.1:5000 --workers 2 --access-logfile - wsgi:app

# Production: settings from the environment (DEPLOYMENT.md), gunicorn configured by gunicorn.conf.py.
serve-prod: install
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy exchange/domain keys retention
	$(BIN)/lint-imports
	$(BIN)/bandit -q -c pyproject.toml -r exchange keys retention

unit: install-dev system-packages browser-deps
	$(BIN)/python -m pytest -q

test: lint unit

# The whole suite again, against a throwaway PostgreSQL cluster on a local socket; this run
# includes the production journey (tests/production: nginx + TLS, gunicorn, production settings).
test-postgres: install-dev system-packages browser-deps
	bash scripts/with-postgres.sh $(BIN)/python -m pytest -q

# The production journey and the production CSRF tests alone.
test-production: install-dev system-packages browser-deps
	bash scripts/with-postgres.sh $(BIN)/python -m pytest -q tests/production

bench: install-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/browser/node_modules
