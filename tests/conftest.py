"""Fixtures any test may use.

`start_serve` runs the real stack the README starts (`manage.py serve`: uvicorn and a task
worker) as a subprocess, each on its own SQLite file: pytest-django's per-test database isolation
cannot reach another process, so those tests see only what they put in that file themselves.
tests/site_processes.py is the one place that starts the stack, whole or process by process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from django.db import connection, connections

# The stack's helpers live in tests/site_processes.py; these names stay importable from here.
from tests.site_processes import (  # noqa: F401
    BASE_DIR,
    READY_TIMEOUT_SECONDS,
    ServeStack,
    free_port,
    launch_serve,
    run_manage,
)

# -- the test database -------------------------------------------------------------------------------
# Threads need a test database they can share. pytest-django's SQLite test database is in memory
# by default, which other threads' connections reach only through SQLite's shared cache, whose
# table locks fail at once instead of waiting; so SQLite tests here run on a file.


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Put the SQLite test database in a file, so that threads share it."""
    settings = connections["default"].settings_dict
    if connections["default"].vendor == "sqlite":
        settings.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture
def shared_db(transactional_db: None) -> None:
    """Fail clearly when the test database cannot be shared by threads (see above)."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.fail(
            "the SQLite test database is in memory, so threads cannot share it: give it a file "
            "(django_db_modify_db_settings in tests/conftest.py)"
        )


@pytest.fixture
def make_session(db: None) -> Callable[..., Any]:
    """Return a function that creates a session row holding a given state."""
    from sessions_app.models import WorkflowSession
    from sessions_app.state.store import state_replace

    def make(state: dict[str, Any] | None = None, session_id: str = "s", **fields: Any) -> Any:
        # The built-in workflow that caches in a list, so that `blog_posts` is a declared cache.
        fields.setdefault("workflow", "BlogPostGenerator")
        session = WorkflowSession.objects.create(session_id=session_id, **fields)
        state_replace(session, state or {})
        return session

    return make


@pytest.fixture(scope="session", autouse=True)
def fast_password_hasher() -> Iterator[None]:
    """Hash passwords with MD5 in tests: each login or create_user with the default PBKDF2 costs
    a good part of a second on a busy machine. The stacks in subprocesses keep the real hasher."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session")
def start_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServeStack]]:
    """Return a function that starts a `manage.py serve` stack; any left running stop at the end."""
    started: list[ServeStack] = []

    def start(*serve_args: str, env: Mapping[str, str] | None = None) -> ServeStack:
        stack = launch_serve(tmp_path_factory.mktemp("stack"), *serve_args, env=env)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        if stack.process.poll() is None:
            stack.stop()
