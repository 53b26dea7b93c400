# Two commands for a newcomer: `make run` and `make test`. Everything else is installed by them.
PYTHON ?= python3.11
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
RUN := $(UV) run --frozen --no-sync

.PHONY: install run test lint fmt check

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	touch $@

install: $(VENV)/.synced

run: install
	$(RUN) python manage.py migrate --no-input
	$(RUN) python manage.py serve

check: install
	$(RUN) python manage.py check --fail-level WARNING
	$(RUN) python manage.py makemigrations --check --dry-run
	$(RUN) ruff check .
	$(RUN) ruff format --check .

test: check
	$(RUN) pytest $(PYTEST_ARGS)

fmt: install
	$(RUN) ruff check --fix .
	$(RUN) ruff format .
