"""The sessions endpoints: list (search, filters, sort, cursor pages, no state), create, get, rename,
delete; ids with slashes, spaces and unicode."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.state.store import state_replace
from tests.api.conftest import error_of
from tests.django_fixtures import stored_state

pytestmark = pytest.mark.django_db

LIST = "/api/v1/sessions"
ODD_IDS = ["with/slash", "with space", "ünïcødé ✓", "100% sure?", "..", "a/../b"]


def make(session_id: str, *, minutes_ago: int = 0, **fields: Any) -> WorkflowSession:
    fields.setdefault("workflow", "BlogPostGenerator")
    session = WorkflowSession.objects.create(session_id=session_id, **fields)
    WorkflowSession.objects.filter(pk=session.pk).update(
        updated_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return session


def ids(response: Any) -> list[str]:
    return [item["session_id"] for item in response.json()["items"]]


def test_the_list_is_newest_update_first_and_never_loads_the_state(editor: Client) -> None:
    for n in range(3):
        make(f"s{n}", minutes_ago=n)
    state_replace(WorkflowSession.objects.get(session_id="s0"), {"note": "SECRET-STATE"})

    with CaptureQueriesContext(connection) as queries:
        response = editor.get(LIST)

    assert response.status_code == 200
    assert ids(response) == ["s0", "s1", "s2"]
    assert "SECRET-STATE" not in response.content.decode()
    listing = [q["sql"] for q in queries.captured_queries if "sessions_app_workflowsession" in q["sql"]]
    assert listing
    assert not any("session_state" in sql for sql in listing)
    assert not any("sessions_app_stateentry" in q["sql"] for q in queries.captured_queries)


def test_the_list_searches_and_filters_by_workflow_and_user(editor: Client) -> None:
    make("alpha", name="First", user_id="ada")
    make("beta", workflow="BlogPostPipeline", user_id="bob")
    cached = make("gamma", user_id="ada")
    state_replace(cached, {"blog_posts": [{"topic": "Rust traits", "blog_post": "p"}]})

    assert ids(editor.get(LIST, {"q": "first"})) == ["alpha"]
    assert ids(editor.get(LIST, {"q": "rust TRAITS"})) == ["gamma"]
    assert ids(editor.get(LIST, {"workflow": "BlogPostPipeline"})) == ["beta"]
    assert sorted(ids(editor.get(LIST, {"user": "ada"}))) == ["alpha", "gamma"]
    assert ids(editor.get(LIST, {"user": "ada", "q": "alp"})) == ["alpha"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-updated_at", ["c", "b", "a"]),
        ("updated_at", ["a", "b", "c"]),
        ("session_id", ["a", "b", "c"]),
        ("-session_id", ["c", "b", "a"]),
    ],
)
def test_the_list_sorts(editor: Client, sort: str, expected: list[str]) -> None:
    for minutes, session_id in enumerate(["c", "b", "a"]):
        make(session_id, minutes_ago=minutes)

    assert ids(editor.get(LIST, {"sort": sort})) == expected


def test_cursor_pages_visit_every_session_once_in_order(editor: Client) -> None:
    now = timezone.now()
    for n in range(7):
        make(f"s{n}")
    # Two share one update time: the id breaks the tie, so neither is skipped nor repeated.
    WorkflowSession.objects.filter(session_id__in=["s2", "s3"]).update(updated_at=now)
    expected = list(
        WorkflowSession.objects.order_by("-updated_at", "-id").values_list("session_id", flat=True)
    )

    seen, cursor = [], None
    for _ in range(10):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = editor.get(LIST, params).json()
        seen += [item["session_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == expected


@pytest.mark.parametrize("cursor", ["garbage!", "WyJzZXNzaW9uX2lkIiwiYSIsMV0"])
def test_a_bad_cursor_is_400(editor: Client, cursor: str) -> None:
    make("a")

    response = editor.get(LIST, {"cursor": cursor})

    assert response.status_code == 400
    assert "cursor" in error_of(response)["message"]


def test_a_bad_sort_or_limit_is_422(editor: Client) -> None:
    for params in ({"sort": "state"}, {"limit": 0}, {"limit": 500}):
        response = editor.get(LIST, params)
        assert response.status_code == 422
        assert error_of(response)["code"] == "invalid"


def test_create_with_an_initial_state_records_it_as_the_first_change(editor: Client) -> None:
    body = {"session_id": "new one", "workflow": "BlogPostGenerator", "name": "N", "state": {"note": 1}}

    response = editor.post(LIST, body, content_type="application/json")

    assert response.status_code == 201
    assert response["Location"] == response.json()["url"] == reverse("api:session_get", args=["new one"])
    assert response.json()["version"] == 1
    assert stored_state("new one") == {"note": 1}
    assert StateChange.objects.get(session__session_id="new one").version == 1


def test_create_refuses_bad_fields_naming_each(editor: Client) -> None:
    make("taken")
    for body, field in (
        ({"session_id": "taken"}, "session_id"),
        ({"session_id": "x\x00y"}, "session_id"),
        ({"session_id": "ok", "workflow": "Nope"}, "workflow"),
        ({"session_id": "ok2", "state": {"x": float("inf")}}, None),
    ):
        response = editor.post(LIST, body, content_type="application/json")
        assert response.status_code in (400, 422)
        if field:
            assert field in error_of(response)["details"]
    assert not WorkflowSession.objects.filter(session_id__in=["ok", "ok2"]).exists()


def test_a_create_body_that_is_not_json_is_400(editor: Client) -> None:
    response = editor.post(LIST, "{nope", content_type="application/json")

    assert response.status_code == 400


@pytest.mark.parametrize("session_id", ODD_IDS)
def test_odd_ids_work_in_paths_as_on_the_pages(api: Callable[[str | None], Client], session_id: str) -> None:
    admin = api("admin")
    created = admin.post(LIST, {"session_id": session_id}, content_type="application/json")
    assert created.status_code == 201
    url = created.json()["url"]
    assert url.removeprefix("/api/v1/") == reverse("session_detail", args=[session_id]).strip("/")

    assert admin.get(url).json()["session_id"] == session_id
    assert admin.get(created.json()["state_url"]).json() == {}
    renamed = admin.patch(url, {"name": "Renamed"}, content_type="application/json")
    assert renamed.json()["name"] == "Renamed"
    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404


def test_rename_and_delete(api: Callable[[str | None], Client]) -> None:
    make("s")
    url = reverse("api:session_get", args=["s"])

    assert api("editor").patch(url, {"name": "x" * 201}, content_type="application/json").status_code == 422
    assert api("editor").patch(url, {"name": "New"}, content_type="application/json").json()["name"] == "New"
    assert api("admin").delete(url).status_code == 204
    assert not WorkflowSession.objects.exists()


def test_an_unknown_session_is_404_in_the_error_shape(editor: Client, db: None) -> None:
    url = reverse("api:session_get", args=["missing/one"])
    for response in (editor.get(url), editor.patch(url, {"name": "x"}, content_type="application/json")):
        assert response.status_code == 404
        assert error_of(response) == {
            "code": "not_found",
            "message": "There is no session with the id 'missing/one'.",
            "details": {"session_id": "missing/one"},
        }
