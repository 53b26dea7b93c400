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
