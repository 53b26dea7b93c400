"""The 403, 404 and 500 pages: in the site's layout (the admin's under /admin/), saying what happened."""

from __future__ import annotations

import uuid
from html import unescape
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from sessions_app.models import WorkflowSession
from sessions_app.roles import CAN_EDIT_STATE
from sessions_app.services.permissions import actor_require
from sessions_app.state.store import state_replace
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db

SITE_LAYOUT = 'class="site-header"'
ADMIN_LAYOUT = 'id="container"'


@pytest.fixture
def session() -> WorkflowSession:
    session = WorkflowSession.objects.create(session_id="s 1", workflow="BlogPostGenerator")
    state_replace(session, {"blog_posts": [{"topic": "t", "blog_post": "# T"}]})
    return session


def client_for(django_user_model: Any, role: str | None, *, staff: bool = False) -> Client:
    user = user_with_role(django_user_model, f"user-{role}", role)
    if staff:
        user.is_staff = True
        user.save()
    client = Client()
    client.force_login(user)
    return client


def page(response: Any) -> str:
    return unescape(response.content.decode())


def test_no_role_is_told_which_role_the_page_needs(django_user_model: Any) -> None:
    response = client_for(django_user_model, None).get(reverse("session_list"))

    html = page(response)
    assert response.status_code == 403
    assert SITE_LAYOUT in html
    assert "<h1>You can't open this page</h1>" in html
    assert "You need the viewer role to see sessions." in html
    assert "Your roles: <strong>none</strong>" in html
    assert "create_roles --add viewer user-None" in html
    assert '<a href="/sessions/">Back to the sessions</a>' in html


def test_a_viewer_is_told_running_and_clearing_need_runner_and_editor(
    django_user_model: Any, session: WorkflowSession
) -> None:
    client = client_for(django_user_model, "viewer")

    run = client.post(reverse("run_create", args=[session.session_id]), {"topic": "x"})
    clear = client.get(reverse("state_clear", args=[session.session_id]), HTTP_REFERER="http://testserver/x/")
    create = client.post(reverse("session_list"), {"session_id": "new"})

    assert (run.status_code, clear.status_code, create.status_code) == (403, 403, 403)
    assert "You need the runner role to start runs." in page(run)
    assert "You need the runner role to create sessions." in page(create)
    html = page(clear)
    assert "You need the editor role to clear state." in html
    assert "Your roles: <strong>viewer</strong>" in html
    assert '<tr class="is-needed"><th scope="row">editor</th>' in html
    assert '<a href="http://testserver/x/">Back to the previous page</a>' in html
    assert f'<a href="{reverse("session_detail", args=[session.session_id])}">Back to the session</a>' in html


def test_an_admin_state_page_refuses_in_the_admins_layout(
    django_user_model: Any, session: WorkflowSession
) -> None:
    client = client_for(django_user_model, "viewer", staff=True)
    url = reverse("admin:sessions_app_workflowsession_state_clear", args=[session.pk])

    response = client.get(url)

    html = page(response)
    assert response.status_code == 403
    assert ADMIN_LAYOUT in html
    assert SITE_LAYOUT not in html
    assert "You need the editor role to change a session's state." in html
    assert '<a href="/admin/">Back to the admin</a>' in html
    change = reverse("admin:sessions_app_workflowsession_change", args=[session.pk])
    assert f'<a href="{change}">Back to the session</a>' in html


def test_a_service_refusal_names_the_role(django_user_model: Any) -> None:
    viewer = user_with_role(django_user_model, "vee", "viewer")

    with pytest.raises(PermissionDenied, match="vee may not do this: it needs the editor role"):
        actor_require(viewer, CAN_EDIT_STATE)


def test_not_found_says_what_is_missing(django_user_model: Any, session: WorkflowSession) -> None:
    client = client_for(django_user_model, "viewer")

    no_session = client.get(reverse("session_detail", args=["no such ✓"]))
    no_run = client.get(reverse("run_detail", args=[uuid.uuid4()]))
    no_entry = client.get(reverse("session_entry", args=[session.session_id, 999_999]))
    no_page = client.get("/nothing/here/")

    assert {r.status_code for r in (no_session, no_run, no_entry, no_page)} == {404}
    assert "There is no session with the id “no such ✓”." in page(no_session)
    assert "No run with this id." in page(no_run)
    assert "matches the given query" not in page(no_entry)
    assert "There is nothing at this address." in page(no_entry)
    for response in (no_session, no_run, no_entry, no_page):
        assert SITE_LAYOUT in page(response)
        assert "<h1>Page not found</h1>" in page(response)
        assert "Back to the sessions" in page(response)


def test_not_found_in_the_admin_uses_its_layout(django_user_model: Any) -> None:
    client = client_for(django_user_model, "viewer", staff=True)

    response = client.get(reverse("admin:sessions_app_workflowsession_state_history", args=[999_999]))

    assert response.status_code == 404
    assert ADMIN_LAYOUT in page(response)
    assert "No such session." in page(response)


def test_a_server_error_is_a_page_in_the_layout(
    django_user_model: Any, session: WorkflowSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(**kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("sessions_app.views.sessions.session_list", fail)
    monkeypatch.setattr("sessions_app.admin.state_views.history_page", fail)
    client = client_for(django_user_model, "viewer", staff=True)
    client.raise_request_exception = False

    site = client.get(reverse("session_list"))
    in_admin = client.get(reverse("admin:sessions_app_workflowsession_state_history", args=[session.pk]))

    assert (site.status_code, in_admin.status_code) == (500, 500)
    assert SITE_LAYOUT in page(site)
    assert "Something went wrong on the server" in page(site)
    assert "boom" not in page(site)
    assert '<a href="/sessions/">Back to the sessions</a>' in page(site)
    assert ADMIN_LAYOUT in page(in_admin)
    assert "Something went wrong on the server" in page(in_admin)
    assert '<a href="/admin/">Back to the admin</a>' in page(in_admin)


def test_every_page_names_the_favicon(client: Client) -> None:
    html = client.get(reverse("login")).content.decode()
    admin_login = client.get("/admin/login/").content.decode()

    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in admin_login
    response = client.get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (301, "/static/favicon.svg")
