# Two commands for a newcomer: `make run` and `make test`. Everything else is installed by them.
PYTHON ?= python3.11
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
RUN := $(UV) run --frozen --no-sync

.PHONY: install run user test lint fmt check chromium

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

test: check chromium
	$(RUN) pytest $(PYTEST_ARGS)

fmt: install
	$(RUN) ruff check --fix .
	$(RUN) ruff format .
