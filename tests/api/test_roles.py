"""Every endpoint with every role: no credentials is 401, a role below the one needed is 403 naming
it, and the needed role (and every role above) succeeds. The event stream's refusals are in
test_events (it is an async stream)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.selectors.transfer import session_export_bytes
from sessions_app.services.sessions import session_create
from sessions_app.services.state import session_state_edit
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

LADDER = [None, "viewer", "runner", "editor", "admin"]
CACHED = {"blog_posts": [{"topic": "Cached", "blog_post": "# Post"}], "note": "n"}


@dataclass(frozen=True)
class Call:
    method: str
    url: Callable[[WorkflowRun], str]
    role: str
    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def s(name: str, *args: Any) -> Callable[[WorkflowRun], str]:
    return lambda run: reverse(f"api:{name}", args=["r/1", *args])


def exported(run: WorkflowRun) -> bytes:
    data = json.loads(session_export_bytes(session=run.session))
    data["session"]["session_id"] = "imported"
    return json.dumps(data).encode()


def another_run(status: str) -> Callable[[WorkflowRun], str]:
    """The URL of a run in `status` that nobody started, on the session; `name` is the endpoint."""

    def url(run: WorkflowRun, name: str) -> str:
        made = WorkflowRun.objects.create(
            session=run.session, workflow=run.workflow, status=status, inputs={"topic": "cached"}
        )
        return reverse(f"api:{name}", args=[made.run_id])

    return lambda run: url(run, "run_cancel" if status == "queued" else "run_again")


CALLS = {
    "list sessions": Call("get", lambda run: "/api/v1/sessions", "viewer", 200),
    "create a session": Call("post", lambda run: "/api/v1/sessions", "runner", 201, {"session_id": "new"}),
    "create with a state": Call(
        "post", lambda run: "/api/v1/sessions", "editor", 201, {"session_id": "new", "state": {"a": 1}}
    ),
    "get a session": Call("get", s("session_get"), "viewer", 200),
    "rename a session": Call("patch", s("session_get"), "editor", 200, {"name": "N"}),
    "delete a session": Call("delete", s("session_get"), "admin", 204),
    "get the state": Call("get", s("state_get"), "viewer", 200),
    "replace the state": Call("put", s("state_get"), "editor", 200, {"a": 1}, headers={"If-Match": '"2"'}),
    "patch the state": Call(
        "patch", s("state_get"), "editor", 200, {"a": 1}, "application/merge-patch+json", {"If-Match": '"2"'}
    ),
    "list caches": Call("get", s("cache_list"), "viewer", 200),
    "list entries": Call("get", s("cache_entries", "blog_posts"), "viewer", 200),
    "get an entry": Call("get", s("cache_entry_get", "blog_posts", "cached"), "viewer", 200),
    "delete an entry": Call("delete", s("cache_entry_get", "blog_posts", "cached"), "editor", 200),
    "start a run": Call("post", s("run_start"), "runner", 201, {"inputs": {"topic": "cached"}}),
    "get a run": Call("get", lambda run: reverse("api:run_get", args=[run.run_id]), "viewer", 200),
    "cancel a run": Call("post", another_run("queued"), "editor", 200),
    "run a run again": Call("post", another_run("succeeded"), "runner", 201),
    "list changes": Call("get", s("history_list"), "viewer", 200),
    "get a change": Call("get", s("history_get", 2), "viewer", 200),
    "diff versions": Call("get", lambda run: s("history_diff")(run) + "?before=1", "viewer", 200),
    "restore a version": Call("post", s("history_restore", 1), "editor", 200, headers={"If-Match": '"2"'}),
    "undo a change": Call("post", s("history_undo", 2), "editor", 200),
    "fork from a version": Call("post", s("history_fork", 1), "editor", 201, {"session_id": "forked"}),
    "export": Call("get", s("session_export"), "viewer", 200),
    "import": Call("post", lambda run: "/api/v1/imports", "editor", 201, exported),
}


@pytest.fixture
def run(db: None) -> WorkflowRun:
    session = session_create(session_id="r/1", workflow="BlogPostGenerator", user=None, state=CACHED)
    session_state_edit(session=session, new_state={**CACHED, "note": "m"}, base_version=1, actor=None)
    return WorkflowRun.objects.create(session=session, workflow=session.workflow, status="succeeded")


def send(client: Client, call: Call, run: WorkflowRun) -> Any:
    body = call.body(run) if callable(call.body) else call.body
    data = body if isinstance(body, bytes) or body is None else json.dumps(body)
    kwargs: dict[str, Any] = {"headers": call.headers}
    if data is not None:
        kwargs |= {"data": data, "content_type": call.content_type}
    return getattr(client, call.method)(call.url(run), **kwargs)


@pytest.mark.parametrize("role", ["anonymous", *LADDER])
@pytest.mark.parametrize("name", CALLS)
def test_every_endpoint_with_every_role(
    api: Callable[[str | None], Client], run: WorkflowRun, name: str, role: str | None
) -> None:
    call = CALLS[name]
    before = (WorkflowSession.objects.get(session_id="r/1").version, WorkflowSession.objects.count())

    response = send(api(role), call, run)

    if role == "anonymous":
        assert response.status_code == 401
        assert error_of(response)["code"] == "unauthorized"
    elif LADDER.index(role) < LADDER.index(call.role):
        assert response.status_code == 403
        assert error_of(response)["details"]["role"] == call.role
        assert call.role in error_of(response)["message"]
    else:
        assert response.status_code == call.status, response.content
        return
    after = (WorkflowSession.objects.get(session_id="r/1").version, WorkflowSession.objects.count())
    assert after == before
