"""/healthz and /readyz: no login, no detail, 503 naming the failing check."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from sessions_app.ops import health
from tests.services import require_redis

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_migration_check() -> Iterator[None]:
    health._migrated_at = None
    yield
    health._migrated_at = None


def body(response: Any) -> dict[str, Any]:
    return json.loads(response.content)


def test_healthz_answers_without_login_or_database(client: Client, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert body(response) == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ok_on_a_migrated_database(client: Client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert body(response) == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


def test_readyz_names_unapplied_migrations_without_saying_which(client: Client) -> None:
    with mock.patch.object(
        health.MigrationExecutor, "migration_plan", return_value=[("sessions_app.9999", False)]
    ):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert body(response) == {"status": "unavailable", "checks": {"database": "ok", "migrations": "failing"}}
    assert b"9999" not in response.content


def test_readyz_says_the_database_fails_but_not_why(client: Client) -> None:
    with mock.patch.object(
        health, "check_database", side_effect=OperationalError("password for wf@db.internal")
    ):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert body(response)["checks"] == {"database": "failing", "migrations": "skipped"}
    assert b"db.internal" not in response.content


def test_readyz_checks_redis_when_runs_queue_there(client: Client, settings: Any) -> None:
    settings.WFSITE_TASK_BACKEND = "rq"
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0"}}  # nothing listens there

    response = client.get("/readyz")

    assert response.status_code == 503
    assert body(response)["checks"] == {"database": "ok", "migrations": "ok", "redis": "failing"}


def test_readyz_is_ok_with_a_running_redis(client: Client, settings: Any) -> None:
    settings.WFSITE_TASK_BACKEND = "rq"
    settings.RQ_QUEUES = {"default": {"URL": require_redis()}}

    response = client.get("/readyz")

    assert response.status_code == 200
    assert body(response)["checks"]["redis"] == "ok"


def test_probes_over_plain_http_are_not_redirected_to_https(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    client = Client()

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/sessions/").status_code == 301
