"""History through the API: changes (newest first, paged), one change, diffs, restoring a version."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app.models import WorkflowSession
from tests.api.conftest import error_of
from tests.django_fixtures import stored_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def edited(editor: Client, db: None) -> WorkflowSession:
    """A session edited three times through the API: versions 1, 2 and 3."""
    editor.post("/api/v1/sessions", {"session_id": "h/1", "state": {"a": 1}}, content_type="application/json")
    url = reverse("api:state_get", args=["h/1"])
    for version, patch in ((1, {"b": 2}), (2, {"a": None, "c": "three"})):
        response = editor.patch(
            url,
            json.dumps(patch),
            content_type="application/merge-patch+json",
            headers={"If-Match": f'"{version}"'},
        )
        assert response.status_code == 200
    return WorkflowSession.objects.get(session_id="h/1")


def test_changes_newest_first_in_pages(editor: Client, edited: WorkflowSession) -> None:
    url = reverse("api:history_list", args=["h/1"])

    first = editor.get(url, {"limit": 2}).json()
    rest = editor.get(url, {"limit": 2, "before": first["next_before"]}).json()

    assert [c["version"] for c in first["items"]] == [3, 2]
    assert first["next_before"] == 2
    assert [c["version"] for c in rest["items"]] == [1]
    assert rest["next_before"] is None
    assert first["items"][0]["actor"] == "api-editor"
    assert first["items"][0]["url"] == reverse("api:history_get", args=["h/1", 3])


def test_one_change_with_its_rows(editor: Client, edited: WorkflowSession) -> None:
    response = editor.get(reverse("api:history_get", args=["h/1", 3]))

    assert response.status_code == 200
    assert {(r["path"], r["kind"]) for r in response.json()["rows"]} == {("a", "removed"), ("c", "added")}
    assert editor.get(reverse("api:history_get", args=["h/1", 9])).status_code == 404


def test_diff_between_two_versions(editor: Client, edited: WorkflowSession) -> None:
    url = reverse("api:history_diff", args=["h/1"])

    response = editor.get(url, {"before": 1, "after": 3})
    to_latest = editor.get(url, {"before": 1})
    unknown = editor.get(url, {"before": 1, "after": 42})

    assert response.status_code == 200
    assert {(r["path"], r["kind"]) for r in response.json()["rows"]} == {
        ("a", "removed"),
        ("b", "added"),
        ("c", "added"),
    }
    assert to_latest.json() == response.json()
    assert unknown.status_code == 404
    assert "42" in error_of(unknown)["message"]


def test_restore_a_version_with_if_match(editor: Client, edited: WorkflowSession) -> None:
    url = reverse("api:history_restore", args=["h/1", 1])

    missing = editor.post(url)
    stale = editor.post(url, headers={"If-Match": '"2"'})
    restored = editor.post(url, headers={"If-Match": '"3"'})

    assert missing.status_code == 428
    assert stale.status_code == 412
    assert restored.status_code == 200
    assert restored["ETag"] == '"4"'
    assert restored.json()["change"]["source"] == "restore"
    assert stored_state("h/1") == {"a": 1}
    unknown = editor.post(reverse("api:history_restore", args=["h/1", 77]), headers={"If-Match": '"4"'})
    assert unknown.status_code == 404


def test_restore_needs_post(editor: Client, edited: WorkflowSession) -> None:
    response = editor.get(reverse("api:history_restore", args=["h/1", 1]))

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert error_of(response)["details"] == {"allowed": ["POST"]}


def test_a_viewer_reads_history_but_may_not_restore(api: Any, edited: WorkflowSession) -> None:
    viewer = api("viewer")

    assert viewer.get(reverse("api:history_list", args=["h/1"])).status_code == 200
    refused = viewer.post(reverse("api:history_restore", args=["h/1", 1]), headers={"If-Match": '"3"'})
    assert refused.status_code == 403
    assert error_of(refused)["details"]["role"] == "editor"


# -- undo one change, fork from a version ---------------------------------------------------------------


def test_undo_one_change_keeps_the_later_ones(editor: Client, edited: WorkflowSession) -> None:
    response = editor.post(reverse("api:history_undo", args=["h/1", 2]))

    assert response.status_code == 200, response.content
    assert response["ETag"] == '"4"'
    body = response.json()
    assert body["version"] == 4
    assert body["change"]["source"] == "undo"
    assert body["change"]["summary"].startswith("Undid version 2")
    assert body["undo_url"] == reverse("api:history_undo", args=["h/1", 4])
    assert stored_state("h/1") == {"c": "three"}


def test_an_undo_conflict_is_409_naming_the_paths_and_writes_nothing(
    editor: Client, edited: WorkflowSession
) -> None:
    editor.patch(
        reverse("api:state_get", args=["h/1"]),
        json.dumps({"b": 5}),
        content_type="application/merge-patch+json",
        headers={"If-Match": '"3"'},
    )

    response = editor.post(reverse("api:history_undo", args=["h/1", 2]))

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "conflict"
    assert error["details"] == {"paths": ["b"]}
    assert "Version 2 cannot be undone on its own: a later change also changed b." in error["message"]
    assert WorkflowSession.objects.get(session_id="h/1").version == 4
    assert stored_state("h/1") == {"b": 5, "c": "three"}


def test_undo_of_an_unknown_version_is_404(editor: Client, edited: WorkflowSession) -> None:
    response = editor.post(reverse("api:history_undo", args=["h/1", 77]))

    assert response.status_code == 404
    assert "77" in error_of(response)["message"]
    assert error_of(response)["code"] == "not_found"
    assert editor.post(reverse("api:history_undo", args=["nope", 1])).status_code == 404


def test_fork_from_a_version(editor: Client, edited: WorkflowSession) -> None:
    url = reverse("api:history_fork", args=["h/1", 2])

    response = editor.post(url, {"session_id": "h/fork ü", "name": "Mine"}, content_type="application/json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"] == body["url"] == reverse("api:session_get", args=["h/fork ü"])
    assert (body["session_id"], body["name"], body["version"]) == ("h/fork ü", "Mine", 1)
    assert body["forked_from"] == {
        "session_id": "h/1",
        "version": 2,
        "url": reverse("api:session_get", args=["h/1"]),
    }
    assert stored_state("h/fork ü") == {"a": 1, "b": 2}
    first = editor.get(body["history_url"]).json()["items"]
    assert [(c["version"], c["source"], c["summary"]) for c in first] == [
        (1, "fork", "Forked from session 'h/1' at version 2")
    ]
    assert editor.get(reverse("api:session_get", args=["h/1"])).json()["forked_from"] is None


def test_fork_without_a_body_names_and_ids_the_fork_itself(editor: Client, edited: WorkflowSession) -> None:
    response = editor.post(reverse("api:history_fork", args=["h/1", 3]), {}, content_type="application/json")

    assert response.status_code == 201, response.content
    assert response.json()["session_id"].startswith("h/1-fork-v3-")
    assert response.json()["name"] == "h/1 (fork of v3)"


def test_fork_refusals(api: Any, editor: Client, edited: WorkflowSession) -> None:
    url = reverse("api:history_fork", args=["h/1", 2])

    taken = editor.post(url, {"session_id": "h/1"}, content_type="application/json")
    unknown = editor.post(
        reverse("api:history_fork", args=["h/1", 99]), {"session_id": "x"}, content_type="application/json"
    )
    runner = api("runner").post(url, {"session_id": "x"}, content_type="application/json")

    assert taken.status_code == 422
    assert "already exists" in error_of(taken)["message"]
    assert unknown.status_code == 404
    assert runner.status_code == 403
    assert error_of(runner)["details"]["role"] == "editor"
    assert WorkflowSession.objects.count() == 1
