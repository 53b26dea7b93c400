"""Helpers for tests on the Django models (their fixtures are in tests/conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection

from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.state.store import json_size, state_load


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


def user_with_role(user_model: Any, username: str, role: str | None) -> Any:
    """Create a user in one of the roles (or in none), with the role groups in place."""
    from django.contrib.auth.models import Group

    from sessions_app.services.roles import roles_sync

    roles_sync(actor=None)
    user = user_model.objects.create_user(username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user
