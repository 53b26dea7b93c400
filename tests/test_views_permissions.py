"""Every page needs a login and the viewer role; every write checks its own permission."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.urls import reverse

from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.state.store import state_replace
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def session() -> WorkflowSession:
    session = WorkflowSession.objects.create(session_id="s 1", workflow="BlogPostGenerator")
    state_replace(session, {"blog_posts": [{"topic": "t", "blog_post": "# T"}]})
    return session


@pytest.fixture
def run(session: WorkflowSession) -> WorkflowRun:
    return WorkflowRun.objects.create(session=session, workflow=session.workflow, status="succeeded")


def read_urls(session: WorkflowSession, run: WorkflowRun) -> list[str]:
    return [
        reverse("session_list"),
        reverse("session_detail", args=[session.session_id]),
        reverse("session_cache_check", args=[session.session_id]) + "?topic=t",
        reverse("cache_entry", args=[session.session_id, "blog_posts", "t"]),
        reverse("run_detail", args=[run.run_id]),
    ]


def client_for(django_user_model: Any, role: str | None) -> Client:
    client = Client()
    client.force_login(user_with_role(django_user_model, f"user-{role}", role))
    return client


def test_anonymous_is_sent_to_log_in_everywhere(session: WorkflowSession, run: WorkflowRun) -> None:
    client = Client()
    for url in read_urls(session, run):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/")
    assert client.post(reverse("run_create", args=[session.session_id]), {"topic": "x"}).status_code == 302
    assert client.post(reverse("session_list"), {"session_id": "new"}).status_code == 302
    assert WorkflowRun.objects.count() == 1
    assert WorkflowSession.objects.count() == 1


def test_logged_in_user_without_a_role_is_refused(
    django_user_model: Any, session: WorkflowSession, run: WorkflowRun
) -> None:
    client = client_for(django_user_model, None)
    for url in read_urls(session, run):
        assert client.get(url).status_code == 403, url
    stream = async_to_sync(_stream_status)(client, run)
    assert stream == 403


async def _stream_status(client: Client, run: WorkflowRun) -> int:
    async_client = AsyncClient()
    async_client.cookies = client.cookies
    response = await async_client.get(reverse("run_events", args=[run.run_id]))
    return response.status_code


@pytest.mark.parametrize("role", ["viewer", "runner", "editor", "admin"])
def test_every_role_can_browse(
    django_user_model: Any, session: WorkflowSession, run: WorkflowRun, role: str
) -> None:
    client = client_for(django_user_model, role)
    for url in read_urls(session, run):
        assert client.get(url).status_code == 200, url


def test_viewer_cannot_start_runs_or_sessions_and_sees_no_forms(
    django_user_model: Any, session: WorkflowSession
) -> None:
    client = client_for(django_user_model, "viewer")
    response = client.post(reverse("run_create", args=[session.session_id]), {"topic": "new topic"})
    assert response.status_code == 403
    assert (
        client.post(
            reverse("session_list"), {"session_id": "mine", "workflow": "BlogPostGenerator"}
        ).status_code
        == 403
    )
    assert WorkflowRun.objects.count() == 0
    assert WorkflowSession.objects.count() == 1
    assert (
        'id="run-form"'
        not in client.get(reverse("session_detail", args=[session.session_id])).content.decode()
    )
    assert 'id="create-form"' not in client.get(reverse("session_list")).content.decode()


@pytest.mark.parametrize("role", ["runner", "editor", "admin"])
def test_runners_and_up_can_start_runs_and_sessions(
    django_user_model: Any, session: WorkflowSession, role: str
) -> None:
    client = client_for(django_user_model, role)
    page = client.get(reverse("session_detail", args=[session.session_id])).content.decode()
    assert 'id="run-form"' in page
    response = client.post(
        reverse("run_create", args=[session.session_id]), {"topic": "t", "use_cache": "on"}
    )
    assert response.status_code == 302
    assert WorkflowRun.objects.get().cache_hit is True
    created = client.post(
        reverse("session_list"), {"session_id": f"new-{role}", "workflow": "BlogPostGenerator"}
    )
    assert created.status_code == 302
    assert WorkflowSession.objects.filter(session_id=f"new-{role}").exists()
