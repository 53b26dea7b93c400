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
