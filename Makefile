# The two commands of the README. Everything is installed into .venv from the package registries.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# axe-core for the browser tests' accessibility walk, installed from package-lock.json by npm ci,
# so that nothing is downloaded while the tests run.
AXE := node_modules/axe-core/axe.min.js
# make run HOST=0.0.0.0 PORT=5001: where the server listens
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-sqlite test-postgresql bench clean migration

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(AXE): package-lock.json
	npm ci --no-audit --no-fund
	touch $(AXE)

run: $(STAMP)
	$(BIN)/lifecycle init
	$(BIN)/lifecycle demo --if-empty
	$(BIN)/lifecycle serve --host $(HOST) --port $(PORT)

test: test-sqlite test-postgresql

test-sqlite: $(STAMP) $(AXE)
	LIFECYCLE_TEST_DB=sqlite $(BIN)/python -m pytest

test-postgresql: $(STAMP)
	LIFECYCLE_TEST_DB=postgresql $(BIN)/python -m pytest -m "not browser"

bench: $(STAMP)
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache

# Until the first release the schema is one initial migration, regenerated from the models.
migration: $(STAMP)
	rm -f lifecycle/migrations/versions/0001_initial.py
	tmp=$$(mktemp -d) && $(BIN)/python -c "import sys; from alembic import command; from lifecycle import create_app; \
	from lifecycle.migrate import alembic_config; d = sys.argv[1]; \
	app = create_app({'INSTANCE_PATH': d, 'DATABASE_URL': 'sqlite:///' + d + '/m.db'}); app.app_context().push(); \
	command.revision(alembic_config(), message='initial', autogenerate=True, rev_id='0001')" $$tmp; rm -rf $$tmp
