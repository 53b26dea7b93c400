"""Run starts are rate-limited per user: WFSITE_RUN_RATE_LIMIT starts in any window, counted in the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks import default_task_backend

from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.services.rate_limits import RateLimit, RunRateLimitedError, run_rate_check
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
from sessions_app.state.store import state_replace
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def dummy_tasks(settings: Any) -> Iterator[None]:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.WFSITE_RUN_RATE_LIMIT = "3/60"
    default_task_backend.clear()
    yield
    default_task_backend.clear()


@pytest.fixture
def ada(django_user_model: Any) -> Any:
    return user_with_role(django_user_model, "ada", "runner")


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return user_with_role(django_user_model, "bob", "runner")


@pytest.fixture
def session(ada: Any) -> WorkflowSession:
    return session_create(session_id="rate", workflow="BlogPostGenerator", user=ada)


def start(session: WorkflowSession, user: Any, topic: str, now: datetime = T0) -> WorkflowRun:
    return run_start(session=session, inputs={"topic": topic}, user=user, now=now)


def test_the_21st_start_in_a_minute_is_refused_and_creates_nothing(
    settings: Any, session: WorkflowSession, ada: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.WFSITE_RUN_RATE_LIMIT = "20/60"
    for n in range(20):
        start(session, ada, f"topic {n}", now=T0 + timedelta(seconds=n))

    with django_capture_on_commit_callbacks() as queued, pytest.raises(RunRateLimitedError) as refused:
        start(session, ada, "one too many", now=T0 + timedelta(seconds=30))

    assert str(refused.value) == "You started 20 runs in the last minute; try again in 30 s."
    assert refused.value.retry_after == 30
    assert WorkflowRun.objects.count() == 20
    assert not WorkflowRun.objects.filter(inputs__topic="one too many").exists()
    session.refresh_from_db()
    assert session.run_count == 20
    assert queued == []  # nothing was handed to a worker


def test_another_user_is_not_affected(session: WorkflowSession, ada: Any, bob: Any) -> None:
    for n in range(3):
        start(session, ada, f"ada {n}")
    with pytest.raises(RunRateLimitedError):
        start(session, ada, "ada again")

    run = start(session, bob, "bob's turn")

    assert run.started_by == bob
    assert run.status == WorkflowRun.Status.QUEUED


def test_after_the_window_it_works_again(session: WorkflowSession, ada: Any) -> None:
    for n in range(3):
        start(session, ada, f"topic {n}")

    with pytest.raises(RunRateLimitedError) as refused:
        start(session, ada, "later", now=T0 + timedelta(seconds=59.5))
    run = start(session, ada, "later", now=T0 + timedelta(seconds=60))

    assert refused.value.retry_after == 1  # rounded up: never "try again in 0 s"
    assert run.created_at == T0 + timedelta(seconds=60)
    assert WorkflowRun.objects.count() == 4


def test_retry_after_is_when_the_oldest_counted_start_leaves_the_window(
    session: WorkflowSession, ada: Any
) -> None:
    for offset in (0, 10, 20, 25):  # the first of these has left the window at 65 s
        start(session, ada, f"at {offset}", now=T0 + timedelta(seconds=offset if offset < 25 else 61))

    with pytest.raises(RunRateLimitedError) as refused:
        start(session, ada, "now", now=T0 + timedelta(seconds=65))

    # Counted: 10, 20 and 61; the one at 10 leaves the window at 70.
    assert refused.value.retry_after == 5


def test_cache_hits_count(session: WorkflowSession, ada: Any) -> None:
    state_replace(session, {"blog_posts": [{"topic": "cached", "blog_post": "# Cached"}]})
    hits = [start(session, ada, "cached") for _ in range(3)]

    with pytest.raises(RunRateLimitedError):
        start(session, ada, "cached")

    assert all(run.cache_hit for run in hits)
    assert WorkflowRun.objects.count() == 3


def test_joining_a_run_in_flight_is_allowed_and_not_counted(session: WorkflowSession, ada: Any) -> None:
    first = start(session, ada, "shared")
    start(session, ada, "two")
    start(session, ada, "three")

    joined = start(session, ada, "Shared ")

    assert joined == first
    assert WorkflowRun.objects.count() == 3


@pytest.mark.parametrize("setting", ["", "0/60"])
def test_the_limit_can_be_turned_off(settings: Any, session: WorkflowSession, ada: Any, setting: str) -> None:
    settings.WFSITE_RUN_RATE_LIMIT = setting
    for n in range(5):
        start(session, ada, f"topic {n}")

    assert WorkflowRun.objects.count() == 5


def test_starts_by_nobody_in_particular_are_not_limited(session: WorkflowSession) -> None:
    for n in range(5):
        start(session, None, f"topic {n}")

    assert WorkflowRun.objects.count() == 5


def test_window_text() -> None:
    assert RateLimit(20, 60).window_text() == "the last minute"
    assert RateLimit(20, 300).window_text() == "the last 5 minutes"
    assert RateLimit(20, 3600).window_text() == "the last hour"
    assert RateLimit(20, 90).window_text() == "the last 90 seconds"
    assert RateLimit(1, 1).window_text() == "the last second"


def test_check_alone_without_rows(ada: Any) -> None:
    run_rate_check(user=ada, now=T0)  # nothing started yet: no error


# -- the view -------------------------------------------------------------------------------------


@pytest.fixture
def runner(client: Client, django_user_model: Any) -> tuple[Client, Any]:
    user = user_with_role(django_user_model, "runner", "runner")
    client.force_login(user)
    return client, user


def test_the_view_answers_429_with_retry_after_and_a_clear_message(
    runner: tuple[Client, Any], session: WorkflowSession
) -> None:
    client, user = runner
    for n in range(3):
        start(session, user, f"topic {n}", now=timezone.now())

    page = client.post(reverse("run_create", args=[session.session_id]), {"topic": "more"})
    partial = client.post(
        reverse("run_create", args=[session.session_id]), {"topic": "more"}, HTTP_HX_REQUEST="true"
    )

    for response in (page, partial):
        html = response.content.decode()
        assert response.status_code == 429
        assert 1 <= int(response["Retry-After"]) <= 60
        assert "You started 3 runs in the last minute; try again in" in html
        assert 'value="more"' in html  # the form keeps what was typed
    assert partial.content.decode().lstrip().startswith('<form method="post"')
    assert "<html" in page.content.decode()
    assert WorkflowRun.objects.count() == 3
