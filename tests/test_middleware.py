"""The busy page: a write that finds the database locked past its busy timeout answers 503, not 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client

from sessions_app.middleware import BUSY_RETRY_AFTER_SECONDS, is_database_busy
from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.services.sessions import session_create
from sessions_app.workflow.errors import StorageBusyError
from tests.django_fixtures import user_with_role
from tests.test_faults import busy_timeout, write_locked


@pytest.fixture
def sqlite_file(transactional_db: None) -> Path:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's write lock; PostgreSQL writers wait on row locks, without a timeout here")
    return Path(connection.settings_dict["NAME"])


@pytest.fixture
def runner(client: Client, django_user_model: Any, sqlite_file: Path) -> Any:
    user = user_with_role(django_user_model, "runner", "runner")
    client.force_login(user)
    return user


def post(client: Client, path: str, data: dict[str, str], **headers: str) -> Any:
    return client.post(path, data, headers={"referer": "http://testserver" + path, **headers})


def assert_busy_page(response: Any) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == str(BUSY_RETRY_AFTER_SECONDS)
    assert "Content-Security-Policy" in response
    html = response.content.decode()
    assert "Busy, try again" in html
    assert "nothing was saved" in html
    assert 'class="site-header"' in html, "the page is in the site's layout"


def test_creating_a_session_while_another_process_holds_the_lock_is_a_busy_page(
    client: Client, runner: Any, sqlite_file: Path
) -> None:
    with busy_timeout(0.3), write_locked(sqlite_file):
        response = post(
            client, "/sessions/", {"session_id": "during the lock", "workflow": "BlogPostGenerator"}
        )
    assert_busy_page(response)
    assert not WorkflowSession.objects.filter(session_id="during the lock").exists()


def test_starting_a_run_while_locked_is_a_busy_page_and_the_retry_works(
    client: Client, runner: Any, sqlite_file: Path, settings: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    session_create(session_id="blog", workflow="BlogPostGenerator", user=runner)
    with busy_timeout(0.3), write_locked(sqlite_file):
        response = post(client, "/sessions/blog/runs/", {"topic": "Locks"})
    assert_busy_page(response)
    assert not WorkflowRun.objects.exists()

    again = post(client, "/sessions/blog/runs/", {"topic": "Locks"})
    assert again.status_code == 302
    assert WorkflowRun.objects.count() == 1


def test_an_htmx_write_gets_only_the_message(client: Client, runner: Any, sqlite_file: Path) -> None:
    with busy_timeout(0.3), write_locked(sqlite_file):
        response = post(
            client, "/sessions/", {"session_id": "htmx", "workflow": "BlogPostGenerator"}, hx_request="true"
        )
    assert response.status_code == 503
    assert response["Retry-After"] == str(BUSY_RETRY_AFTER_SECONDS)
    html = response.content.decode()
    assert "nothing was saved" in html
    assert "<html" not in html


@pytest.mark.parametrize(
    ("error", "busy"),
    [
        (OperationalError("database is locked"), True),
        (OperationalError("database table is locked"), True),
        (OperationalError("canceling statement due to lock timeout"), True),
        (StorageBusyError("the database stayed locked by other writers"), True),
        (OperationalError("no such table: sessions_app_workflowsession"), False),
        (ValueError("database is locked"), False),
    ],
)
def test_which_errors_mean_busy(error: BaseException, busy: bool) -> None:
    assert is_database_busy(error) is busy
