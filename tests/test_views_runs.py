from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Literal

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import RunEvent, WorkflowRun, WorkflowSession
from sessions_app.state.store import state_replace
from sessions_app.workflow import RunResponse, Workflow
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db

XSS = '"><svg onload=alert(1)><script>alert(1)</script><img src=x onerror=alert(1)>'


class Tone(enum.Enum):
    calm = "calm"
    loud = "loud"


class Echo(Workflow):
    """A tiny workflow with one parameter of every kind the form supports."""

    description = "Repeat a text."

    def run(
        self,
        text: str,
        times: int = 2,
        ratio: float = 0.5,
        shout: bool = False,
        tone: Tone = Tone.calm,
        size: Literal["s", "m"] = "m",
    ) -> Iterator[RunResponse]:
        yield RunResponse(content=text * times)


def make(session_id: str = "s1", state: dict[str, Any] | None = None, **fields: Any) -> WorkflowSession:
    fields.setdefault("workflow", "BlogPostGenerator")
    session = WorkflowSession.objects.create(session_id=session_id, **fields)
    state_replace(session, state or {})
    return session


def add_events(run: WorkflowRun, *events: tuple[str, str]) -> None:
    RunEvent.objects.bulk_create(
        RunEvent(run=run, seq=seq, event=event, content=content)
        for seq, (event, content) in enumerate(events, 1)
    )


@pytest.fixture
def user_client(client: Client, django_user_model: type[AbstractUser]) -> Client:
    client.force_login(user_with_role(django_user_model, "runner", "runner"))
    return client


# -- starting runs ---------------------------------------------------------------------------------------


def test_start_a_run_and_land_on_its_page(user_client: Client) -> None:
    make("a b/c")

    response = user_client.post(
        reverse("run_create", args=["a b/c"]), {"topic": " AI agents ", "use_cache": "on"}
    )

    run = WorkflowRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("run_detail", args=[run.run_id])
    assert run.status == "queued"
    assert run.inputs == {"topic": "AI agents", "use_cache": True}
    assert run.started_by.get_username() == "runner"


def test_start_over_htmx_redirects_the_browser(user_client: Client) -> None:
    make()

    response = user_client.post(reverse("run_create", args=["s1"]), {"topic": "x"}, HTTP_HX_REQUEST="true")

    run = WorkflowRun.objects.get()
    assert response["HX-Redirect"] == reverse("run_detail", args=[run.run_id])
    assert run.inputs == {"topic": "x", "use_cache": False}


def test_empty_topic_is_refused_and_the_form_kept(user_client: Client) -> None:
    make()

    page = user_client.post(reverse("run_create", args=["s1"]), {"topic": "   "})
    partial = user_client.post(reverse("run_create", args=["s1"]), {"topic": ""}, HTTP_HX_REQUEST="true")

    assert page.status_code == 422
    assert "This field is required." in page.content.decode()
    assert "<h1>" in page.content.decode()
    assert partial.status_code == 422
    html = partial.content.decode()
    assert html.lstrip().startswith('<form method="post" action="/sessions/s1/runs/"')
    assert "This field is required." in html
    # use_cache was not sent, so it stays unchecked rather than falling back to its default.
    assert not re.search(r'name="use_cache"[^>]*checked', html)
    assert not WorkflowRun.objects.exists()


def test_too_long_topic_shows_the_services_message(user_client: Client) -> None:
    make()
    topic = "t" * 301

    response = user_client.post(
        reverse("run_create", args=["s1"]), {"topic": topic, "use_cache": "on"}, HTTP_HX_REQUEST="true"
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert "the limit is 300" in html
    assert f'value="{topic}"' in html
    assert re.search(r'name="use_cache"[^>]*checked', html)
    assert not WorkflowRun.objects.exists()


def test_cached_topic_is_answered_at_once(user_client: Client) -> None:
    make(state={"blog_posts": [{"topic": "AI Agents", "blog_post": "# Agents\n\nCached text."}]})

    response = user_client.post(reverse("run_create", args=["s1"]), {"topic": "ai agents", "use_cache": "on"})
    page = user_client.get(response["Location"])

    run = WorkflowRun.objects.get()
    html = page.content.decode()
    assert run.cache_hit
    assert run.status == "succeeded"
    assert "Served from the cache." in html
    assert "<h1>Agents</h1>" in html
    assert "hx-sse:connect" not in html


# -- the run page ----------------------------------------------------------------------------------------


def test_queued_run_waits_for_a_worker_and_streams(user_client: Client) -> None:
    run = WorkflowRun.objects.create(session=make(), workflow="BlogPostGenerator", inputs={"topic": "x"})

    html = user_client.get(reverse("run_detail", args=[run.run_id])).content.decode()

    assert "Waiting for a worker…" in html
    events_url = reverse("run_events", args=[run.run_id])
    assert f'hx-sse:connect="{events_url}?last_event_id=0" hx-sse:close="done"' in html


def test_running_run_shows_steps_and_text_so_far(user_client: Client) -> None:
    now = timezone.now()
    run = WorkflowRun.objects.create(
        session=make(), workflow="BlogPostGenerator", status="running", started_at=now, heartbeat_at=now
    )
    add_events(
        run,
        ("ResearchStarted", "Research started."),
        ("ResearchCompleted", "Found 3 sources."),
        ("WritingStarted", "Writing."),
        ("RunResponse", "# Title\n\nSome "),
        ("RunResponse", "text"),
    )
    RunEvent.objects.filter(run=run, seq=2).update(
        data={
            "extra_data": {
                "sources": [
                    {"title": "Good", "url": "https://e.com"},
                    {"title": "Bad", "url": "javascript:alert(1)"},
                ]
            }
        }
    )

    html = user_client.get(reverse("run_detail", args=[run.run_id])).content.decode()

    assert html.count('<li class="step">') == 3
    assert '<a href="https://e.com" rel="noopener noreferrer nofollow">Good</a>' in html
    assert "javascript:" not in html
    # Rendered as the stream renders it: the complete heading, then the paragraph still being written.
    assert '<div id="run-blocks"><h1>Title</h1>\n</div><div id="run-tail"><p>Some text</p>\n</div>' in html
    assert "# Title" not in html
    assert "last_event_id=5" in html
    assert "Running…" in html


def test_stale_running_run_is_failed_when_shown(user_client: Client) -> None:
    long_ago = timezone.now() - timedelta(hours=1)
    run = WorkflowRun.objects.create(
        session=make(),
        workflow="BlogPostGenerator",
        status="running",
        started_at=long_ago,
        heartbeat_at=long_ago,
    )

    html = user_client.get(reverse("run_detail", args=[run.run_id])).content.decode()

    run.refresh_from_db()
    assert run.status == "failed"
    assert "stopped responding" in html
    assert "hx-sse:connect" not in html


def test_finished_run_renders_the_result_without_a_stream(user_client: Client) -> None:
    now = timezone.now()
    run = WorkflowRun.objects.create(
        session=make(),
        workflow="BlogPostGenerator",
        inputs={"topic": XSS},
        status="succeeded",
        started_at=now - timedelta(seconds=4),
        finished_at=now,
    )
    add_events(
        run,
        ("ResearchStarted", XSS),
        ("RunResponse", "# Post\n\n" + XSS),
        ("WorkflowCompleted", f"# Post\n\n{XSS}\n\n[x](javascript:alert(1))"),
    )

    html = user_client.get(reverse("run_detail", args=[run.run_id])).content.decode()

    assert "<h1>Post</h1>" in html
    assert "Took 4.0 s." in html
    assert "hx-sse:connect" not in html
    assert XSS not in html
    assert "<svg" not in html
    assert "<img" not in html
    assert 'href="javascript' not in html


def test_failed_run_shows_its_error(user_client: Client) -> None:
    run = WorkflowRun.objects.create(
        session=make(), workflow="BlogPostGenerator", status="failed", error=f"ModelError: {XSS}"
    )
    add_events(run, ("RunResponse", "partial text"), ("RunFailed", f"ModelError: {XSS}"))

    html = user_client.get(reverse("run_detail", args=[run.run_id])).content.decode()

    assert 'class="run-error" role="alert">ModelError: &quot;&gt;&lt;svg' in html
    assert '<li class="step step-failed">' in html
    assert "partial text" in html
    assert XSS not in html


# -- any workflow ------------------------------------------------------------------------------------------


@pytest.fixture
def with_echo(settings: Any) -> None:
    settings.WFSITE_WORKFLOWS = ["sessions_app.workflow.BlogPostGenerator", f"{__name__}.Echo"]


@pytest.mark.usefixtures("with_echo")
def test_any_workflow_gets_a_form_and_runs(user_client: Client) -> None:
    created = user_client.post(
        reverse("session_list"), {"session_id": "echo", "workflow": "Echo", "name": ""}
    )
    detail = user_client.get(created["Location"]).content.decode()

    assert '<option value="Echo"' in user_client.get(reverse("session_list")).content.decode()
    assert 'type="text" name="text"' in detail
    # No cache, so no as-you-type cache check (the page's own live sections have an hx-get).
    assert "hx-get" not in re.search(r'<form [^>]*id="run-form".*?</form>', detail, re.S).group(0)
    assert 'type="number" name="times" value="2"' in detail
    assert 'type="number" name="ratio" value="0.5" step="any"' in detail
    assert 'type="checkbox" name="shout"' in detail
    assert '<option value="calm" selected>calm</option>' in detail
    assert '<option value="m" selected>m</option>' in detail

    response = user_client.post(
        reverse("run_create", args=["echo"]),
        {"text": "hi", "times": "3", "ratio": "1.5", "shout": "on", "tone": "loud", "size": "s"},
    )

    run = WorkflowRun.objects.get()
    assert response.status_code == 302
    assert run.workflow == "Echo"
    assert run.inputs == {"text": "hi", "times": 3, "ratio": 1.5, "shout": True, "tone": "loud", "size": "s"}


@pytest.mark.usefixtures("with_echo")
def test_any_workflow_form_errors(user_client: Client) -> None:
    make("echo", workflow="Echo")

    response = user_client.post(
        reverse("run_create", args=["echo"]), {"text": "hi", "times": "many", "tone": "shrill", "size": "m"}
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert "Enter a whole number." in html
    assert "Select a valid choice." in html
    assert not WorkflowRun.objects.exists()


def test_the_run_page_is_titled_by_its_inputs_and_says_them_in_words(user_client: Client) -> None:
    created = timezone.make_aware(timezone.datetime(2026, 3, 4, 5, 6, 7), timezone.get_fixed_timezone(0))
    run = WorkflowRun.objects.create(
        session=make(),
        workflow="BlogPostGenerator",
        inputs={"use_cache": False, "topic": "Quiet rivers"},  # jsonb need not keep run()'s order
        status="succeeded",
        created_at=created,
        started_at=created + timedelta(seconds=1),
        finished_at=created + timedelta(seconds=3),
    )
    RunEvent.objects.create(run=run, seq=1, event="RunResponse", content="x", data={"model": "offline"})

    html = user_client.get(reverse("run_detail", args=[run.run_id])).content.decode()

    assert "<title>Quiet rivers · Run · " in html
    assert '<h1 class="run-title">Quiet rivers</h1>' in html
    assert "<dt>Topic</dt><dd>Quiet rivers</dd>" in html
    assert "<dt>Use cache</dt><dd>No</dd>" in html
    assert "False" not in html
    assert "<dt>Model</dt><dd>Offline demo model</dd>" in html
    assert ">4 Mar 2026, 05:06:07 UTC</time>" in html
    assert ">4 Mar 2026, 05:06:10 UTC</time>" in html
    assert html.index("<dt>Topic</dt>") < html.index("<dt>Use cache</dt>")


def test_a_run_without_text_inputs_is_titled_by_its_workflow(user_client: Client) -> None:
    run = WorkflowRun.objects.create(
        session=make(),
        workflow="BlogPostGenerator",
        inputs={"use_cache": True},
        cache_hit=True,
        status="succeeded",
    )

    html = user_client.get(reverse("run_detail", args=[run.run_id])).content.decode()

    assert '<h1 class="run-title">BlogPostGenerator run</h1>' in html
    assert "<dt>Use cache</dt><dd>Yes</dd>" in html
    assert "<dt>Model</dt><dd>None: served from the cache</dd>" in html
