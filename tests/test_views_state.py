from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser, Group
from django.core.management import call_command
from django.test import Client
from django.urls import include, path, reverse

from sessions_app.models import StateChange, WorkflowSession
from tests.django_fixtures import stored_state
from tests.test_services_state import posts, run_commit
from wfsite.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    *site_urlpatterns,
    path("sessions/<session_id:session_id>/", include("sessions_app.views.state_pages.urls")),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

ODD = "a b/c?d#e%20ü 😀"
XSS = '"><script>alert(1)</script>'


def url(name: str, session_id: str = "s", *args: Any) -> str:
    return reverse(f"state_{name}", args=[session_id, *args])


@pytest.fixture
def session() -> WorkflowSession:
    run_commit("s", lambda state: state.update(blog_posts=posts("A", "B"), tone="dry"))
    return WorkflowSession.objects.get(session_id="s")


def client_for(django_user_model: type[AbstractUser], role: str | None) -> Client:
    call_command("create_roles")
    user = django_user_model.objects.create_user(f"user-{role}", password="x")
    if role:
        user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def editor(django_user_model: type[AbstractUser]) -> Client:
    return client_for(django_user_model, "editor")


def test_pages_need_a_login(client: Client, session: WorkflowSession) -> None:
    for name, args in [
        ("overview", ()),
        ("history", ()),
        ("diff", ()),
        ("clear", ()),
        ("delete", ()),
        ("restore", (1,)),
        ("export", ()),
        ("import", ()),
    ]:
        response = client.get(url(name, "s", *args))
        assert response.status_code == 302, name
        assert response["Location"].startswith("/accounts/login/")


def test_the_overview_lists_keys_and_entries_with_actions_for_editors(
    editor: Client, session: WorkflowSession
) -> None:
    html = unescape(editor.get(url("overview")).content.decode())

    assert "<code>blog_posts</code> <small>list of 2</small>" in html
    assert 'aria-label="Delete blog_posts[1]"' in html
    assert "Clear the whole state…" in html
    assert 'href="/sessions/s/state/history/"' in html


def test_delete_then_undo_from_the_message(editor: Client, session: WorkflowSession) -> None:
    confirm = editor.get(url("delete"), {"path": '["blog_posts", 0]'})
    assert "This removes what is shown below (version 1)" in unescape(confirm.content.decode())

    response = editor.post(url("delete"), {"base_version": 1, "path": '["blog_posts", 0]'})

    assert response.status_code == 302
    assert response["Location"] == url("overview")
    assert [p["topic"] for p in stored_state("s")["blog_posts"]] == ["B"]
    page = editor.get(response["Location"]).content.decode()
    # This session has no workflow, so no declared cache names the entry: it is named by its path.
    undo = re.search(r'Deleted blog_posts\[0\] \(now version 2\)\. <a href="([^"]+)">Undo</a>', page).group(1)
    assert undo == url("undo", "s", 2)
    preview = unescape(editor.get(undo).content.decode())
    assert "This takes back what version 2 changed and keeps every later change" in preview
    assert '<code class="state-path">blog_posts</code>' in preview
    editor.post(undo, {"base_version": 2})
    assert [p["topic"] for p in stored_state("s")["blog_posts"]] == ["A", "B"]
    assert list(StateChange.objects.filter(session=session).values_list("source", flat=True)) == [
        "undo",
        "clear",
        "run",
    ]


def test_clear_a_cache_from_the_session_page(editor: Client, session: WorkflowSession) -> None:
    editor.post(url("clear"), {"base_version": 1, "path": '["blog_posts"]'})

    assert stored_state("s") == {"blog_posts": [], "tone": "dry"}


def test_a_confirmation_made_stale_by_a_run_changes_nothing(editor: Client, session: WorkflowSession) -> None:
    run_commit("s", lambda state: state["blog_posts"].append(posts("C")[0]))

    response = editor.post(url("clear"), {"base_version": 1, "path": '["blog_posts"]'})

    assert response.status_code == 409
    assert "blog_posts changed since this page was opened" in unescape(response.content.decode())
    assert len(stored_state("s")["blog_posts"]) == 3


def test_history_and_diff_pages(editor: Client, session: WorkflowSession) -> None:
    run_commit("s", lambda state: state.update(tone="warm"))

    history = unescape(editor.get(url("history")).content.decode())
    diff = unescape(editor.get(url("diff"), {"before": 1, "after": 2}).content.decode())

    assert "Version 2 · Run" in history
    assert "Version 1 · Run" in history
    assert f'href="{url("restore", "s", 1)}"' in history
    assert '<code class="state-path">tone</code>' in diff
    assert '"dry"' in diff
    assert '"warm"' in diff
    assert editor.get(url("diff"), {"before": "x"}).status_code == 400
    assert editor.get(url("diff"), {"before": 99}).status_code == 404


def test_odd_session_ids_and_state_content_are_escaped(editor: Client) -> None:
    run_commit(ODD, lambda state: state.update({XSS: [{"topic": XSS, "blog_post": XSS}]}))
    session = WorkflowSession.objects.get(session_id=ODD)
    pages = [
        url("overview", ODD),
        url("history", ODD),
        url("diff", ODD) + "?before=0&after=1",
        url("delete", ODD) + "?path=" + json.dumps([XSS, 0]),
        url("clear", ODD),
        url("import", ODD),
    ]
    for page in pages:
        response = editor.get(page)
        assert response.status_code == 200, page
        assert "<script>alert" not in response.content.decode(), page
    editor.post(url("delete", ODD), {"base_version": 1, "path": json.dumps([XSS, 0])})
    assert stored_state(ODD) == {XSS: []}
    assert session.pk


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("[" * 990 + "]" * 990, "It may not hold arrays or objects."),
        ('["tone", {"a": 1}]', "It may not hold arrays or objects."),
        ('["blog_posts", ' + "9" * 5000 + "]", "a JSON array of keys and indexes"),
        (json.dumps(["blog_posts"] * 65), "The path has 65 parts; no state nests deeper than 64"),
        ('["tone\\ud800"]', "lone surrogate"),
        ("[1]", "starting with a key"),
        ("not json", "a JSON array of keys and indexes"),
    ],
    ids=["990-nested-brackets", "object", "5000-digits", "too-long", "surrogate", "index-first", "garbage"],
)
def test_a_hostile_path_is_answered_400_with_its_reason(
    editor: Client, session: WorkflowSession, path: str, reason: str
) -> None:
    for response in (
        editor.get(url("delete"), {"path": path}),
        editor.post(url("delete"), {"base_version": 1, "path": path}),
        editor.post(url("clear"), {"base_version": 1, "path": path}),
    ):
        assert response.status_code == 400
        assert reason in unescape(response.content.decode())
    assert WorkflowSession.objects.get(pk=session.pk).version == 1


def test_a_path_with_brackets_and_braces_inside_its_keys_is_fine(editor: Client) -> None:
    key = 'odd [key] {with} "quotes" \\ and ['
    run_commit("b", lambda state: state.update({key: {"[": 1}}))
    path = json.dumps([key, "["])
    assert editor.get(url("delete", "b"), {"path": path}).status_code == 200
    editor.post(url("delete", "b"), {"base_version": 1, "path": path})
    assert stored_state("b") == {key: {}}


@pytest.mark.parametrize("role", ["viewer", "runner"])
def test_viewers_and_runners_read_but_are_refused_changes(
    django_user_model: type[AbstractUser], session: WorkflowSession, role: str
) -> None:
    client = client_for(django_user_model, role)

    for name in ("overview", "history", "diff", "export"):
        assert client.get(url(name)).status_code == 200, name
    assert "Delete…" not in client.get(url("overview")).content.decode()
    refused = [
        client.get(url("clear")),
        client.post(url("clear"), {"base_version": 1}),
        client.post(url("delete"), {"base_version": 1, "path": '["tone"]'}),
        client.post(url("restore", "s", 1), {"base_version": 1}),
    ]
    assert [r.status_code for r in refused] == [403] * 4
    assert WorkflowSession.objects.get(pk=session.pk).version == 1


def test_a_user_without_a_role_sees_nothing(
    django_user_model: type[AbstractUser], session: WorkflowSession
) -> None:
    client = client_for(django_user_model, None)

    assert client.get(url("history")).status_code == 403
    assert client.get(url("export")).status_code == 403


def test_the_admin_role_may_do_everything(
    django_user_model: type[AbstractUser], session: WorkflowSession
) -> None:
    client = client_for(django_user_model, "admin")

    assert client.post(url("clear"), {"base_version": 1}).status_code == 302
    assert stored_state("s") == {}
