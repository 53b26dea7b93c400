"""The history's per-version actions on the dashboard and in the admin: undo this change, fork from here."""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.services.state import session_state_edit
from tests.branch_helpers import posts, run_commit
from tests.django_fixtures import stored_state, user_with_role

pytestmark = pytest.mark.django_db


def url(name: str, *args: Any, session_id: str = "s") -> str:
    return reverse(f"state_{name}", args=[session_id, *args])


def login(django_user_model: type[AbstractUser], role: str, **fields: Any) -> Client:
    client = Client()
    user = user_with_role(django_user_model, f"{role}-user", role)
    for name, value in fields.items():
        setattr(user, name, value)
    user.save()
    client.force_login(user)
    return client


@pytest.fixture
def editor(django_user_model: type[AbstractUser]) -> Client:
    return login(django_user_model, "editor")


@pytest.fixture
def session() -> WorkflowSession:
    """v1: posts A, B and tone dry; v2: tone warm; v3: post C."""
    run_commit("s", lambda state: state.update(blog_posts=posts("A", "B"), tone="dry"))
    session = WorkflowSession.objects.get(session_id="s")
    session_state_edit(
        session=session, new_state={**stored_state("s"), "tone": "warm"}, base_version=1, actor=None
    )
    return run_commit("s", lambda state: state["blog_posts"].append(posts("C")[0]))


def page(response: Any) -> str:
    return unescape(response.content.decode())


def test_the_history_offers_undo_restore_and_fork_on_each_version(
    editor: Client, session: WorkflowSession
) -> None:
    html = page(editor.get(url("history")))

    assert f'href="{url("undo", 2)}">Undo this change…' in html
    assert f'href="{url("fork", 2)}">Fork from here…' in html
    assert "Restore version 2 (drops later changes)…" in html
    assert html.count("Undo this change…") == 3
    assert html.count("Fork from here…") == 3


def test_a_viewer_sees_no_actions_and_may_not_use_them(
    django_user_model: type[AbstractUser], session: WorkflowSession
) -> None:
    viewer = login(django_user_model, "viewer")

    html = page(viewer.get(url("history")))

    assert "Undo this change" not in html
    assert "Fork from here" not in html
    assert viewer.post(url("undo", 2)).status_code == 403
    assert viewer.post(url("fork", 2), {"session_id": "copy"}).status_code == 403
    assert "editor role" in page(viewer.get(url("fork", 2)))
    assert stored_state("s")["tone"] == "warm"
    assert not WorkflowSession.objects.filter(session_id="copy").exists()


def test_the_restore_confirmation_says_it_drops_later_changes(
    editor: Client, session: WorkflowSession
) -> None:
    html = page(editor.get(url("restore", 1)))

    assert "This drops every change made after it (versions 2 to 3)" in html
    assert "Undo this change" in html


def test_undo_shows_what_it_will_change_then_keeps_later_changes(
    editor: Client, session: WorkflowSession
) -> None:
    confirm = page(editor.get(url("undo", 2)))
    assert "This takes back what version 2 changed and keeps every later change" in confirm
    assert '<code class="state-path">tone</code>' in confirm

    response = editor.post(url("undo", 2))

    assert response.status_code == 302
    assert stored_state("s")["tone"] == "dry"
    assert [p["topic"] for p in stored_state("s")["blog_posts"]] == ["A", "B", "C"]
    change = StateChange.objects.get(session=session, version=4)
    assert change.source == "undo"
    assert change.summary.startswith("Undid version 2")
    message = page(editor.get(response["Location"]))
    assert "Undid version 2" in message
    assert f'href="{url("undo", 4)}">Undo</a>' in message


def test_an_undo_conflict_names_the_value_writes_nothing_and_offers_the_restore(
    editor: Client, session: WorkflowSession
) -> None:
    session_state_edit(
        session=session, new_state={**stored_state("s"), "tone": "bright"}, base_version=3, actor=None
    )

    shown = editor.get(url("undo", 2))
    response = editor.post(url("undo", 2))

    for answer in (shown, response):
        assert answer.status_code == 409
        html = page(answer)
        assert "Version 2 cannot be undone on its own: a later change also changed tone." in html
        assert f'href="{url("restore", 1)}">Restore version 1 instead…' in html
    assert stored_state("s")["tone"] == "bright"
    assert WorkflowSession.objects.get(session_id="s").version == 4


def test_undo_of_a_version_no_change_made_is_not_found(editor: Client, session: WorkflowSession) -> None:
    assert editor.get(url("undo", 9)).status_code == 404
    assert editor.post(url("undo", 9)).status_code == 404


def test_fork_from_a_version_opens_the_fork_which_links_back(
    editor: Client, session: WorkflowSession
) -> None:
    form = page(editor.get(url("fork", 1)))
    assert 'placeholder="s (fork of v1)"' in form

    response = editor.post(url("fork", 1), {"session_id": "my copy", "name": ""})

    assert response.status_code == 302
    assert response["Location"] == reverse("session_detail", args=["my copy"])
    fork_page = page(editor.get(response["Location"]))
    assert "Forked version 1 of 's' as 'my copy'." in fork_page
    assert f'<a href="{reverse("session_detail", args=["s"])}">s</a> at version 1' in fork_page
    assert stored_state("my copy") == {"blog_posts": posts("A", "B"), "tone": "dry"}
    source_page = page(editor.get(reverse("session_detail", args=["s"])))
    assert (
        f'<a href="{reverse("session_detail", args=["my copy"])}">s (fork of v1)</a> (from version 1)'
        in source_page
    )


def test_a_fork_onto_a_taken_id_is_refused_on_the_form(editor: Client, session: WorkflowSession) -> None:
    response = editor.post(url("fork", 1), {"session_id": "s", "name": "x"})

    assert response.status_code == 400
    assert "A session with the id 's' already exists." in page(response)
    assert WorkflowSession.objects.count() == 1


def test_a_fork_of_a_version_not_kept_is_not_found(editor: Client, session: WorkflowSession) -> None:
    assert editor.get(url("fork", 7)).status_code == 404
    assert editor.post(url("fork", 7), {"session_id": "copy"}).status_code == 404


def test_a_fork_whose_source_was_deleted_still_names_it(editor: Client, session: WorkflowSession) -> None:
    editor.post(url("fork", 3), {"session_id": "copy"})
    session.delete()

    html = page(editor.get(reverse("session_detail", args=["copy"])))

    assert "s (deleted) at version 3" in html


# -- the admin ---------------------------------------------------------------------------------------------


def admin_url(session: WorkflowSession, name: str, *args: Any) -> str:
    return reverse(f"admin:sessions_app_workflowsession_{name}", args=[session.pk, *args])


def test_the_admin_forks_from_its_history_and_shows_where_a_fork_came_from(
    django_user_model: type[AbstractUser], session: WorkflowSession
) -> None:
    staff = login(django_user_model, "editor", is_staff=True)
    history = page(staff.get(admin_url(session, "state_history")))
    assert f'href="{admin_url(session, "state_fork", 2)}">Fork from here…' in history
    assert f'href="{admin_url(session, "state_undo", 2)}">Undo this change…' in history
    assert f'href="{admin_url(session, "state_fork_latest")}">Fork…' in page(
        staff.get(admin_url(session, "change"))
    )

    response = staff.post(admin_url(session, "state_fork", 2), {"session_id": "admin copy", "name": "Copy"})

    fork = WorkflowSession.objects.get(session_id="admin copy")
    assert response.status_code == 302
    assert response["Location"] == admin_url(fork, "change")
    assert (fork.name, fork.forked_from, fork.forked_from_version) == ("Copy", session, 2)
    assert stored_state("admin copy")["tone"] == "warm"
    fork_admin = page(staff.get(admin_url(fork, "change")))
    assert f'Forked from <a href="{admin_url(session, "change")}">s</a> at version 2' in fork_admin
    source_admin = page(staff.get(admin_url(session, "change")))
    assert f'Its forks: <a href="{admin_url(fork, "change")}">admin copy</a>' in source_admin


def test_the_admin_undoes_one_change(django_user_model: type[AbstractUser], session: WorkflowSession) -> None:
    staff = login(django_user_model, "editor", is_staff=True)

    assert "This takes back what version 2 changed" in page(staff.get(admin_url(session, "state_undo", 2)))
    response = staff.post(admin_url(session, "state_undo", 2))

    assert response.status_code == 302
    assert stored_state("s")["tone"] == "dry"


def test_a_staff_viewer_may_not_fork_in_the_admin(
    django_user_model: type[AbstractUser], session: WorkflowSession
) -> None:
    staff = login(django_user_model, "viewer", is_staff=True)

    assert staff.post(admin_url(session, "state_fork", 2), {"session_id": "copy"}).status_code == 403
    assert staff.post(admin_url(session, "state_undo", 2)).status_code == 403
    assert not WorkflowSession.objects.filter(session_id="copy").exists()
