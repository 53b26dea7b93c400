"""The session page's live sections and the session list's rows, as their fragment endpoints send them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse
from django_tasks import default_task_backend

from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.services.run_worker import run_execute
from sessions_app.services.runs import run_start
from sessions_app.state.store import state_replace
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db

XSS = '"><svg onload=alert(1)><script>alert(1)</script><img src=x onerror=alert(1)>'
SECTIONS = ["session-facts", "session-runs", "session-entries", "session-savings", "session-state"]


@pytest.fixture(autouse=True)
def dummy_tasks(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    monkeypatch.setenv("WFSITE_OFFLINE_DELAY", "0")
    default_task_backend.clear()
    yield
    default_task_backend.clear()


def client_as(django_user_model: type[AbstractUser], role: str | None) -> Client:
    client = Client()
    client.force_login(user_with_role(django_user_model, f"user-{role}-{uuid.uuid4().hex[:6]}", role))
    return client


def make(session_id: str = "s1", **fields: Any) -> WorkflowSession:
    session = WorkflowSession.objects.create(session_id=session_id, workflow="BlogPostGenerator", **fields)
    state_replace(session, {"blog_posts": [{"topic": "Cached one", "blog_post": "# Cached one\n\nText."}]})
    return session


def section(html: str, section_id: str) -> str:
    """Return the element with this id (a <section>, <dl> or <tr>), as the page or fragment has it."""
    found = re.search(rf'<(section|dl|tr)\b[^>]*\bid="{section_id}".*?</\1>', html, re.S)
    assert found is not None, f"no #{section_id}"
    return found.group(0)


def test_the_sections_are_the_pages_own_and_never_the_form(django_user_model: type[AbstractUser]) -> None:
    client = client_as(django_user_model, "runner")
    session = make()
    page = client.get(reverse("session_detail", args=[session.session_id])).content.decode()
    response = client.get(reverse("session_sections", args=[session.session_id]))
    fragment = response.content.decode()

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    targets = re.findall(r'<hx-partial hx-target="#([a-z-]+)" hx-swap="outerMorph">', fragment)
    assert targets == SECTIONS
    for section_id in SECTIONS:  # one template per section: the page and the fragment render the same
        assert unmasked(section(fragment, section_id)) == unmasked(section(page, section_id))
    assert 'id="run-form"' in page
    assert 'id="run-form"' not in fragment
    assert 'name="topic"' not in fragment


def unmasked(html: str) -> str:
    """Drop the CSRF tokens, which Django masks afresh on every render."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_after_a_run_finishes_the_sections_show_it(django_user_model: type[AbstractUser]) -> None:
    client = client_as(django_user_model, "runner")
    session = make()
    user = django_user_model.objects.get(username__startswith="user-runner")
    url = reverse("session_sections", args=[session.session_id])
    before = client.get(url).content.decode()
    assert "No runs yet." in section(before, "session-runs")

    run = run_start(session=session, inputs={"topic": "Fresh topic"}, user=user)
    queued = client.get(url).content.decode()
    assert 'badge-queued">queued' in section(queued, "session-runs")

    run_execute(run_id=str(run.run_id))
    session.refresh_from_db()
    after = client.get(url).content.decode()
    runs = section(after, "session-runs")
    assert 'badge-succeeded">succeeded' in runs
    assert "Fresh topic" in runs
    assert "miss" in runs
    assert "Fresh topic" in section(after, "session-entries")
    assert "Fresh topic" in section(after, "session-state")
    facts = section(after, "session-facts")
    assert f"version {session.version}" in facts
    assert "<dd>1</dd>" in facts
    assert "Misses</dt><dd>1" in section(after, "session-savings")


def test_the_sections_follow_the_readers_roles(django_user_model: type[AbstractUser]) -> None:
    session = make()
    url = reverse("session_sections", args=[session.session_id])

    assert Client().get(url).status_code == 302  # to the login page
    nobody = client_as(django_user_model, None).get(url)
    assert nobody.status_code == 403
    assert "viewer" in nobody.content.decode()
    viewer = client_as(django_user_model, "viewer").get(url).content.decode()
    editor = client_as(django_user_model, "editor").get(url).content.decode()
    assert "Cached one" in viewer
    assert "Delete…" not in viewer
    assert "Regenerate" not in viewer
    assert "Delete…" in editor
    assert "Regenerate" in editor
    assert (
        client_as(django_user_model, "viewer")
        .get(reverse("session_sections", args=["no such session"]))
        .status_code
        == 404
    )


def test_the_sections_keep_the_page_of_entries(django_user_model: type[AbstractUser]) -> None:
    client = client_as(django_user_model, "viewer")
    session = make()
    page = client.get(
        reverse("session_detail", args=[session.session_id]), {"cache": "blog_posts", "entries_page": "1"}
    )
    refresh = re.search(r'id="session-refresh" hidden hx-get="([^"]+)"', page.content.decode()).group(1)
    assert (
        refresh
        == reverse("session_sections", args=[session.session_id]) + "?cache=blog_posts&amp;entries_page=1"
    )


def test_untrusted_text_is_escaped_in_sections_and_rows(django_user_model: type[AbstractUser]) -> None:
    client = client_as(django_user_model, "editor")
    session = WorkflowSession.objects.create(
        session_id=XSS, name=XSS, workflow="BlogPostGenerator", user_id=XSS
    )
    state_replace(session, {"blog_posts": [{"topic": XSS, "blog_post": XSS}], XSS: XSS})
    WorkflowRun.objects.create(session=session, workflow=session.workflow, inputs={"topic": XSS}, error=XSS)
    WorkflowSession.objects.filter(pk=session.pk).update(last_run_status="queued")

    for url in (
        reverse("session_sections", args=[session.session_id]),
        reverse("session_row", args=[session.session_id]),
    ):
        html = client.get(url).content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert" not in html
        assert "<img" not in html
        assert "<svg onload" not in html.lower()


def test_a_row_is_the_lists_own_and_shows_the_running_run(django_user_model: type[AbstractUser]) -> None:
    client = client_as(django_user_model, "viewer")
    session = make("listed")
    listing = client.get(reverse("session_list")).content.decode()
    WorkflowRun.objects.create(session=session, workflow=session.workflow, status="running")
    WorkflowSession.objects.filter(pk=session.pk).update(last_run_status="running", run_count=1)

    row = client.get(reverse("session_row", args=[session.session_id])).content.decode().strip()
    assert row.startswith(f'<tr id="session-row-{session.pk}"')
    assert 'badge-running">running' in row
    before = section(listing, f"session-row-{session.pk}")
    assert before.split("\n", 1)[0] == row.split("\n", 1)[0]  # the same element, so it morphs in place
    # The list's stream follows each listed row from where the list showed it.
    stream = re.search(r'id="session-list-live" hidden hx-sse:connect="([^"]+)"', listing).group(1)
    assert re.fullmatch(rf"/live/sessions/\?s={session.pk}\.[0-9a-f]+", stream)
    assert client_as(django_user_model, None).get(reverse("session_row", args=["listed"])).status_code == 403
