"""Starting and reading runs through the API: queued (202), answered from the cache (201), joined,
refused inputs, and the per-person rate limit (429 with Retry-After)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app.models import WorkflowRun, WorkflowSession
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def start(client: Client, inputs: dict[str, Any], session_id: str = "blog") -> Any:
    url = reverse("api:run_start", args=[session_id])
    return client.post(url, {"inputs": inputs}, content_type="application/json")


def test_a_new_key_is_queued_202_with_the_runs_url(
    api: Callable[[str | None], Client], blog: WorkflowSession
) -> None:
    response = start(api("runner"), {"topic": "Something new"})

    assert response.status_code == 202
    body = response.json()
    run = WorkflowRun.objects.get()
    assert response["Location"] == body["url"] == reverse("api:run_get", args=[run.run_id])
    assert (body["status"], body["cache_hit"], body["joined"]) == ("queued", False, False)
    assert body["events_url"] == reverse("api:run_events", args=[run.run_id])
    assert body["started_by"] == "api-runner"


def test_a_cached_key_answers_at_once_with_the_result(
    api: Callable[[str | None], Client], blog: WorkflowSession
) -> None:
    response = start(api("runner"), {"topic": "  ai AGENTS"})

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["cache_hit"], body["joined"]) == ("succeeded", True, False)
    assert body["output"] == "# Agents\n\nText."


def test_a_key_being_generated_joins_that_run(
    api: Callable[[str | None], Client], blog: WorkflowSession
) -> None:
    first = start(api("runner"), {"topic": "Fresh"}).json()

    second = start(api("editor"), {"topic": "fresh "})

    assert second.status_code == 202
    assert second.json()["joined"] is True
    assert second.json()["run_id"] == first["run_id"]
    assert WorkflowRun.objects.count() == 1


def test_bad_inputs_are_422_naming_the_field(
    api: Callable[[str | None], Client], blog: WorkflowSession
) -> None:
    for inputs in ({"topic": "x" * 301}, {"nope": 1}, {"topic": ""}):
        response = start(api("runner"), inputs)
        assert response.status_code == 422, inputs
        assert error_of(response)["details"]
    assert not WorkflowRun.objects.exists()


def test_a_body_that_is_not_an_object_of_inputs_is_422(
    api: Callable[[str | None], Client], blog: WorkflowSession
) -> None:
    url = reverse("api:run_start", args=["blog"])

    response = api("runner").post(url, {"inputs": "text"}, content_type="application/json")

    assert response.status_code == 422
    assert error_of(response)["details"][0]["where"] == "body.inputs"


def test_the_rate_limit_is_per_person_with_retry_after(
    api: Callable[[str | None], Client], blog: WorkflowSession, settings: Any
) -> None:
    settings.WFSITE_RUN_RATE_LIMIT = "2/60"
    runner = api("runner")
    assert [start(runner, {"topic": "ai agents"}).status_code for _ in range(2)] == [201, 201]

    refused = start(runner, {"topic": "ai agents"})

    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert error_of(refused)["details"]["retry_after"] == int(refused["Retry-After"])
    assert "2 runs" in error_of(refused)["message"]
    assert start(api("editor"), {"topic": "ai agents"}).status_code == 201


def test_get_a_run_and_404_for_an_unknown_one(
    api: Callable[[str | None], Client], blog: WorkflowSession
) -> None:
    made = start(api("runner"), {"topic": "ai agents"}).json()
    viewer = api("viewer")

    got = viewer.get(made["url"])
    assert got.status_code == 200
    assert got.json()["output"] == "# Agents\n\nText."
    assert got.json()["session_url"] == reverse("api:session_get", args=["blog"])
    missing = viewer.get(reverse("api:run_get", args=["00000000-0000-0000-0000-000000000000"]))
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    assert viewer.get("/api/v1/runs/not-a-uuid").status_code == 404


def test_an_unfinished_runs_output_is_not_shown(
    api: Callable[[str | None], Client], blog: WorkflowSession
) -> None:
    run = WorkflowRun.objects.create(session=blog, workflow=blog.workflow, status="running", output="partial")

    assert api("viewer").get(reverse("api:run_get", args=[run.run_id])).json()["output"] == ""


def cancel(client: Client, run_id: Any) -> Any:
    return client.post(reverse("api:run_cancel", args=[run_id]), content_type="application/json")


def again(client: Client, run_id: Any, query: str = "") -> Any:
    return client.post(reverse("api:run_again", args=[run_id]) + query)


def test_cancel_a_queued_run_200_and_a_running_one_202(
    api: Callable[[str | None], Client], blog: WorkflowSession
) -> None:
    queued = start(api("runner"), {"topic": "Never started"}).json()

    response = cancel(api("runner"), queued["run_id"])

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["cancelled_by"], body["error"]) == (
        "cancelled",
        "api-runner",
        "Cancelled by api-runner.",
    )
    assert body["cancel_requested_at"] is not None
    assert api("viewer").get(queued["url"]).json()["status"] == "cancelled"
    running = start(api("runner"), {"topic": "Running"}).json()
    WorkflowRun.objects.get(run_id=running["run_id"]).mark_running()
    asked = cancel(api("editor"), running["run_id"])
    assert asked.status_code == 202
    assert (asked.json()["status"], asked.json()["cancelled_by"]) == ("running", "api-editor")


def test_cancel_is_the_starters_or_an_editors_and_409_once_ended(
    api: Callable[[str | None], Client], blog: WorkflowSession, django_user_model: Any
) -> None:
    from sessions_app.services.api_tokens import api_token_create
    from tests.api.conftest import bearer
    from tests.django_fixtures import user_with_role

    mine = start(api("runner"), {"topic": "Mine"}).json()
    other = bearer(api_token_create(user=user_with_role(django_user_model, "bob", "runner"), name="t").text)

    refused = cancel(other, mine["run_id"])
    assert refused.status_code == 403
    assert error_of(refused)["details"]["role"] == "editor"
    assert "cancel a run someone else started" in error_of(refused)["message"]
    viewer = cancel(api("viewer"), mine["run_id"])
    assert (viewer.status_code, error_of(viewer)["details"]["role"]) == (403, "editor")
    assert WorkflowRun.objects.get(run_id=mine["run_id"]).status == "queued"

    hit = start(api("runner"), {"topic": "ai agents"}).json()
    ended = cancel(api("runner"), hit["run_id"])
    assert ended.status_code == 409
    assert error_of(ended)["code"] == "conflict"
    assert (
        error_of(ended)["message"] == "The run has already ended (succeeded), so there is nothing to cancel."
    )
    assert error_of(ended)["details"] == {"status": "succeeded"}
    missing = cancel(api("editor"), "00000000-0000-0000-0000-000000000000")
    assert (missing.status_code, error_of(missing)["code"]) == (404, "not_found")
    wrong = api("editor").get(reverse("api:run_cancel", args=[mine["run_id"]]))
    assert (wrong.status_code, error_of(wrong)["code"]) == (405, "method_not_allowed")


def test_run_again_reuses_the_inputs_and_regenerate_turns_the_cache_off(
    api: Callable[[str | None], Client], blog: WorkflowSession
) -> None:
    hit = start(api("runner"), {"topic": "AI agents"}).json()

    repeated = again(api("editor"), hit["run_id"])
    assert repeated.status_code == 201
    assert (repeated.json()["cache_hit"], repeated.json()["inputs"]) == (True, hit["inputs"])
    assert repeated.json()["started_by"] == "api-editor"
    assert repeated["Location"] == repeated.json()["url"] != hit["url"]

    fresh = again(api("runner"), hit["run_id"], "?regenerate=true")
    assert fresh.status_code == 202
    body = fresh.json()
    assert (body["status"], body["joined"], body["inputs"]) == (
        "queued",
        False,
        {"topic": "AI agents", "use_cache": False},
    )
    assert again(api("runner"), hit["run_id"], "?regenerate=false").json()["cache_hit"] is True


def test_run_again_409_while_active_422_for_bad_bodies_429_over_the_limit(
    api: Callable[[str | None], Client], blog: WorkflowSession, settings: Any
) -> None:
    queued = start(api("runner"), {"topic": "Busy"}).json()
    busy = again(api("runner"), queued["run_id"])
    assert (busy.status_code, error_of(busy)["details"]) == (409, {"status": "queued"})
    assert "still queued" in error_of(busy)["message"]
    bad = again(api("runner"), queued["run_id"], "?regenerate=often")
    assert (bad.status_code, error_of(bad)["details"][0]["where"]) == (422, "query.regenerate")
    viewer = again(api("viewer"), queued["run_id"])
    assert (viewer.status_code, error_of(viewer)["details"]["role"]) == (403, "runner")

    settings.WFSITE_RUN_RATE_LIMIT = "2/60"
    hit = start(api("runner"), {"topic": "ai agents"}).json()  # the second run in the window
    limited = again(api("runner"), hit["run_id"])
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert WorkflowRun.objects.count() == 2
