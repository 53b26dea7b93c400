"""The run page's controls: cancel (with a confirmation page) while a run is active, run again once it ended."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django_tasks import default_task_backend

from sessions_app.models import RunEvent, WorkflowRun, WorkflowSession
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
from sessions_app.state.store import state_replace
from tests.django_fixtures import user_with_role
from tests.test_destructive_actions import controls

pytestmark = pytest.mark.django_db

POSTS = {"blog_posts": [{"topic": "Kelp", "blog_post": "# Kelp\n\nA cached post."}]}


@pytest.fixture(autouse=True)
def dummy_tasks(settings: Any) -> Iterator[None]:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    default_task_backend.clear()
    yield
    default_task_backend.clear()


@pytest.fixture
def users(django_user_model: Any) -> dict[str, Any]:
    names = {"viewer": ("vic", "viewer"), "runner": ("ada", "runner"), "other": ("bob", "runner")}
    names["editor"] = ("eve", "editor")
    return {key: user_with_role(django_user_model, name, role) for key, (name, role) in names.items()}


def as_user(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def a_run(user: Any, topic: str = "Reefs") -> WorkflowRun:
    session = WorkflowSession.objects.filter(session_id="s").first()
    if session is None:
        session = session_create(session_id="s", workflow="BlogPostGenerator", user=None)
        state_replace(session, POSTS)
    return run_start(session=session, inputs={"topic": topic}, user=user)


def page(client: Client, run: WorkflowRun) -> str:
    response = client.get(reverse("run_detail", args=[run.run_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_an_active_run_has_a_destructive_cancel_link_for_whoever_may(users: dict[str, Any]) -> None:
    run = a_run(users["runner"])
    cancel = reverse("run_cancel", args=[run.run_id])
    assert cancel == f"/runs/{run.run_id}/cancel/"
    for key in ("runner", "editor"):
        links = controls(page(as_user(users[key]), run)).links
        assert (cancel, {"button", "destructive"}, "Cancel the run…") in links, key
    for key in ("viewer", "other"):
        assert cancel not in [href for href, _, _ in controls(page(as_user(users[key]), run)).links], key


def test_the_confirmation_page_then_the_post_cancel_a_queued_run(users: dict[str, Any]) -> None:
    run = a_run(users["runner"])
    client = as_user(users["runner"])
    url = reverse("run_cancel", args=[run.run_id])
    confirm = client.get(url)
    assert confirm.status_code == 200
    parsed = controls(confirm.content.decode())
    assert ({"button", "destructive"}, "Cancel the run") in parsed.buttons
    back = [(href, classes) for href, classes, text in parsed.links if text == "Keep it running"]
    assert back == [(reverse("run_detail", args=[run.run_id]), {"button", "button-secondary"})]
    run.refresh_from_db()
    assert run.status == "queued"  # a GET changes nothing
    response = client.post(url, follow=True)
    assert response.redirect_chain == [(reverse("run_detail", args=[run.run_id]), 302)]
    run.refresh_from_db()
    assert (run.status, run.cancelled_by) == ("cancelled", users["runner"])
    html = response.content.decode()
    assert "no worker will start it" in html
    assert "<dt>Cancelled by</dt><dd>ada</dd>" in html
    assert 'class="badge badge-cancelled"' in html


def test_cancelling_a_running_run_says_it_stops_at_its_next_step(users: dict[str, Any]) -> None:
    run = a_run(users["runner"])
    run.mark_running()
    response = as_user(users["editor"]).post(reverse("run_cancel", args=[run.run_id]), follow=True)
    html = response.content.decode()
    assert "Asked the run to stop" in html
    assert "Cancelling: it stops at its next step" in html
    assert "<dt>Cancelling, asked by</dt><dd>eve</dd>" in html
    run.refresh_from_db()
    assert (run.status, run.cancelled_by) == ("running", users["editor"])


def test_cancel_is_refused_to_others_and_to_finished_runs(users: dict[str, Any]) -> None:
    run = a_run(users["runner"])
    url = reverse("run_cancel", args=[run.run_id])
    refused = as_user(users["other"]).post(url)
    assert refused.status_code == 403
    assert "only the runner who started it, or an editor" in refused.content.decode()
    assert as_user(users["viewer"]).get(url).status_code == 403
    run.refresh_from_db()
    assert run.status == "queued"
    hit = a_run(users["runner"], topic="Kelp")
    for method in ("get", "post"):
        answer = getattr(as_user(users["runner"]), method)(reverse("run_cancel", args=[hit.run_id]))
        assert answer.status_code == 409
        assert "already ended (succeeded)" in answer.content.decode()
    assert as_user(users["runner"]).get(url.replace(str(run.run_id), "0" * 32)).status_code == 404


def test_a_finished_run_offers_run_again_and_regenerate(users: dict[str, Any]) -> None:
    hit = a_run(users["runner"], topic="Kelp")
    html = page(as_user(users["other"]), hit)
    buttons = [text for _, text in controls(html).buttons]
    assert buttons[-2:] == ["Run again", "Regenerate"]
    assert f'action="{reverse("run_again", args=[hit.run_id])}"' in html
    assert "Cancel the run" not in html
    assert "Run again" not in page(as_user(users["viewer"]), hit)


def test_run_again_starts_the_same_inputs_and_goes_to_the_new_run(users: dict[str, Any]) -> None:
    hit = a_run(users["runner"], topic="Kelp")
    client = as_user(users["other"])
    response = client.post(reverse("run_again", args=[hit.run_id]))
    again = WorkflowRun.objects.exclude(pk=hit.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("run_detail", args=[again.run_id])
    assert (again.inputs, again.started_by, again.cache_hit) == (hit.inputs, users["other"], True)
    regenerate = client.post(reverse("run_again", args=[hit.run_id]), {"regenerate": "1"})
    fresh = WorkflowRun.objects.order_by("-created_at", "-pk").first()
    assert regenerate["Location"] == reverse("run_detail", args=[fresh.run_id])
    assert (fresh.status, fresh.inputs) == ("queued", {"topic": "Kelp", "use_cache": False})
    htmx = client.post(reverse("run_again", args=[hit.run_id]), headers={"HX-Request": "true"})
    assert htmx.status_code == 200
    assert htmx["HX-Redirect"].startswith("/runs/")


def test_run_again_over_the_rate_limit_says_so_on_the_run_page(users: dict[str, Any], settings: Any) -> None:
    settings.WFSITE_RUN_RATE_LIMIT = "1/60"
    hit = a_run(users["runner"], topic="Kelp")
    client = as_user(users["runner"])
    response = client.post(reverse("run_again", args=[hit.run_id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("run_detail", args=[hit.run_id])
    assert int(response["Retry-After"]) > 0
    html = client.get(response["Location"]).content.decode()
    assert "You started 1 run in the last minute" in html
    assert WorkflowRun.objects.count() == 1


def test_run_again_of_an_active_run_is_refused_and_needs_the_runner_role(users: dict[str, Any]) -> None:
    run = a_run(users["runner"])
    response = as_user(users["runner"]).post(reverse("run_again", args=[run.run_id]), follow=True)
    assert "still queued" in response.content.decode()
    assert as_user(users["viewer"]).post(reverse("run_again", args=[run.run_id])).status_code == 403
    assert as_user(users["runner"]).get(reverse("run_again", args=[run.run_id])).status_code == 405
    assert WorkflowRun.objects.count() == 1
    assert not RunEvent.objects.exists()
