"""Fixtures for tests on the Django models; import them into a test module to use them.

Threads need a test database they can share. pytest-django's SQLite test database is in memory
by default, which other threads' connections reach only through SQLite's shared cache, whose
table locks fail at once instead of waiting; so SQLite tests here run on a file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.state.store import json_size, state_load, state_replace


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Put the SQLite test database in a file, so that threads share it."""
    settings = connections["default"].settings_dict
    if settings["ENGINE"] == "django.db.backends.sqlite3":
        settings.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture
def shared_db(transactional_db: None) -> None:
    """Fail clearly when the test database cannot be shared by threads (see the module docstring)."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.fail(
            "the SQLite test database is in memory, so threads cannot share it: give it a file "
            "(tests/django_fixtures.py's django_db_modify_db_settings, applied in tests/conftest.py)"
        )


def in_threads(*calls: Callable[[], Any], timeout: float = 60) -> list[BaseException | None]:
    """Run each call in its own thread with its own connection; return what each raised, or None."""
    outcomes: list[BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            calls[index]()
        except BaseException as error:
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    return outcomes


def stored_state(session_id: str) -> dict[str, Any]:
    """Return the whole stored state of a session, read straight from its rows."""
    return state_load(WorkflowSession.objects.get(session_id=session_id))


def assert_rows_consistent(session: WorkflowSession) -> None:
    """Check the row layout's invariants and denormalised counters against the rows themselves."""
    session.refresh_from_db()
    state = state_load(session)
    assert not set(session.session_state) & set(session.list_keys)
    for key in session.list_keys:
        positions = list(
            StateEntry.objects.filter(session=session, key=key).values_list("position", flat=True)
        )
        assert positions == list(range(len(positions)))
    assert set(StateEntry.objects.filter(session=session).values_list("key", flat=True)) <= set(
        session.list_keys
    )
    assert session.cache_entries == StateEntry.objects.filter(session=session).count()
    assert session.state_size == json_size(state)
    for entry in StateEntry.objects.filter(session=session):
        assert entry.size == json_size(entry.value)


@pytest.fixture
def make_session(db: None) -> Callable[..., WorkflowSession]:
    """Return a function that creates a session row holding a given state."""

    def make(state: dict[str, Any] | None = None, session_id: str = "s", **fields: Any) -> WorkflowSession:
        # The built-in workflow that caches in a list, so that `blog_posts` is a declared cache.
        fields.setdefault("workflow", "BlogPostGenerator")
        session = WorkflowSession.objects.create(session_id=session_id, **fields)
        state_replace(session, state or {})
        return session

    return make


def user_with_role(user_model: Any, username: str, role: str | None) -> Any:
    """Create a user in one of the roles (or in none), with the role groups in place."""
    from django.contrib.auth.models import Group

    from sessions_app.services.roles import roles_sync

    roles_sync(actor=None)
    user = user_model.objects.create_user(username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user
