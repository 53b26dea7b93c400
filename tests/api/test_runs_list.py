"""The runs list through the API: the runs page's filters, cursor pages, no outputs, refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sessions_app.models import WorkflowRun, WorkflowSession
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/runs"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make(session: WorkflowSession, hours: float, **fields: Any) -> WorkflowRun:
    fields.setdefault("workflow", session.workflow)
    fields.setdefault("status", "succeeded")
    return WorkflowRun.objects.create(session=session, created_at=T0 + timedelta(hours=hours), **fields)


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["run_id"] for item in response.json()["items"]]


@pytest.fixture
def runs(blog: WorkflowSession, django_user_model: Any) -> dict[str, WorkflowRun]:
    other = WorkflowSession.objects.create(session_id="a/b c", workflow="BlogPostPipeline")
    ana = django_user_model.objects.create_user("ana")
    return {
        "failed": make(blog, 1, status="failed", started_by=ana, inputs={"topic": "Agents"}, error="boom"),
        "hit": make(blog, 2, cache_hit=True, inputs={"topic": "Caching"}, output="# Caching"),
        "piped": make(other, 3, inputs={"topic": "Pipes"}),
        "queued": make(blog, 4, status="queued", started_by=ana, inputs={"topic": "Later"}),
    }


def test_lists_newest_first_with_links_and_counts(
    api: Callable[[str | None], Client], runs: dict[str, WorkflowRun]
) -> None:
    response = api("viewer").get(URL)

    body = response.json()
    assert ids(response) == [str(runs[k].run_id) for k in ("queued", "piped", "hit", "failed")]
    assert body["next_cursor"] is None
    assert body["counts"] == {"queued": 1, "running": 0}
    piped = body["items"][1]
    assert piped["session_id"] == "a/b c"
    assert piped["url"] == reverse("api:run_get", args=[runs["piped"].run_id])
    assert piped["session_url"] == reverse("api:session_get", args=["a/b c"])
    assert "output" not in piped
    assert body["items"][3]["error"] == "boom"
    assert body["items"][0]["started_by"] == "ana"


def test_each_filter_as_on_the_page(
    api: Callable[[str | None], Client], runs: dict[str, WorkflowRun]
) -> None:
    client = api("viewer")

    def only(query: dict[str, str]) -> list[str]:
        return ids(client.get(URL, query))

    def want(*names: str) -> list[str]:
        return [str(runs[name].run_id) for name in names]

    assert only({"status": "failed"}) == want("failed")
    assert only({"workflow": "BlogPostPipeline"}) == want("piped")
    assert only({"started_by": "ana"}) == want("queued", "failed")
    assert only({"started_by": "nobody"}) == []
    assert only({"cache": "hit"}) == want("hit")
    assert only({"cache": "miss"}) == want("queued", "piped", "failed")
    assert only({"q": "caCHing"}) == want("hit")
    assert only({"created_after": (T0 + timedelta(hours=2)).isoformat()}) == want("queued", "piped", "hit")
    assert only({"created_before": "2026-11-01T14:00:00"}) == want("failed")  # no zone: the site's (UTC)
    assert only({"status": "succeeded", "q": "PIPES"}) == want("piped")


def test_pages_by_cursor(api: Callable[[str | None], Client], blog: WorkflowSession) -> None:
    made = [make(blog, -i) for i in range(5)]
    client = api("viewer")

    first = client.get(URL, {"limit": 2}).json()
    make(blog, 10)  # a newer run does not move the pages after the first
    second = client.get(URL, {"limit": 2, "cursor": first["next_cursor"]}).json()
    third = client.get(URL, {"limit": 2, "cursor": second["next_cursor"]}).json()

    seen = [item["run_id"] for page in (first, second, third) for item in page["items"]]
    assert seen == [str(run.run_id) for run in made]
    assert third["next_cursor"] is None


def test_refuses_bad_parameters_in_the_error_shape(
    api: Callable[[str | None], Client], runs: dict[str, WorkflowRun]
) -> None:
    client = api("viewer")

    bad_cursor = client.get(URL, {"cursor": "nope"})
    assert bad_cursor.status_code == 400
    assert error_of(bad_cursor)["details"] == {"cursor": "nope"}
    for query in ({"status": "done"}, {"cache": "yes"}, {"limit": "0"}, {"created_after": "yesterday"}):
        response = client.get(URL, query)
        assert response.status_code == 422, query
        assert error_of(response)["details"]


def test_roles(api: Callable[[str | None], Client], runs: dict[str, WorkflowRun]) -> None:
    assert api("anonymous").get(URL).status_code == 401
    refused = api(None).get(URL)
    assert refused.status_code == 403
    assert error_of(refused)["details"]["role"] == "viewer"
    for role in ("viewer", "runner", "editor", "admin"):
        assert api(role).get(URL).status_code == 200


def test_never_loads_outputs_or_state(
    api: Callable[[str | None], Client], runs: dict[str, WorkflowRun]
) -> None:
    with CaptureQueriesContext(connection) as queries:
        assert len(ids(api("viewer").get(URL))) == 4

    run_reads = [q["sql"] for q in queries.captured_queries if 'FROM "sessions_app_workflowrun"' in q["sql"]]
    assert run_reads
    for sql in run_reads:
        for column in ("output", "unsaved_state", "session_state", "list_keys"):
            assert f'"{column}"' not in sql, column


def test_is_in_the_schema(api: Callable[[str | None], Client]) -> None:
    schema = api("viewer").get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/runs"]["get"]
    assert operation["operationId"] == "runs_list"
    names = {param["name"] for param in operation["parameters"]}
    assert {
        "status",
        "workflow",
        "started_by",
        "cache",
        "created_after",
        "created_before",
        "q",
        "cursor",
    } <= names
