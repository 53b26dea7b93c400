from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.selectors.diffs import preview, state_diff_rows
from sessions_app.selectors.history import change_rows, history_list, version_diff
from sessions_app.services.state import session_state_delete, session_state_edit
from sessions_app.state.history import history_prune
from sessions_app.state.versions import (
    VersionUnavailableError,
    history_floor,
    is_baseline,
    state_at_version,
    states_at_versions,
)
from tests.django_fixtures import stored_state
from tests.test_services_state import posts, run_commit

pytestmark = pytest.mark.django_db


def build(n: int) -> tuple[WorkflowSession, list[dict[str, Any]]]:
    """Make a session through n run commits; return it and its state after each version (index = version)."""
    states: list[dict[str, Any]] = [{}]
    for index in range(n):
        if index % 3 == 2:
            run_commit("h", lambda state, i=index: state.update(counter=i))
        else:
            run_commit(
                "h", lambda state, i=index: state.setdefault("blog_posts", []).append(posts(f"T{i}")[0])
            )
        states.append(stored_state("h"))
    return WorkflowSession.objects.get(session_id="h"), states


def test_every_version_is_rebuilt_by_replaying_ops() -> None:
    session, states = build(9)

    rebuilt = states_at_versions(session=session, versions=range(10))

    assert rebuilt == dict(enumerate(states))
    assert history_floor(session=session) == 0


def test_a_version_outside_the_history_is_unavailable() -> None:
    session, _ = build(2)

    with pytest.raises(VersionUnavailableError, match="There is no version 5"):
        state_at_version(session=session, version=5)


def test_history_rows_say_who_what_and_when(django_user_model: Any) -> None:
    session, _ = build(1)
    user = django_user_model.objects.create_superuser("root", password="x")
    session_state_delete(session=session, path=("blog_posts", 0), base_version=1, actor=user)

    first, second = list(history_list(session=session))[::-1]

    assert (first.source, first.actor) == (StateChange.Source.RUN.value, None)
    assert (second.source, second.actor) == (StateChange.Source.CLEAR.value, user)
    assert [(r.path, r.kind) for r in change_rows(first)] == [("blog_posts[+]", "added")]
    assert [(r.path, r.kind) for r in change_rows(second)] == [("blog_posts[0]", "removed")]
    assert '"topic": "T0"' in change_rows(second)[0].before


def test_a_diff_between_two_versions_names_paths_and_summarises_long_posts() -> None:
    long_post = "word " * 2000
    before = {"blog_posts": [{"topic": "A", "blog_post": long_post}], "tone": "dry", "gone": 1}
    after = {
        "blog_posts": [{"topic": "A", "blog_post": long_post + "end"}, {"topic": "B", "blog_post": "b"}],
        "tone": "warm",
    }

    rows = state_diff_rows(before, after)

    assert [(r.path, r.kind) for r in rows] == [
        ("blog_posts", "changed"),
        ("tone", "changed"),
        ("gone", "removed"),
    ]
    assert len(rows[0].before) < 1000
    assert "characters" in rows[0].before
    assert [(r.path, r.kind) for r in state_diff_rows({"xs": [1]}, {"xs": [1, 2]})] == [("xs[1]", "added")]
    changed = state_diff_rows({"p": long_post}, {"p": long_post.replace("word", "WORD", 1)})[0]
    assert {sign for sign, _ in changed.lines} == {"-", "+", "…"}
    assert all(len(text) < 1000 for _, text in changed.lines)


def test_preview_keeps_short_values_and_shortens_long_ones() -> None:
    assert preview("hi") == '"hi"'
    assert preview({"a": 1}) == '{"a": 1}'
    assert preview("x" * 5000).endswith("(5,000 characters)")


def test_version_diff_works_in_both_directions() -> None:
    session, _ = build(3)

    forward = version_diff(session=session, before=1, after=3)
    backward = version_diff(session=session, before=3, after=1)

    assert sorted((r.path, r.kind) for r in forward.rows) == [
        ("blog_posts[1]", "added"),
        ("counter", "added"),
    ]
    assert sorted((r.path, r.kind) for r in backward.rows) == [
        ("blog_posts[1]", "removed"),
        ("counter", "removed"),
    ]


def test_prune_folds_old_changes_into_a_baseline_and_keeps_newer_versions_exact() -> None:
    session, states = build(12)

    deleted = history_prune(session=session, keep=4, force=True)

    assert deleted == 7
    versions = list(
        StateChange.objects.filter(session=session).order_by("version").values_list("version", flat=True)
    )
    assert versions == [8, 9, 10, 11, 12]
    assert is_baseline(StateChange.objects.get(session=session, version=8).ops)
    assert history_floor(session=session) == 8
    assert states_at_versions(session=session, versions=range(8, 13)) == {v: states[v] for v in range(8, 13)}
    with pytest.raises(VersionUnavailableError, match="no longer in the history"):
        state_at_version(session=session, version=7)


def test_prune_waits_for_a_tenth_more_than_it_keeps(settings: Any) -> None:
    session, _ = build(6)

    assert history_prune(session=session, keep=4) == 0  # 6 <= 4 + 1 + 1
    run_commit("h", lambda state: state.update(more=1))
    assert history_prune(session=session, keep=4) == 2


def test_services_prune_by_the_setting(settings: Any, django_user_model: Any) -> None:
    settings.WFSITE_HISTORY_KEEP = 3
    user = django_user_model.objects.create_superuser("root", password="x")
    session, _ = build(1)
    for index in range(8):
        session_state_edit(session=session, new_state={"n": index}, base_version=session.version, actor=user)

    kept = StateChange.objects.filter(session=session).count()
    assert 3 + 1 <= kept <= 3 + 1 + 1
    assert state_at_version(session=session, version=session.version - 3) == {"n": 4}


def test_rebuilding_takes_a_bounded_number_of_queries() -> None:
    session, _ = build(30)

    with CaptureQueriesContext(connection) as queries:
        states_at_versions(session=session, versions=[3, 17, 30])

    assert len(queries) <= 4


def test_a_legacy_session_gets_a_baseline_before_its_first_recorded_change(
    make_session: Callable[..., WorkflowSession], django_user_model: Any
) -> None:
    user = django_user_model.objects.create_superuser("root", password="x")
    session = make_session({"a": 1, "xs": [1, 2]}, session_id="old")

    session_state_edit(session=session, new_state={"a": 2, "xs": [1, 2]}, base_version=0, actor=user)

    assert state_at_version(session=session, version=0) == {"a": 1, "xs": [1, 2]}
    assert history_floor(session=session) == 0


@pytest.mark.django_db(transaction=True)
def test_run_changes_are_pruned_to_the_retention_setting(settings: Any) -> None:
    from sessions_app.models import StateChange, WorkflowSession
    from sessions_app.state.storage import DjangoWorkflowStorage
    from sessions_app.state.store import state_load
    from tests.workflow.conftest import Cacher

    settings.WFSITE_HISTORY_KEEP = 10
    storage = DjangoWorkflowStorage(workflow="Cacher")
    for n in range(40):
        list(Cacher(session_id="pruned", storage=storage).run(topic=f"t{n}"))

    session = WorkflowSession.objects.get(session_id="pruned")
    kept = StateChange.objects.filter(session=session).count()
    assert kept <= 10 + 1 + 1  # keep, one baseline, and at most the slack before the next check
    assert len(state_load(session)["blog_posts"]) == 40  # pruning history never touches the state
