"""`manage.py generate_blog_post`: streams to the terminal, uses the session's cache, fails clearly."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.state.store import state_load

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_offline_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFSITE_MODEL_PROVIDER", "offline")
    monkeypatch.setenv("WFSITE_OFFLINE_DELAY", "0")
    monkeypatch.delenv("WFSITE_SEARCHER", raising=False)


def generate(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("generate_blog_post", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_generates_then_serves_from_the_cache() -> None:
    out, err = generate("--session-id", "my-session-id", "AI agents")
    assert out.startswith("# ")
    assert "[ResearchCompleted] Research skipped" in err
    assert "written now and cached" in err

    again, err = generate("--session-id", "my-session-id", "ai agents ")
    assert again == out
    assert "served from the cache" in err

    session = WorkflowSession.objects.get(session_id="my-session-id")
    assert session.workflow == "BlogPostGenerator"
    assert [p["topic"] for p in state_load(session)["blog_posts"]] == ["AI agents"]
    runs = list(WorkflowRun.objects.filter(session=session).order_by("created_at"))
    assert [(r.status, r.cache_hit) for r in runs] == [("succeeded", False), ("succeeded", True)]


def test_no_cache_writes_anew_and_replaces_the_entry() -> None:
    generate("--session-id", "s", "Rust")
    _, err = generate("--session-id", "s", "rust", "--no-cache")
    assert "written now and cached" in err
    assert len(state_load(WorkflowSession.objects.get(session_id="s"))["blog_posts"]) == 1


def test_failure_exits_non_zero_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CommandError, match="The topic is empty"):
        generate("--session-id", "s", "   ")
    monkeypatch.setenv("WFSITE_MODEL_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("WFSITE_MODEL_MAX_RETRIES", "0")
    with pytest.raises(CommandError, match=r"127\.0\.0\.1:9"):
        generate("--session-id", "s", "unreachable")
