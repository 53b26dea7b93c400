from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sessions_app.models import WorkflowSession
from sessions_app.selectors.sessions import SessionFilters, session_get, session_list
from sessions_app.state.store import state_replace

pytestmark = pytest.mark.django_db


def make(session_id: str, state: dict[str, Any] | None = None, **fields: Any) -> WorkflowSession:
    fields.setdefault("workflow", "BlogPostGenerator")
    updated_at = fields.pop("updated_at", None)
    session = WorkflowSession.objects.create(session_id=session_id, **fields)
    state_replace(session, state or {})
    if updated_at is not None:
        WorkflowSession.objects.filter(pk=session.pk).update(updated_at=updated_at)
    return session


def posts(*topics: str) -> dict[str, Any]:
    return {"blog_posts": [{"topic": topic, "blog_post": f"# {topic}\n\nText."} for topic in topics]}


def ids(filters: SessionFilters) -> list[str]:
    return [session.session_id for session in session_list(filters=filters)]


def test_list_never_selects_the_state() -> None:
    make("a", posts("AI agents"), name="first")

    with CaptureQueriesContext(connection) as queries:
        sessions = list(session_list(filters=SessionFilters(search="agents")))

    assert [s.session_id for s in sessions] == ["a"]
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert "session_state" not in sql
    assert "list_keys" not in sql


def test_search_matches_id_name_or_cached_topic_once() -> None:
    make("alpha-1", name="Marketing")
    make("beta", posts("Rust Ownership", "rust ownership again", "Rust 2"), name="")
    make("gamma", name="nothing here")

    assert ids(SessionFilters(search="ALPHA")) == ["alpha-1"]
    assert ids(SessionFilters(search="market")) == ["alpha-1"]
    # Three matching entries, one row: an Exists subquery, not a join.
    assert ids(SessionFilters(search="  rust   OWNERSHIP ")) == ["beta"]
    assert ids(SessionFilters(search="zzz")) == []


def test_filter_by_workflow_and_sort_by_update() -> None:
    now = timezone.now()
    make("old", updated_at=now - timedelta(days=2))
    make("new", updated_at=now)
    make("other", workflow="Other", updated_at=now - timedelta(days=1))

    assert ids(SessionFilters()) == ["new", "other", "old"]
    assert ids(SessionFilters(oldest_first=True)) == ["old", "other", "new"]
    assert ids(SessionFilters(workflow="Other")) == ["other"]
    assert ids(SessionFilters(workflow="BlogPostGenerator", oldest_first=True)) == ["old", "new"]


def test_session_get_and_404() -> None:
    make("a b/c?d#e%20ü 😀")

    assert session_get(session_id="a b/c?d#e%20ü 😀").session_id == "a b/c?d#e%20ü 😀"
    with pytest.raises(Http404):
        session_get(session_id="missing")
