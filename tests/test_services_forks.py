from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError

from sessions_app.models import CacheEntryStats, StateChange, StateEntry, WorkflowSession
from sessions_app.services.caches import cache_entry_delete
from sessions_app.services.forks import session_fork
from sessions_app.services.state import session_state_edit
from sessions_app.state.cache_stats import cache_stats_hit
from sessions_app.state.layout import session_caches
from sessions_app.state.versions import VersionUnavailableError, state_at_version
from tests.branch_helpers import posts, run_commit
from tests.django_fixtures import assert_rows_consistent, stored_state, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(django_user_model: type[AbstractUser]) -> AbstractUser:
    return user_with_role(django_user_model, "ed", "editor")


@pytest.fixture
def source(editor: AbstractUser) -> WorkflowSession:
    """A session at version 3: two posts, then a third, then the tone changed."""
    run_commit("src", lambda state: state.update(blog_posts=posts("A", "B"), tone="dry"))
    run_commit("src", lambda state: state["blog_posts"].append(posts("C")[0]))
    session = WorkflowSession.objects.get(session_id="src")
    session.name = "Source"
    session.save(update_fields=["name"])
    state = stored_state("src")
    session_state_edit(session=session, new_state={**state, "tone": "warm"}, base_version=2, actor=editor)
    return WorkflowSession.objects.get(session_id="src")


def topics(session_id: str) -> list[str]:
    return [post["topic"] for post in stored_state(session_id).get("blog_posts", [])]


def test_a_fork_holds_the_state_at_that_version_and_says_where_it_came_from(
    source: WorkflowSession, editor: AbstractUser
) -> None:
    fork = session_fork(session=source, version=2, actor=editor, session_id="copy")

    fork = WorkflowSession.objects.get(session_id="copy")
    assert stored_state("copy") == state_at_version(session=source, version=2)
    assert topics("copy") == ["A", "B", "C"]
    assert stored_state("copy")["tone"] == "dry"
    assert (fork.forked_from, fork.forked_from_session_id, fork.forked_from_version) == (source, "src", 2)
    assert (fork.name, fork.workflow, fork.user_id, fork.version) == (
        "Source (fork of v2)",
        source.workflow,
        "ed",
        1,
    )
    assert list(source.forks.all()) == [fork]
    assert_rows_consistent(fork)


def test_the_forks_history_starts_with_a_change_naming_the_source_and_version(
    source: WorkflowSession, editor: AbstractUser
) -> None:
    fork = session_fork(session=source, version=2, actor=editor, session_id="copy")

    changes = list(StateChange.objects.filter(session=fork))
    assert len(changes) == 1
    first = changes[0]
    assert (first.version, first.source, first.actor) == (1, StateChange.Source.FORK, editor)
    assert first.summary == "Forked from session 'src' at version 2"
    assert state_at_version(session=fork, version=1) == stored_state("copy")


def test_a_fork_of_an_old_version_leaves_later_changes_out(
    source: WorkflowSession, editor: AbstractUser
) -> None:
    session_fork(session=source, version=1, actor=editor, session_id="old", name="First two")

    fork = WorkflowSession.objects.get(session_id="old")
    assert topics("old") == ["A", "B"]
    assert fork.name == "First two"
    assert fork.forked_from_version == 1


def test_a_fork_and_its_source_are_independent(source: WorkflowSession, editor: AbstractUser) -> None:
    fork = session_fork(session=source, version=3, actor=editor, session_id="copy")
    source_rows = set(StateEntry.objects.filter(session=source).values_list("pk", flat=True))
    assert source_rows.isdisjoint(StateEntry.objects.filter(session=fork).values_list("pk", flat=True))

    run_commit("copy", lambda state: state["blog_posts"].append(posts("D")[0]))
    cache = session_caches(fork)["blog_posts"]
    cache_entry_delete(session=source, cache=cache, key="a", base_version=3, actor=editor)

    assert topics("src") == ["B", "C"]
    assert topics("copy") == ["A", "B", "C", "D"]
    assert WorkflowSession.objects.get(session_id="src").version == 4
    assert WorkflowSession.objects.get(session_id="copy").version == 2
    assert_rows_consistent(WorkflowSession.objects.get(session_id="src"))
    assert_rows_consistent(WorkflowSession.objects.get(session_id="copy"))


def test_a_fork_has_its_own_cache_stats_with_the_entries_age(
    source: WorkflowSession, editor: AbstractUser
) -> None:
    cache_stats_hit(session_pk=source.pk, cache="blog_posts", key="b")
    fork = session_fork(session=source, version=3, actor=editor, session_id="copy")

    theirs = {row.key: row for row in CacheEntryStats.objects.filter(session=source)}
    mine = {row.key: row for row in CacheEntryStats.objects.filter(session=fork)}
    assert set(mine) == set(theirs) == {"a", "b", "c"}
    assert {key: row.stored_at for key, row in mine.items()} == {
        key: row.stored_at for key, row in theirs.items()
    }
    assert theirs["b"].hits == 1
    assert mine["b"].hits == 0
    cache_stats_hit(session_pk=fork.pk, cache="blog_posts", key="b")
    assert CacheEntryStats.objects.get(session=source, key="b").hits == 1


def test_forks_without_an_id_get_different_ones(source: WorkflowSession, editor: AbstractUser) -> None:
    one = session_fork(session=source, version=2, actor=editor)
    two = session_fork(session=source, version=2, actor=editor)

    assert one.session_id != two.session_id
    assert one.session_id.startswith("src-fork-v2-")
    assert source.forks.count() == 2


def test_a_fork_onto_a_taken_id_is_refused_and_writes_nothing(
    source: WorkflowSession, editor: AbstractUser
) -> None:
    before = WorkflowSession.objects.count()

    with pytest.raises(ValidationError) as caught:
        session_fork(session=source, version=2, actor=editor, session_id="src")

    assert "already exists" in " ".join(caught.value.message_dict["session_id"])
    assert WorkflowSession.objects.count() == before


def test_a_fork_of_a_version_not_kept_is_refused(source: WorkflowSession, editor: AbstractUser) -> None:
    with pytest.raises(VersionUnavailableError):
        session_fork(session=source, version=9, actor=editor, session_id="copy")

    assert not WorkflowSession.objects.filter(session_id="copy").exists()


@pytest.mark.parametrize("role", ["viewer", "runner", None])
def test_forking_needs_the_editor_role(
    source: WorkflowSession, django_user_model: type[AbstractUser], role: str | None
) -> None:
    user = user_with_role(django_user_model, f"u-{role}", role)

    with pytest.raises(PermissionDenied, match="editor"):
        session_fork(session=source, version=2, actor=user, session_id="copy")

    assert not WorkflowSession.objects.filter(session_id="copy").exists()


def test_deleting_the_source_keeps_the_fork_and_its_origin(
    source: WorkflowSession, editor: AbstractUser
) -> None:
    session_fork(session=source, version=2, actor=editor, session_id="copy")

    source.delete()

    fork = WorkflowSession.objects.get(session_id="copy")
    assert (fork.forked_from, fork.forked_from_session_id, fork.forked_from_version) == (None, "src", 2)
    assert topics("copy") == ["A", "B", "C"]
