"""Every page needs a login unless it is one of the few marked public; each write checks its own role."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.services.caches import cache_entry_delete, cache_entry_regenerate
from sessions_app.services.forks import session_fork
from sessions_app.services.retention import data_prune
from sessions_app.services.roles import roles_sync
from sessions_app.services.runs import run_delete, run_start
from sessions_app.services.sessions import session_create, session_delete, session_rename
from sessions_app.services.state import (
    session_state_clear,
    session_state_delete,
    session_state_edit,
    session_state_restore,
    state_change_undo,
)
from sessions_app.services.state_patch import PatchKind, session_state_patch
from sessions_app.services.transfer import session_import
from sessions_app.services.transfer_format import transfer_parse
from sessions_app.services.upstream import session_import_upstream, upstream_rows
from sessions_app.workflow import BlogPostGenerator, SqliteWorkflowStorage
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db

PUBLIC = {
    "login",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "admin:login",
    "healthz",
    "readyz",
    "metrics",
    "run_events",  # answers a plain 403 itself
    "session_changes",  # so does the session change stream
    "favicon",
}


def named_views(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, Callable[..., Any]]]:
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            namespace = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            yield from named_views(pattern, namespace)
        elif isinstance(pattern, URLPattern):
            yield f"{prefix}{pattern.name}", pattern.callback


# The JSON API's own: its schema, docs page and index; every other API URL answers a 401 itself.
API_PUBLIC = {"api:api-root", "api:openapi-json", "api:openapi-view", "api:not_found"}


def test_only_the_marked_pages_are_open_without_a_login() -> None:
    public = {name for name, view in named_views(get_resolver()) if not getattr(view, "login_required", True)}

    assert {name for name in public if not name.startswith("api:")} == PUBLIC


def test_every_api_endpoint_answers_a_visitor_401_itself() -> None:
    session = WorkflowSession.objects.create(session_id="s", workflow="BlogPostGenerator")
    run = WorkflowRun.objects.create(session=session, workflow=session.workflow)
    api = [pattern for pattern in get_resolver().url_patterns if getattr(pattern, "namespace", "") == "api"]
    [resolver] = api
    client = Client()
    for pattern in resolver.url_patterns:
        name = f"api:{pattern.name}"
        route = str(pattern.pattern)
        route = re.sub(r"<uuid(str)?:\w+>", str(run.run_id), route)
        route = re.sub(r"<int:\w+>", "1", re.sub(r"<session_id:\w+>", "s", route))
        path = "/api/v1/" + re.sub(r"<\w+>", "x", route)
        response = client.get(path)
        if name in API_PUBLIC:
            assert response.status_code in (200, 404), name
            continue
        assert response.status_code in (401, 405), (name, path)
        assert response["Content-Type"] == "application/json", name


def test_a_visitor_is_sent_to_log_in_and_an_admin_page_to_the_admin_login() -> None:
    client = Client()
    page = client.get("/sessions/?q=x")
    admin = client.get("/admin/sessions_app/workflowrun/")

    assert page.status_code == 302
    assert page["Location"] == "/accounts/login/?next=/sessions/%3Fq%3Dx"
    assert admin.status_code == 302
    assert admin["Location"] == "/admin/login/?next=/admin/sessions_app/workflowrun/"
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/accounts/password_reset/").status_code == 200


def test_the_event_stream_says_no_plainly_to_a_visitor() -> None:
    session = WorkflowSession.objects.create(session_id="s", workflow="BlogPostGenerator")
    run = WorkflowRun.objects.create(session=session, workflow=session.workflow)

    response = Client().get(f"/runs/{run.run_id}/events/")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")


# -- every write service refuses a person without its role ---------------------------------------


@pytest.fixture
def session() -> WorkflowSession:
    return with_history("perm", name="Before")


def with_history(session_id: str, **fields: Any) -> WorkflowSession:
    """A session whose state came from one recorded change (version 1), so it can be undone and forked."""
    session = WorkflowSession.objects.create(session_id=session_id, workflow="BlogPostGenerator", **fields)
    state = {"blog_posts": [{"topic": "t", "blog_post": "p"}], "note": "n"}
    session_state_edit(session=session, new_state=state, base_version=0, actor=None)
    return session


@pytest.fixture
def upstream_row(tmp_path: Path) -> Any:
    storage = SqliteWorkflowStorage(table_name="wf", db_file=str(tmp_path / "up.db"))
    from sessions_app.workflow import BlogPostGenerator

    workflow = BlogPostGenerator(session_id="from-upstream", storage=storage)
    workflow.session_state["note"] = "upstream"
    workflow.write_to_storage()
    [row] = list(upstream_rows(db_file=tmp_path / "up.db", table="wf", workflow=None))
    return row


def writes(session: WorkflowSession, upstream_row: Any) -> dict[str, Callable[[Any], Any]]:
    """Each write service, called as `actor` would call it."""
    run = WorkflowRun.objects.create(session=session, workflow=session.workflow, status="succeeded")
    exported = transfer_parse(
        b'{"format": "wfsite.session", "format_version": 1, "session": {"session_id": "imported '
        + session.session_id.encode()
        + b'", "workflow": "BlogPostGenerator"}, "state": {}, "runs": [], "changes": []}'
    )
    return {
        "run_start": lambda actor: run_start(session=session, inputs={"topic": "new"}, user=actor),
        "session_create": lambda actor: session_create(
            session_id=f"new {session.session_id}", workflow=session.workflow, user=actor
        ),
        "session_rename": lambda actor: session_rename(session=session, name="After", actor=actor),
        "session_delete": lambda actor: session_delete(session=session, actor=actor),
        "run_delete": lambda actor: run_delete(run=run, actor=actor),
        "session_state_edit": lambda actor: session_state_edit(
            session=session, new_state={}, base_version=session.version, actor=actor
        ),
        "session_state_patch": lambda actor: session_state_patch(
            session=session,
            patch={"note": None},
            kind=PatchKind.MERGE,
            base_version=session.version,
            actor=actor,
        ),
        "session_state_clear": lambda actor: session_state_clear(
            session=session, base_version=session.version, actor=actor
        ),
        "session_state_delete": lambda actor: session_state_delete(
            session=session, path=("note",), base_version=session.version, actor=actor
        ),
        "session_state_restore": lambda actor: session_state_restore(
            session=session, version=0, base_version=session.version, actor=actor
        ),
        "state_change_undo": lambda actor: state_change_undo(session=session, version=1, actor=actor),
        "session_fork": lambda actor: session_fork(
            session=session, version=1, actor=actor, session_id=f"fork of {session.session_id}"
        ),
        "session_import": lambda actor: session_import(data=exported, actor=actor),
        "session_import_upstream": lambda actor: session_import_upstream(
            row=upstream_row, source="t", actor=actor
        ),
        "cache_entry_delete": lambda actor: cache_entry_delete(
            session=session,
            cache=BlogPostGenerator.blog_posts,
            key="t",
            base_version=session.version,
            actor=actor,
        ),
        "cache_entry_regenerate": lambda actor: cache_entry_regenerate(
            session=session,
            workflow_class=BlogPostGenerator,
            cache=BlogPostGenerator.blog_posts,
            key="t",
            user=actor,
        ),
        "roles_sync": lambda actor: roles_sync(actor=actor),
        "data_prune": lambda actor: data_prune(actor=actor),
    }


def snapshot() -> tuple[Any, ...]:
    return (
        list(WorkflowSession.objects.order_by("pk").values_list("session_id", "name", "version")),
        WorkflowRun.objects.count(),
        StateChange.objects.count(),
    )


SERVICES = [
    "run_start",
    "session_create",
    "session_rename",
    "session_delete",
    "run_delete",
    "session_state_edit",
    "session_state_patch",
    "session_state_clear",
    "session_state_delete",
    "session_state_restore",
    "state_change_undo",
    "session_fork",
    "session_import",
    "session_import_upstream",
    "cache_entry_delete",
    "cache_entry_regenerate",
    "roles_sync",
    "data_prune",
]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("role", [None, "viewer"])
def test_a_write_service_refuses_a_person_without_its_role(
    django_user_model: Any, session: WorkflowSession, upstream_row: Any, service: str, role: str | None
) -> None:
    call = writes(session, upstream_row)[service]
    person = user_with_role(django_user_model, "nobody", role)
    before = snapshot()

    with pytest.raises(PermissionDenied):
        call(person)
    with pytest.raises(PermissionDenied):
        call(AnonymousUser())
    assert snapshot() == before


@pytest.mark.parametrize("service", SERVICES)
def test_a_superuser_and_the_system_may(
    django_user_model: Any, session: WorkflowSession, upstream_row: Any, service: str
) -> None:
    root = django_user_model.objects.create_superuser("root", password="x")
    writes(session, upstream_row)[service](root)
    writes(with_history("system"), upstream_row)[service](None)
