"""Export and import through the API: the pages' JSON format, checked by the pages' own validation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.selectors.transfer import session_export
from sessions_app.services.runs import run_start
from sessions_app.services.transfer_format import transfer_parse
from tests.api.conftest import error_of
from tests.django_fixtures import stored_state

pytestmark = pytest.mark.django_db

IMPORTS = "/api/v1/imports"


def test_export_is_the_pages_session_file(editor: Client, blog: WorkflowSession) -> None:
    run_start(session=blog, inputs={"topic": "caching"}, user=None)

    response = editor.get(reverse("api:session_export", args=["blog"]))

    assert response.status_code == 200
    body = response.json()
    pages = session_export(session=blog)
    assert {k: v for k, v in body.items() if k != "exported_at"} == json.loads(
        json.dumps({k: v for k, v in pages.items() if k != "exported_at"})
    )
    assert transfer_parse(response.content).state == stored_state("blog")


def test_an_exported_file_imports_into_a_new_site(editor: Client, blog: WorkflowSession) -> None:
    run_start(session=blog, inputs={"topic": "caching"}, user=None)
    exported = editor.get(reverse("api:session_export", args=["blog"])).content
    state = stored_state("blog")
    WorkflowSession.objects.all().delete()

    created = editor.post(IMPORTS, exported, content_type="application/json")
    again = editor.post(IMPORTS, exported, content_type="application/json")

    assert created.status_code == 201
    assert created.json()["created"] is True
    assert created.json()["runs_added"] == 1
    assert created["Location"] == reverse("api:session_get", args=["blog"])
    assert stored_state("blog") == state
    assert again.status_code == 200
    assert again.json()["change"] is None
    assert again.json()["runs_skipped"] == 1
    assert WorkflowRun.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"format": "other"}', 422, "not a wfsite session file"),
        (
            b'{"format": "wfsite.session", "format_version": 1, "session": {}, "state": []}',
            422,
            "session.session_id",
        ),
    ],
)
def test_a_bad_file_is_refused_as_the_pages_refuse_it(
    editor: Client, body: bytes, status: int, says: str
) -> None:
    response = editor.post(IMPORTS, body, content_type="application/json")

    assert response.status_code == status
    assert says in json.dumps(error_of(response))
    assert not WorkflowSession.objects.exists()


def test_import_needs_the_editor_role(api: Any, blog: WorkflowSession) -> None:
    exported = api("viewer").get(reverse("api:session_export", args=["blog"])).content

    refused = api("runner").post(IMPORTS, exported, content_type="application/json")

    assert refused.status_code == 403
    assert error_of(refused)["details"]["role"] == "editor"


def test_a_file_over_the_limit_is_413(editor: Client, settings: Any) -> None:
    settings.WFSITE_API_MAX_BODY_BYTES = 50

    response = editor.post(IMPORTS, b"{" + b" " * 100 + b"}", content_type="application/json")

    assert response.status_code == 413


def test_a_fork_exports_and_imports_with_its_origin(editor: Client, blog: WorkflowSession) -> None:
    forked = editor.post(
        reverse("api:history_fork", args=["blog", 0]), {"session_id": "fork"}, content_type="application/json"
    )
    assert forked.status_code == 201, forked.content
    exported = editor.get(reverse("api:session_export", args=["fork"])).json()
    assert exported["session"]["forked_from"] == {"session_id": "blog", "version": 0}
    WorkflowSession.objects.filter(session_id="fork").delete()

    response = editor.post(IMPORTS, json.dumps(exported), content_type="application/json")

    assert response.status_code == 201, response.content
    assert response.json()["session"]["forked_from"]["session_id"] == "blog"
    fork = WorkflowSession.objects.get(session_id="fork")
    assert (fork.forked_from, fork.forked_from_version) == (blog, 0)
