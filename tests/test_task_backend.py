"""WFSITE_TASK_BACKEND picks the run queue: the database (default) or Redis for RQ workers; and the service probes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.services import EXIT_FAIL, EXIT_SKIP

BASE_DIR = Path(__file__).resolve().parent.parent
# Nothing listens on port 1, so these are "not running" without waiting for a timeout.
NO_POSTGRES = "postgres://postgres@127.0.0.1:1/wfsite"
NO_REDIS = "redis://127.0.0.1:1/0"

PRINT = """
import json, django
from django.conf import settings
django.setup()
from django_tasks import task_backends
backend = type(task_backends["default"])
print(json.dumps({
    "backend": backend.__module__ + "." + backend.__name__,
    "rq_installed": "django_rq" in settings.INSTALLED_APPS,
    "rq_queues": getattr(settings, "RQ_QUEUES", None),
}))
"""


def python(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"WFSITE_TASK_BACKEND", "REDIS_URL", "CI"}}
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "wfsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def backend_under(**env: str) -> dict[str, Any]:
    result = python("-c", PRINT, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_runs_queue_in_the_database_by_default() -> None:
    assert backend_under() == {
        "backend": "django_tasks_db.backend.DatabaseBackend",
        "rq_installed": False,
        "rq_queues": None,
    }


def test_rq_mode_queues_runs_in_redis_at_redis_url() -> None:
    found = backend_under(WFSITE_TASK_BACKEND="rq", REDIS_URL="redis://redis.internal:6380/3")
    assert found["backend"] == "django_tasks_rq.backend.RQBackend"
    assert found["rq_installed"]
    assert found["rq_queues"]["default"]["URL"] == "redis://redis.internal:6380/3"


def test_rq_mode_passes_the_system_checks_and_has_the_worker_command() -> None:
    env = {"WFSITE_TASK_BACKEND": "rq"}
    check = python("manage.py", "check", "--fail-level", "WARNING", **env)
    assert check.returncode == 0, check.stderr
    help_text = python("manage.py", "rq_worker", "--help", **env)
    assert help_text.returncode == 0, help_text.stderr
    assert "--job-class" in help_text.stdout


def test_rq_worker_refuses_to_start_when_runs_queue_in_the_database() -> None:
    result = python("manage.py", "rq_worker")
    assert result.returncode == 1
    assert "Runs are queued in the database (WFSITE_TASK_BACKEND is not rq)" in result.stderr


def test_an_unknown_backend_is_refused_by_name() -> None:
    result = python("manage.py", "check", WFSITE_TASK_BACKEND="celery")
    assert result.returncode != 0
    assert "WFSITE_TASK_BACKEND must be db or rq, not 'celery'" in result.stderr


@pytest.mark.parametrize(("service", "url"), [("postgres", NO_POSTGRES), ("redis", NO_REDIS)])
def test_a_missing_service_skips_locally_and_fails_under_ci(service: str, url: str) -> None:
    local = python("-m", "tests.services", service, url)
    assert (local.returncode, local.stderr.split(":")[0]) == (EXIT_SKIP, "SKIPPED")
    assert "127.0.0.1:1" in local.stderr
    ci = python("-m", "tests.services", service, url, CI="true")
    assert (ci.returncode, ci.stderr.split(":")[0]) == (EXIT_FAIL, "FAILED")
    assert "CI=true" in ci.stderr
