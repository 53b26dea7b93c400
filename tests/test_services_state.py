from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.services.state import (
    StateConflictError,
    StateStaleError,
    edit_diff,
    session_state_clear,
    session_state_delete,
    session_state_edit,
    session_state_restore,
)
from sessions_app.state.changes import ops_decode
from sessions_app.state.storage import DjangoWorkflowStorage
from sessions_app.state.store import state_snapshot
from sessions_app.state.versions import VersionUnavailableError, state_at_version
from sessions_app.workflow.state import Op, apply, diff
from sessions_app.workflow.storage import RunRecord, SessionMeta
from tests.django_fixtures import assert_rows_consistent, in_threads, stored_state

pytestmark = pytest.mark.django_db

MakeSession = Callable[..., WorkflowSession]


def posts(*topics: str) -> list[dict[str, str]]:
    return [{"topic": topic, "blog_post": f"# {topic}\n\nText."} for topic in topics]


def run_commit(session_id: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Write like a run does: load, change a copy, commit the ops at the loaded version."""
    storage = DjangoWorkflowStorage()
    record = storage.read(session_id)
    base = record.session_state if record else {}
    local = {**base, **{k: list(v) if isinstance(v, list) else v for k, v in base.items()}}
    edit(local)
    storage.commit(
        meta=SessionMeta(session_id=session_id),
        base_version=record.version if record else 0,
        ops=diff(base, local),
        state=local,
        run=RunRecord(
            run_id=str(uuid.uuid4()), session_id=session_id, workflow_id="Test", input={}, status="succeeded"
        ),
    )


@pytest.fixture
def editor(django_user_model: type[AbstractUser]) -> AbstractUser:
    call_command("create_roles")
    user = django_user_model.objects.create_user("ed", password="x")
    user.groups.add(Group.objects.get(name="editor"))
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def session(editor: AbstractUser) -> WorkflowSession:
    run_commit("s", lambda state: state.update(blog_posts=posts("A", "B", "C"), tone="dry"))
    return WorkflowSession.objects.get(session_id="s")


def fresh(session: WorkflowSession) -> WorkflowSession:
    return WorkflowSession.objects.get(pk=session.pk)


# -- edit ------------------------------------------------------------------------------------------------


def test_an_edit_at_the_latest_version_writes_and_records_it(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    new = {"blog_posts": posts("A", "B", "C"), "tone": "warm"}

    change = session_state_edit(session=session, new_state=new, base_version=1, actor=editor)

    assert stored_state("s") == new
    assert change is not None
    assert (change.version, change.source, change.actor) == (2, StateChange.Source.EDIT, editor)
    assert ops_decode(change.ops) == [Op("set", ("tone",), "warm")]
    assert session.version == 2
    assert_rows_consistent(session)


def test_an_edit_that_changes_nothing_records_nothing(session: WorkflowSession, editor: AbstractUser) -> None:
    same = {"blog_posts": posts("A", "B", "C"), "tone": "dry"}

    assert session_state_edit(session=session, new_state=same, base_version=1, actor=editor) is None
    assert fresh(session).version == 1


def test_a_stale_edit_is_refused_and_writes_nothing(session: WorkflowSession, editor: AbstractUser) -> None:
    run_commit("s", lambda state: state["blog_posts"].append(posts("D")[0]))

    with pytest.raises(StateStaleError) as caught:
        session_state_edit(session=session, new_state={"tone": "x"}, base_version=1, actor=editor)

    assert (caught.value.base_version, caught.value.latest_version) == (1, 2)
    assert [p["topic"] for p in stored_state("s")["blog_posts"]] == ["A", "B", "C", "D"]


def test_an_edit_on_top_merges_with_the_run_that_wrote_meanwhile(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    opened = stored_state("s")
    run_commit("s", lambda state: state["blog_posts"].append(posts("D")[0]))
    mine = {"blog_posts": [opened["blog_posts"][0], opened["blog_posts"][2]], "tone": "warm"}

    session_state_edit(session=session, new_state=mine, base_version=1, actor=editor, on_top=True)

    state = stored_state("s")
    assert [p["topic"] for p in state["blog_posts"]] == ["A", "C", "D"]
    assert state["tone"] == "warm"
    assert_rows_consistent(session)


def test_an_edit_on_top_reports_a_true_conflict_per_key(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    run_commit("s", lambda state: state.update(tone="theirs"))

    with pytest.raises(StateConflictError) as caught:
        session_state_edit(
            session=session,
            new_state={"blog_posts": posts("A", "B", "C"), "tone": "mine"},
            base_version=1,
            actor=editor,
            on_top=True,
        )

    assert caught.value.paths == [("tone",)]
    assert stored_state("s")["tone"] == "theirs"
    assert fresh(session).version == 2


@pytest.mark.parametrize("bad", [[], "text", {"x": float("nan")}])
def test_an_edit_that_is_not_a_storable_object_is_refused(
    session: WorkflowSession, editor: AbstractUser, bad: Any
) -> None:
    with pytest.raises(ValidationError):
        session_state_edit(session=session, new_state=bad, base_version=1, actor=editor)
    assert fresh(session).version == 1


def test_edit_diff_removes_list_items_one_by_one() -> None:
    base = {"xs": [1, 2, 3, 4], "y": 1}
    ops = edit_diff(base, {"xs": [1, 3], "y": 1})

    assert ops == [Op("delete", ("xs", 3)), Op("delete", ("xs", 1))]
    assert apply({"xs": [1, 2, 3, 4, 5]}, ops) == {"xs": [1, 3, 5]}
    assert edit_diff(base, {"xs": [4, 1], "y": 1}) == [Op("set", ("xs",), [4, 1])]


# -- clear, delete, restore -----------------------------------------------------------------------------


def test_clear_the_whole_state_needs_the_latest_version(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    run_commit("s", lambda state: state.update(extra=1))
    with pytest.raises(StateStaleError):
        session_state_clear(session=session, base_version=1, actor=editor)

    change = session_state_clear(session=session, base_version=2, actor=editor)

    assert stored_state("s") == {}
    assert change.source == StateChange.Source.CLEAR
    assert change.summary.startswith("Cleared the state")


def test_clear_one_cache_keeps_its_shape(make_session: MakeSession, editor: AbstractUser) -> None:
    session = make_session({"blog_posts": {"A": "a", "B": "b"}, "other": [1]}, session_id="d")

    session_state_clear(session=session, base_version=0, actor=editor, path=("blog_posts",))

    assert stored_state("d") == {"blog_posts": {}, "other": [1]}
    # The session had a state but no history: a baseline was recorded first, so v0 can be rebuilt.
    assert state_at_version(session=fresh(session), version=0) == {
        "blog_posts": {"A": "a", "B": "b"},
        "other": [1],
    }


def test_clear_one_cache_conflicts_when_a_run_added_to_it(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    run_commit("s", lambda state: state["blog_posts"].append(posts("D")[0]))

    with pytest.raises(StateConflictError):
        session_state_clear(session=session, base_version=1, actor=editor, path=("blog_posts",))
    assert len(stored_state("s")["blog_posts"]) == 4


def test_delete_one_entry_merges_with_an_append(session: WorkflowSession, editor: AbstractUser) -> None:
    run_commit("s", lambda state: state["blog_posts"].append(posts("D")[0]))

    session_state_delete(session=session, path=("blog_posts", 1), base_version=1, actor=editor)

    assert [p["topic"] for p in stored_state("s")["blog_posts"]] == ["A", "C", "D"]
    assert_rows_consistent(session)


def test_delete_refuses_when_the_entry_at_that_index_is_another(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    session_state_delete(session=session, path=("blog_posts", 0), base_version=1, actor=editor)

    with pytest.raises(StateConflictError):
        session_state_delete(session=session, path=("blog_posts", 1), base_version=1, actor=editor)
    with pytest.raises(ValidationError, match="nothing at"):
        session_state_delete(session=session, path=("nope",), base_version=2, actor=editor)


def test_restore_brings_back_a_deleted_entry_as_its_own_change(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    session_state_delete(session=session, path=("blog_posts", 1), base_version=1, actor=editor)
    run_commit("s", lambda state: state.update(tone="later"))

    with pytest.raises(StateStaleError):
        session_state_restore(session=session, version=1, base_version=2, actor=editor)
    change = session_state_restore(session=session, version=1, base_version=3, actor=editor)

    assert stored_state("s") == {"blog_posts": posts("A", "B", "C"), "tone": "dry"}
    assert (change.version, change.source) == (4, StateChange.Source.RESTORE)
    assert change.summary.startswith("Restored version 1")
    assert_rows_consistent(session)


def test_restore_of_a_version_that_does_not_exist_is_refused(
    session: WorkflowSession, editor: AbstractUser
) -> None:
    with pytest.raises(VersionUnavailableError):
        session_state_restore(session=session, version=9, base_version=1, actor=editor)


# -- roles -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [None, "viewer", "runner"])
def test_who_may_not_edit_changes_nothing(
    session: WorkflowSession, django_user_model: Any, role: str | None
) -> None:
    user = django_user_model.objects.create_user(f"u-{role}", password="x")
    if role:
        user.groups.add(Group.objects.get(name=role))
    user = django_user_model.objects.get(pk=user.pk)
    calls = [
        lambda: session_state_edit(session=session, new_state={}, base_version=1, actor=user),
        lambda: session_state_clear(session=session, base_version=1, actor=user),
        lambda: session_state_delete(session=session, path=("tone",), base_version=1, actor=user),
        lambda: session_state_restore(session=session, version=1, base_version=1, actor=user),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert fresh(session).version == 1
    assert StateChange.objects.filter(session=session).count() == 1


def test_the_admin_role_may_edit(session: WorkflowSession, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("boss", password="x")
    user.groups.add(Group.objects.get(name="admin"))
    user = django_user_model.objects.get(pk=user.pk)

    session_state_edit(session=session, new_state={}, base_version=1, actor=user)

    assert stored_state("s") == {}


# -- concurrency -----------------------------------------------------------------------------------------


def test_edits_on_top_and_runs_in_threads_lose_no_write(shared_db: None, django_user_model: Any) -> None:
    root = django_user_model.objects.create_superuser("root", password="x")
    run_commit("c", lambda state: state.update(blog_posts=[], edits=0))
    session = WorkflowSession.objects.get(session_id="c")

    def runs() -> None:
        for index in range(15):
            run_commit("c", lambda state, i=index: state["blog_posts"].append(posts(f"T{i}")[0]))

    def edits() -> None:
        for index in range(15):
            seen, state = state_snapshot("c")  # the row and state of one version, as the admin form reads
            session_state_edit(
                session=seen,
                new_state={**state, "edits": index + 1},
                base_version=seen.version,
                actor=root,
                on_top=True,
            )

    assert in_threads(runs, edits) == [None, None]

    state = stored_state("c")
    assert sorted(p["topic"] for p in state["blog_posts"]) == sorted(f"T{i}" for i in range(15))
    assert state["edits"] == 15
    assert_rows_consistent(session)
    final = WorkflowSession.objects.get(pk=session.pk)
    assert state_at_version(session=final, version=final.version) == state
    assert StateChange.objects.filter(session=session).count() == final.version
