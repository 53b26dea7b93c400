# Two commands for a newcomer: `make run` and `make test`. Everything else is installed by them.
PYTHON ?= python3.11
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
RUN := $(UV) run --frozen --no-sync

.PHONY: install run user test test-sqlite test-postgres lint fmt check chromium

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	touch $@

install: $(VENV)/.synced

# `make run PORT=8001` serves another port; WFSITE_WEB_PROCESSES=N sets the web processes (default: one per core).
PORT ?= 8000
run: install
	$(RUN) python manage.py migrate --no-input
	$(RUN) python manage.py serve --port $(PORT)

# Your login for the site and /admin/: there is no default account or password.
user: install
	$(RUN) python manage.py migrate --no-input
	$(RUN) python manage.py createsuperuser

# The browser tests drive the system Chromium; Playwright never downloads a browser.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if command -v apt-get >/dev/null; then \
			$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
		else \
			echo "$(CHROMIUM) is missing and there is no apt-get: install Chromium there, or browser tests skip (fail if CI=true)."; \
		fi; \
	fi

check: install
	$(RUN) python manage.py check --fail-level WARNING
	$(RUN) python manage.py makemigrations --check --dry-run
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

# The whole suite on SQLite, then again on PostgreSQL (see test-postgres).
test: check chromium
	@$(MAKE) --no-print-directory test-sqlite
	@$(MAKE) --no-print-directory test-postgres

# An empty DATABASE_URL is the settings' default: a SQLite file (the test database is another file).
test-sqlite: install
	DATABASE_URL= $(RUN) pytest $(PYTEST_ARGS)

# pytest-django creates (and drops) test_<name> on this server; the URL's own database need not exist.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/wfsite
# Not run again on PostgreSQL, because they never use Django's database: the engine's and the
# upstream packages' tests (plain SQLite files), the browser tests (a stack on its own SQLite file)
# and the scale-out and soak tests (their own PostgreSQL databases whatever DATABASE_URL says;
# they ran above).
POSTGRES_PASS_SKIPS := --ignore=tests/workflow --ignore=tests/upstream --ignore=tests/browser \
	--ignore=tests/test_scale_out.py --ignore=tests/test_soak.py
# No PostgreSQL running skips this pass with the reason, except with CI=true, where it fails.
# pytest's status 5 (nothing collected) means PYTEST_ARGS chose only tests left out here.
test-postgres: install
	@$(RUN) python -m tests.services postgres '$(TEST_POSTGRES_URL)'; status=$$?; \
	if [ $$status -eq 2 ]; then echo "Skipped the PostgreSQL pass."; exit 0; fi; \
	if [ $$status -ne 0 ]; then exit $$status; fi; \
	echo "PostgreSQL pass: DATABASE_URL=$(TEST_POSTGRES_URL)"; \
	DATABASE_URL='$(TEST_POSTGRES_URL)' $(RUN) pytest $(POSTGRES_PASS_SKIPS) $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "No selected test uses the database; nothing to run on PostgreSQL."; exit 0; fi; \
	exit $$status

fmt: install
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

# Benchmarks (bench/README.md). They get their own locked environment, because the baselines need
# agno 2.x, LangGraph and matplotlib; `make bench BENCH_ARGS="--only W1,W3"` runs a few.
.PHONY: bench bench-quick
BENCH_VENV := $(abspath .venv-bench)
BENCH_RUN := PYTHONPATH=$(CURDIR) $(BENCH_VENV)/bin/python bench/run.py

bench: $(UV)
	UV_PROJECT_ENVIRONMENT=$(BENCH_VENV) $(UV) sync --project bench --frozen --quiet
	$(BENCH_RUN) $(BENCH_ARGS)

bench-quick: $(UV)
	UV_PROJECT_ENVIRONMENT=$(BENCH_VENV) $(UV) sync --project bench --frozen --quiet
	$(BENCH_RUN) --quick $(BENCH_ARGS)
