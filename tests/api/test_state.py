"""The state endpoints: ETags, If-Match compare-and-swap (428, 412 with what changed, retry), PUT,
JSON Merge Patch and JSON Patch, and the ways a body can be wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app.models import StateChange, WorkflowSession
from tests.api.conftest import error_of
from tests.django_fixtures import stored_state

pytestmark = pytest.mark.django_db

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def state_url(session_id: str = "blog") -> str:
    return reverse("api:state_get", args=[session_id])


def put(client: Client, body: Any, version: int | None, session_id: str = "blog", **extra: Any) -> Any:
    headers = {} if version is None else {"If-Match": f'"{version}"'}
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.put(state_url(session_id), data, content_type="application/json", headers=headers, **extra)


def patch(client: Client, body: Any, version: int | None, kind: str = MERGE, session_id: str = "blog") -> Any:
    headers = {} if version is None else {"If-Match": f'"{version}"'}
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.patch(state_url(session_id), data, content_type=kind, headers=headers)


def test_get_returns_the_state_with_its_version_as_etag(editor: Client, blog: WorkflowSession) -> None:
    response = editor.get(state_url())

    assert response.status_code == 200
    assert response["ETag"] == '"0"'
    assert response.json() == stored_state("blog")
    assert response.json()["note"] == "n"


def test_get_with_the_current_etag_is_not_modified(editor: Client, blog: WorkflowSession) -> None:
    assert editor.get(state_url(), headers={"If-None-Match": '"0"'}).status_code == 304
    assert editor.get(state_url(), headers={"If-None-Match": '"7"'}).status_code == 200


def test_put_replaces_the_state_and_answers_the_new_etag(editor: Client, blog: WorkflowSession) -> None:
    response = put(editor, {"only": 1}, 0)

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.json()["version"] == 1
    assert response.json()["change"]["source"] == "edit"
    assert response.json()["undo_url"] == reverse("api:history_undo", args=["blog", 1])
    assert stored_state("blog") == {"only": 1}


def test_a_write_without_if_match_is_428_and_writes_nothing(editor: Client, blog: WorkflowSession) -> None:
    for response in (put(editor, {"x": 1}, None), patch(editor, {"x": 1}, None)):
        assert response.status_code == 428
        assert error_of(response)["code"] == "precondition_required"
        assert "If-Match" in error_of(response)["message"]
    wildcard = editor.put(state_url(), "{}", content_type="application/json", headers={"If-Match": "*"})
    assert wildcard.status_code == 428
    assert "x" not in stored_state("blog")


def test_a_malformed_if_match_is_400(editor: Client, blog: WorkflowSession) -> None:
    response = editor.put(state_url(), "{}", content_type="application/json", headers={"If-Match": '"abc"'})

    assert response.status_code == 400
    assert "If-Match" in error_of(response)["message"]


def test_a_stale_version_is_412_with_what_changed_and_a_retry_with_the_new_etag_lands(
    editor: Client, blog: WorkflowSession
) -> None:
    assert patch(editor, {"theirs": "first"}, 0).status_code == 200

    stale = patch(editor, {"mine": "second"}, 0)

    assert stale.status_code == 412
    assert stale["ETag"] == '"1"'
    error = error_of(stale)
    assert error["code"] == "precondition_failed"
    assert error["details"]["your_version"] == 0
    assert error["details"]["latest_version"] == 1
    assert [c["version"] for c in error["details"]["changes"]] == [1]
    assert {row["path"] for row in error["details"]["diff"]} == {"theirs"}
    assert "mine" not in stored_state("blog")

    retry = patch(editor, {"mine": "second"}, int(stale["ETag"].strip('"')))

    assert retry.status_code == 200
    assert stored_state("blog")["theirs"] == "first"
    assert stored_state("blog")["mine"] == "second"


def test_a_put_at_a_stale_version_is_412_and_writes_nothing(editor: Client, blog: WorkflowSession) -> None:
    put(editor, {"a": 1}, 0)

    response = put(editor, {"b": 2}, 0)

    assert response.status_code == 412
    assert stored_state("blog") == {"a": 1}


def test_a_version_from_the_future_is_412(editor: Client, blog: WorkflowSession) -> None:
    response = patch(editor, {"x": 1}, 99)

    assert response.status_code == 412
    assert error_of(response)["details"]["changes"] == []


# -- JSON Merge Patch (RFC 7396) ------------------------------------------------------------------


def test_merge_patch_null_deletes_objects_merge_and_lists_replace(
    editor: Client, blog: WorkflowSession
) -> None:
    put(editor, {"keep": 1, "drop": 2, "nested": {"a": 1, "b": 2}, "tags": [1, 2, 3]}, 0)

    response = patch(
        editor, {"drop": None, "nested": {"b": None, "c": 3}, "tags": [9], "new": {"x": None}}, 1
    )

    assert response.status_code == 200
    assert stored_state("blog") == {"keep": 1, "nested": {"a": 1, "c": 3}, "tags": [9], "new": {}}


def test_merge_patch_that_changes_nothing_records_nothing(editor: Client, blog: WorkflowSession) -> None:
    response = patch(editor, {"note": "n"}, 0)

    assert response.status_code == 200
    assert response.json()["change"] is None
    assert response["ETag"] == '"0"'
    assert not StateChange.objects.exists()


def test_merge_patch_that_is_not_an_object_would_replace_the_state_and_is_422(
    editor: Client, blog: WorkflowSession
) -> None:
    response = patch(editor, [1, 2], 0)

    assert response.status_code == 422
    assert "JSON object" in error_of(response)["message"]


# -- JSON Patch (RFC 6902) --------------------------------------------------------------------------


def test_json_patch_applies_every_op_in_order(editor: Client, blog: WorkflowSession) -> None:
    ops = [
        {"op": "test", "path": "/note", "value": "n"},
        {"op": "replace", "path": "/note", "value": "m"},
        {"op": "add", "path": "/blog_posts/-", "value": {"topic": "New", "blog_post": "p"}},
        {"op": "remove", "path": "/blog_posts/0"},
        {"op": "copy", "from": "/note", "path": "/copied"},
    ]

    response = patch(editor, ops, 0, kind=JSON_PATCH)

    assert response.status_code == 200
    state = stored_state("blog")
    assert [post["topic"] for post in state["blog_posts"]] == ["Caching", "New"]
    assert (state["note"], state["copied"]) == ("m", "m")


def test_json_patch_with_a_failing_test_is_409_and_writes_none_of_its_ops(
    editor: Client, blog: WorkflowSession
) -> None:
    ops = [{"op": "replace", "path": "/note", "value": "m"}, {"op": "test", "path": "/note", "value": "zzz"}]

    response = patch(editor, ops, 0, kind=JSON_PATCH)

    assert response.status_code == 409
    assert "test" in error_of(response)["message"]
    assert stored_state("blog")["note"] == "n"


def test_json_patch_on_a_missing_path_is_409(editor: Client, blog: WorkflowSession) -> None:
    response = patch(editor, [{"op": "remove", "path": "/nothing/here"}], 0, kind=JSON_PATCH)

    assert response.status_code == 409


@pytest.mark.parametrize(
    "document",
    [
        {"op": "add"},
        [{"op": "launch", "path": "/x"}],
        [{"op": "add", "value": 1}],
        ["add"],
        [{"op": "add", "path": "x", "value": 1}],
    ],
)
def test_a_malformed_json_patch_is_400(editor: Client, blog: WorkflowSession, document: Any) -> None:
    response = patch(editor, document, 0, kind=JSON_PATCH)

    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"


def test_json_patch_replacing_the_root_with_a_list_is_422(editor: Client, blog: WorkflowSession) -> None:
    response = patch(editor, [{"op": "replace", "path": "", "value": [1]}], 0, kind=JSON_PATCH)

    assert response.status_code == 422


# -- bodies that are wrong ------------------------------------------------------------------------------


def test_a_body_that_is_not_json_is_400(editor: Client, blog: WorkflowSession) -> None:
    for response in (put(editor, b"{not json", 0), patch(editor, "nope", 0), put(editor, b"  ", 0)):
        assert response.status_code == 400
        assert error_of(response)["code"] == "bad_request"
    nan = put(editor, b'{"x": NaN}', 0)
    assert nan.status_code == 400


def test_a_put_body_that_is_not_an_object_is_422(editor: Client, blog: WorkflowSession) -> None:
    for body in ([1], "text", 3, None):
        response = put(editor, json.dumps(body), 0)
        assert response.status_code == 422
        assert "JSON object" in error_of(response)["message"]
    assert stored_state("blog")["note"] == "n"


def test_a_body_over_the_limit_is_413(editor: Client, blog: WorkflowSession, settings: Any) -> None:
    settings.WFSITE_API_MAX_BODY_BYTES = 100

    response = put(editor, {"big": "x" * 200}, 0)

    assert response.status_code == 413
    assert error_of(response)["details"] == {"limit": 100}
    assert "big" not in stored_state("blog")


def test_a_body_bigger_than_a_form_is_accepted(editor: Client, blog: WorkflowSession, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = put(editor, {"big": "x" * 5000}, 0)

    assert response.status_code == 200
    assert len(stored_state("blog")["big"]) == 5000


def test_a_state_over_the_state_limit_is_422_naming_it(
    editor: Client, blog: WorkflowSession, settings: Any
) -> None:
    settings.WFSITE_MAX_STATE_BYTES = 500

    response = patch(editor, {"big": "x" * 1000}, 0)

    assert response.status_code == 422
    assert "WFSITE_MAX_STATE_BYTES" in error_of(response)["message"]


def test_a_patch_in_another_media_type_is_415_with_accept_patch(
    editor: Client, blog: WorkflowSession
) -> None:
    response = patch(editor, {"x": 1}, 0, kind="application/json")

    assert response.status_code == 415
    assert response["Accept-Patch"] == f"{MERGE}, {JSON_PATCH}"


def test_an_unknown_session_is_404(editor: Client, db: None) -> None:
    for response in (editor.get(state_url("nope")), patch(editor, {}, 0, session_id="nope")):
        assert response.status_code == 404
        assert error_of(response)["details"] == {"session_id": "nope"}
