from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.services.caches import cache_entry_delete
from sessions_app.services.forks import session_fork
from sessions_app.services.state import (
    UndoConflictError,
    session_state_clear,
    session_state_edit,
    state_change_undo,
)
from sessions_app.state.layout import session_caches
from sessions_app.state.versions import VersionUnavailableError
from tests.branch_helpers import posts, run_commit
from tests.django_fixtures import assert_rows_consistent, stored_state, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(django_user_model: type[AbstractUser]) -> AbstractUser:
    return user_with_role(django_user_model, "ed", "editor")


@pytest.fixture
def session(editor: AbstractUser) -> WorkflowSession:
    """Version 1: posts A and B, tone dry."""
    return run_commit("s", lambda state: state.update(blog_posts=posts("A", "B"), tone="dry"))


def fresh() -> WorkflowSession:
    return WorkflowSession.objects.get(session_id="s")


def topics() -> list[str]:
    return [post["topic"] for post in stored_state("s").get("blog_posts", [])]


def edit(editor: AbstractUser, **values: Any) -> None:
    session = fresh()
    session_state_edit(
        session=session, new_state={**stored_state("s"), **values}, base_version=session.version, actor=editor
    )


def append(topic: str) -> None:
    run_commit("s", lambda state: state["blog_posts"].append(posts(topic)[0]))


def test_undoing_an_edit_keeps_what_came_after(session: WorkflowSession, editor: AbstractUser) -> None:
    edit(editor, tone="warm")  # v2
    append("C")  # v3

    change = state_change_undo(session=fresh(), version=2, actor=editor)

    assert change is not None
    assert (change.version, change.source, change.actor) == (4, StateChange.Source.UNDO, editor)
    assert change.summary.startswith("Undid version 2: ")
    assert stored_state("s")["tone"] == "dry"
    assert topics() == ["A", "B", "C"]
    assert_rows_consistent(fresh())


def test_undoing_an_append_removes_only_that_entry(session: WorkflowSession, editor: AbstractUser) -> None:
    append("C")  # v2
    append("D")  # v3

    change = state_change_undo(session=fresh(), version=2, actor=editor)

    assert change is not None
    assert "Undid version 2" in change.summary
    assert topics() == ["A", "B", "D"]
    assert_rows_consistent(fresh())


def test_undoing_an_entry_delete_puts_it_back_in_its_place(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    cache = session_caches(session)["blog_posts"]
    cache_entry_delete(session=fresh(), cache=cache, key="a", base_version=1, actor=editor)  # v2
    append("C")  # v3

    state_change_undo(session=fresh(), version=2, actor=editor)

    assert topics() == ["A", "B", "C"]
    assert_rows_consistent(fresh())


def test_undoing_an_append_after_an_earlier_entry_went_finds_it(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    append("C")  # v2: C is blog_posts[2]
    cache = session_caches(session)["blog_posts"]
    cache_entry_delete(
        session=fresh(), cache=cache, key="a", base_version=2, actor=editor
    )  # v3: C moved to [1]

    state_change_undo(session=fresh(), version=2, actor=editor)

    assert topics() == ["B"]


def test_undoing_a_clear_brings_the_values_back(session: WorkflowSession, editor: AbstractUser) -> None:
    session_state_clear(session=fresh(), base_version=1, actor=editor, path=("blog_posts",))  # v2
    edit(editor, tone="warm")  # v3

    state_change_undo(session=fresh(), version=2, actor=editor)

    assert topics() == ["A", "B"]
    assert stored_state("s")["tone"] == "warm"


def test_undoing_a_clear_of_everything_brings_it_all_back(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    session_state_clear(session=fresh(), base_version=1, actor=editor)  # v2
    assert stored_state("s") == {}

    state_change_undo(session=fresh(), version=2, actor=editor)

    assert stored_state("s") == {"blog_posts": posts("A", "B"), "tone": "dry"}
    assert_rows_consistent(fresh())


def test_an_undo_of_a_value_changed_later_is_refused_naming_it_and_writes_nothing(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    edit(editor, tone="warm")  # v2
    edit(editor, tone="bright")  # v3

    with pytest.raises(UndoConflictError) as caught:
        state_change_undo(session=fresh(), version=2, actor=editor)

    assert caught.value.paths == [("tone",)]
    assert "Version 2 cannot be undone" in str(caught.value)
    assert "tone" in str(caught.value)
    assert "Restoring version 1" in str(caught.value)
    assert fresh().version == 3
    assert stored_state("s")["tone"] == "bright"
    assert StateChange.objects.filter(session=session).count() == 3


def test_an_undo_conflict_on_an_entry_names_the_entry(session: WorkflowSession, editor: AbstractUser) -> None:
    append("C")  # v2
    state = stored_state("s")
    state["blog_posts"][2] = {**state["blog_posts"][2], "blog_post": "Rewritten."}
    edit(editor, blog_posts=state["blog_posts"])  # v3

    with pytest.raises(UndoConflictError) as caught:
        state_change_undo(session=fresh(), version=2, actor=editor)

    assert "'C'" in str(caught.value)
    assert topics() == ["A", "B", "C"]
    assert fresh().version == 3


def test_an_undo_of_what_is_already_undone_changes_nothing(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    edit(editor, tone="warm")  # v2
    edit(editor, tone="dry")  # v3

    assert state_change_undo(session=fresh(), version=2, actor=editor) is None
    assert fresh().version == 3


def test_an_undo_can_itself_be_undone(session: WorkflowSession, editor: AbstractUser) -> None:
    append("C")  # v2
    state_change_undo(session=fresh(), version=2, actor=editor)  # v3

    state_change_undo(session=fresh(), version=3, actor=editor)

    assert topics() == ["A", "B", "C"]


def test_undoing_the_first_change_empties_what_it_made(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    state_change_undo(session=fresh(), version=1, actor=editor)

    assert stored_state("s") == {}


@pytest.mark.parametrize("version", [0, 5, -1])
def test_an_undo_of_a_version_no_change_made_is_refused(
    session: WorkflowSession, editor: AbstractUser, version: int
) -> None:
    with pytest.raises(VersionUnavailableError):
        state_change_undo(session=fresh(), version=version, actor=editor)


def test_the_change_a_history_begins_with_cannot_be_undone(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    fork = session_fork(session=session, version=1, actor=editor, session_id="copy")

    with pytest.raises(ValidationError, match="cannot be undone"):
        state_change_undo(session=fork, version=1, actor=editor)


@pytest.mark.parametrize("role", ["viewer", "runner"])
def test_undoing_needs_the_editor_role(
    session: WorkflowSession, django_user_model: type[AbstractUser], role: str
) -> None:
    edit(user_with_role(django_user_model, "boss", "editor"), tone="warm")
    user = user_with_role(django_user_model, f"u-{role}", role)

    with pytest.raises(PermissionDenied, match="editor"):
        state_change_undo(session=fresh(), version=2, actor=user)

    assert stored_state("s")["tone"] == "warm"


def test_undoing_a_change_that_cached_two_entries_after_an_earlier_one_went(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    run_commit("s", lambda state: state["blog_posts"].extend(posts("C", "D")))  # v2
    cache = session_caches(session)["blog_posts"]
    cache_entry_delete(session=fresh(), cache=cache, key="a", base_version=2, actor=editor)  # v3

    state_change_undo(session=fresh(), version=2, actor=editor)

    assert topics() == ["B"]
    assert_rows_consistent(fresh())
