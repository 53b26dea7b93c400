from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser, Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from sessions_app.models import RunEvent, StateChange, WorkflowRun, WorkflowSession
from tests.test_services_state import posts, run_commit

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script>'


def change_url(session: WorkflowSession) -> str:
    return reverse("admin:sessions_app_workflowsession_change", args=[session.pk])


def state_url(session: WorkflowSession, name: str, *args: Any) -> str:
    return reverse(f"admin:sessions_app_workflowsession_state_{name}", args=[session.pk, *args])


def stored(session: WorkflowSession) -> dict[str, Any]:
    from tests.django_fixtures import stored_state

    return stored_state(session.session_id)


def textarea(html: str) -> str:
    found = re.search(r'<textarea name="state"[^>]*>(.*?)</textarea>', html, re.S)
    assert found, "no state textarea"
    return unescape(found.group(1)).lstrip("\n")


def base_version(html: str) -> int:
    return int(re.search(r'name="base_version" value="(\d+)"', html).group(1))


def post_state(client: Client, session: WorkflowSession, text: str, version: int, **extra: Any) -> Any:
    data = {"name": session.name, "state": text, "base_version": version, "_continue": "1", **extra}
    return client.post(change_url(session), data)


@pytest.fixture
def session() -> WorkflowSession:
    run_commit("s1", lambda state: state.update(blog_posts=posts("A", "B"), tone="dry"))
    return WorkflowSession.objects.get(session_id="s1")


@pytest.fixture
def admin_client(client: Client, django_user_model: type[AbstractUser]) -> Client:
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    return client


def role_client(django_user_model: type[AbstractUser], role: str) -> Client:
    call_command("create_roles")
    user = django_user_model.objects.create_user(f"{role}-staff", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


# -- editing the state as JSON ---------------------------------------------------------------------------


def test_the_state_is_pretty_printed_with_its_version(admin_client: Client, session: WorkflowSession) -> None:
    html = admin_client.get(change_url(session)).content.decode()

    assert json.loads(textarea(html)) == stored(session)
    assert '\n  "tone": "dry"' in textarea(html)
    assert base_version(html) == 1
    assert "State history" in html


def test_saving_good_json_records_an_edit_with_an_undo_link(
    admin_client: Client, session: WorkflowSession
) -> None:
    html = admin_client.get(change_url(session)).content.decode()
    edited = json.loads(textarea(html)) | {"tone": "warm"}

    response = post_state(admin_client, session, json.dumps(edited), base_version(html))

    assert response.status_code == 302
    assert stored(session) == edited
    change = StateChange.objects.get(session=session, version=2)
    assert (change.source, change.actor.username) == ("edit", "root")
    page = admin_client.get(response["Location"]).content.decode()
    assert "State saved as version 2" in page
    assert f'href="{state_url(session, "undo", 2)}">Undo</a>' in page


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"tone": "warm",}', "This is not valid JSON"),
        ('["a list"]', "must be a JSON object"),
        ("null", "must be a JSON object"),
        ('{"x": NaN}', "not valid JSON"),
        (
            '{"tone": "half \\ud800 a pair"}',
            "session_state['tone']: the text holds a lone surrogate (U+D800)",
        ),
        ('{"k\\udfff": 1}', "the text holds a lone surrogate (U+DFFF)"),
        ('{"deep": ' + "[" * 70 + "]" * 70 + "}", "containers are nested more than 64 levels deep"),
        ('{"n": ' + "9" * 5000 + "}", "This is not valid JSON: Exceeds the limit (4300 digits)"),
    ],
)
def test_bad_json_is_refused_above_the_field_and_the_text_is_kept(
    admin_client: Client, session: WorkflowSession, text: str, message: str
) -> None:
    response = post_state(admin_client, session, text, 1)

    html = response.content.decode()
    assert response.status_code == 200
    assert message in unescape(html)
    assert html.index("errorlist") < html.index('<textarea name="state"')
    assert textarea(html) == text
    assert WorkflowSession.objects.get(pk=session.pk).version == 1


def test_a_stale_save_shows_what_changed_and_keeps_the_text(
    admin_client: Client, session: WorkflowSession
) -> None:
    opened = admin_client.get(change_url(session)).content.decode()
    run_commit("s1", lambda state: state["blog_posts"].append(posts("C")[0]))
    mine = json.loads(textarea(opened)) | {"tone": "warm"}

    response = post_state(admin_client, session, json.dumps(mine, indent=2), base_version(opened))

    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert "The state changed after you opened this page" in html
    assert "you started from version 1, it is now version 2" in html
    assert "blog_posts[2]" in html
    assert '"topic": "C"' in html
    assert json.loads(textarea(html)) == mine
    assert stored(session)["tone"] == "dry"
    assert 'name="seen_version" value="2"' in html
    assert 'value="merge"' in html
    assert "checked" in html


def test_a_stale_save_applied_on_top_keeps_both_writes(
    admin_client: Client, session: WorkflowSession
) -> None:
    opened = admin_client.get(change_url(session)).content.decode()
    run_commit("s1", lambda state: state["blog_posts"].append(posts("C")[0]))
    mine = json.loads(textarea(opened)) | {"tone": "warm"}

    response = post_state(admin_client, session, json.dumps(mine), 1, resolve="merge", seen_version=2)

    assert response.status_code == 302
    state = stored(session)
    assert [p["topic"] for p in state["blog_posts"]] == ["A", "B", "C"]
    assert state["tone"] == "warm"


def test_a_true_conflict_is_listed_per_key_and_replace_resolves_it(
    admin_client: Client, session: WorkflowSession
) -> None:
    run_commit("s1", lambda state: state.update(tone="theirs"))
    mine = {"blog_posts": posts("A", "B"), "tone": "mine"}

    response = post_state(admin_client, session, json.dumps(mine), 1, resolve="merge", seen_version=2)

    html = unescape(response.content.decode())
    assert "Your edit and the newer changes both changed tone" in html
    assert re.search(
        r'<code class="state-path">tone</code></td><td><code class="diff-value">"dry"</code></td><td><code class="diff-value">"theirs"',
        html,
    )
    assert stored(session)["tone"] == "theirs"

    response = post_state(admin_client, session, json.dumps(mine), 1, resolve="replace", seen_version=2)

    assert response.status_code == 302
    assert stored(session)["tone"] == "mine"
    assert WorkflowSession.objects.get(pk=session.pk).version == 3


def test_replace_over_a_version_not_reviewed_is_refused_again(
    admin_client: Client, session: WorkflowSession
) -> None:
    run_commit("s1", lambda state: state.update(tone="2"))
    run_commit("s1", lambda state: state.update(tone="3"))

    response = post_state(admin_client, session, '{"tone": "mine"}', 1, resolve="replace", seen_version=2)

    assert "the latest is version 3" in unescape(response.content.decode())
    assert stored(session)["tone"] == "3"


def test_renaming_does_not_touch_the_state_and_records_nothing(
    admin_client: Client, session: WorkflowSession
) -> None:
    html = admin_client.get(change_url(session)).content.decode()
    session.name = "Renamed"

    post_state(admin_client, session, textarea(html), 1)

    assert WorkflowSession.objects.get(pk=session.pk).name == "Renamed"
    assert StateChange.objects.filter(session=session).count() == 1


# -- clear, delete, history, restore -------------------------------------------------------------------------


def test_delete_one_entry_asks_first_then_is_undone_from_history(
    admin_client: Client, session: WorkflowSession
) -> None:
    page = admin_client.get(change_url(session)).content.decode()
    delete_link = unescape(re.search(r'href="([^"]+)" aria-label="Delete blog_posts\[0\]"', page).group(1))

    confirm = admin_client.get(delete_link)
    assert confirm.status_code == 200
    assert "Delete blog_posts[0]" in confirm.content.decode()
    assert len(stored(session)["blog_posts"]) == 2

    done = admin_client.post(delete_link, {"base_version": 1, "path": '["blog_posts", 0]'})
    assert done.status_code == 302
    assert [p["topic"] for p in stored(session)["blog_posts"]] == ["B"]

    history = admin_client.get(state_url(session, "history")).content.decode()
    assert "Version 2 · Clear" in history
    assert "by root" in history
    assert admin_client.post(state_url(session, "restore", 1), {"base_version": 2}).status_code == 302
    assert [p["topic"] for p in stored(session)["blog_posts"]] == ["A", "B"]
    assert StateChange.objects.get(session=session, version=3).source == "restore"


def test_clear_a_cache_and_the_whole_state(admin_client: Client, session: WorkflowSession) -> None:
    url = state_url(session, "clear")
    assert "Clear blog_posts" in admin_client.get(url, {"path": '["blog_posts"]'}).content.decode()

    admin_client.post(url, {"base_version": 1, "path": '["blog_posts"]'})
    assert stored(session) == {"blog_posts": [], "tone": "dry"}
    admin_client.post(url, {"base_version": 2, "path": ""})
    assert stored(session) == {}


def test_a_stale_confirmation_changes_nothing_and_asks_again(
    admin_client: Client, session: WorkflowSession
) -> None:
    run_commit("s1", lambda state: state.update(tone="new"))

    response = admin_client.post(state_url(session, "clear"), {"base_version": 1, "path": ""})

    assert response.status_code == 409
    assert "version 1 → 2" in unescape(response.content.decode())
    assert 'name="base_version" value="2"' in response.content.decode()
    assert stored(session)["tone"] == "new"


def test_diff_between_any_two_versions(admin_client: Client, session: WorkflowSession) -> None:
    run_commit("s1", lambda state: state.update(tone="warm"))

    html = unescape(admin_client.get(state_url(session, "diff"), {"before": 1, "after": 2}).content.decode())
    assert '<code class="state-path">tone</code>' in html
    assert '"dry"' in html
    assert '"warm"' in html
    missing = admin_client.get(state_url(session, "diff"), {"before": 7, "after": 2})
    assert missing.status_code == 404


def test_state_content_is_escaped_on_every_page(admin_client: Client) -> None:
    run_commit(XSS, lambda state: state.update({XSS: XSS, "blog_posts": [{"topic": XSS, "blog_post": XSS}]}))
    session = WorkflowSession.objects.get(session_id=XSS)
    admin_client.post(state_url(session, "delete"), {"base_version": 1, "path": json.dumps([XSS])})
    pages = [
        change_url(session),
        state_url(session, "history"),
        state_url(session, "diff") + "?before=1&after=2",
        state_url(session, "delete") + "?" + f"path={json.dumps(['blog_posts', 0])}",
        state_url(session, "restore", 1),
        reverse("admin:sessions_app_workflowsession_changelist"),
        reverse("admin:sessions_app_statechange_changelist"),
        reverse(
            "admin:sessions_app_statechange_change",
            args=[StateChange.objects.get(session=session, version=2).pk],
        ),
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert XSS not in response.content.decode(), url


# -- roles ---------------------------------------------------------------------------------------------------


def test_a_viewer_sees_the_state_read_only_and_is_refused_changes(
    django_user_model: type[AbstractUser], session: WorkflowSession
) -> None:
    client = role_client(django_user_model, "viewer")

    html = client.get(change_url(session)).content.decode()
    assert '<textarea name="state"' not in html
    assert "&quot;tone&quot;: &quot;dry&quot;" in html
    assert "Delete…" not in html
    assert client.get(state_url(session, "history")).status_code == 200
    assert post_state(client, session, "{}", 1).status_code == 403
    for name, data in [("clear", {"base_version": 1}), ("delete", {"base_version": 1, "path": '["tone"]'})]:
        assert client.get(state_url(session, name)).status_code == 403
        assert client.post(state_url(session, name), data).status_code == 403
    assert client.post(state_url(session, "restore", 1), {"base_version": 1}).status_code == 403
    assert client.get(reverse("admin:sessions_app_workflowsession_import")).status_code == 403
    assert WorkflowSession.objects.get(pk=session.pk).version == 1


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_editors_and_admins_may_edit(
    django_user_model: type[AbstractUser], session: WorkflowSession, role: str
) -> None:
    client = role_client(django_user_model, role)

    assert post_state(client, session, '{"tone": "x"}', 1).status_code == 302
    assert stored(session) == {"tone": "x"}


def test_admin_pages_need_staff(
    client: Client, django_user_model: type[AbstractUser], session: WorkflowSession
) -> None:
    client.force_login(django_user_model.objects.create_user("nostaff", password="x"))

    response = client.get(state_url(session, "history"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# -- runs, events, changes ------------------------------------------------------------------------------------


def test_the_run_admin_is_read_only_and_links_to_the_run_page(
    admin_client: Client, session: WorkflowSession
) -> None:
    run = WorkflowRun.objects.get(session=session)
    run.inputs, run.error = {"topic": XSS}, "Boom <b>bad</b>"
    run.save()
    RunEvent.objects.create(run=run, seq=1, event="RunStarted", content=XSS)

    html = admin_client.get(reverse("admin:sessions_app_workflowrun_change", args=[run.pk])).content.decode()

    assert f'href="/runs/{run.run_id}/"' in html
    assert "Succeeded" in html
    assert "Boom &lt;b&gt;bad&lt;/b&gt;" in html
    assert "&quot;topic&quot;" in html
    assert XSS not in html
    assert "Started at" in html
    assert "Finished at" in html
    assert 'name="_save"' not in html
    assert admin_client.get(reverse("admin:sessions_app_workflowrun_add")).status_code == 403
    event_url = reverse("admin:sessions_app_runevent_change", args=[RunEvent.objects.get().pk])
    assert XSS not in admin_client.get(event_url).content.decode()
    assert (
        admin_client.get(
            reverse("admin:sessions_app_runevent_delete", args=[RunEvent.objects.get().pk])
        ).status_code
        == 403
    )


def test_the_change_admin_shows_who_and_the_diff(admin_client: Client, session: WorkflowSession) -> None:
    change = StateChange.objects.get(session=session)

    html = admin_client.get(
        reverse("admin:sessions_app_statechange_change", args=[change.pk])
    ).content.decode()

    assert f"run {change.run.run_id}" in html
    assert '<code class="state-path">blog_posts<wbr>[+]</code>' in html
    assert (
        admin_client.get(reverse("admin:sessions_app_statechange_delete", args=[change.pk])).status_code
        == 403
    )


# -- export and import ------------------------------------------------------------------------------------


def test_export_from_the_change_page_and_the_action(admin_client: Client, session: WorkflowSession) -> None:
    response = admin_client.get(state_url(session, "export"))

    assert response["Content-Disposition"] == 'attachment; filename="session-s1.json"'
    assert json.loads(response.content)["state"] == stored(session)
    action = admin_client.post(
        reverse("admin:sessions_app_workflowsession_changelist"),
        {"action": "export_json", "_selected_action": [session.pk]},
    )
    assert json.loads(action.content)["session"]["session_id"] == "s1"


def test_import_from_the_changelist(admin_client: Client, session: WorkflowSession) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = json.loads(admin_client.get(state_url(session, "export")).content)
    data["session"]["session_id"] = "copy"
    upload = SimpleUploadedFile("copy.json", json.dumps(data).encode(), "application/json")
    url = reverse("admin:sessions_app_workflowsession_import")

    assert (
        "Import a session file"
        in admin_client.get(reverse("admin:sessions_app_workflowsession_changelist")).content.decode()
    )
    response = admin_client.post(url, {"file": upload})

    copy = WorkflowSession.objects.get(session_id="copy")
    assert response["Location"] == change_url(copy)
    assert stored(copy) == stored(session)
    bad = admin_client.post(url, {"file": SimpleUploadedFile("x.json", b"{nope", "application/json")})
    assert bad.status_code == 400
    assert "The file is not valid JSON" in bad.content.decode()


def test_a_state_too_large_for_the_form_says_so(
    admin_client: Client, session: WorkflowSession, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200

    html = admin_client.get(change_url(session)).content.decode()

    assert "near the 200\xa0bytes a form may send" in html


# -- deleting a session or a run, with everything that goes with it ---------------------------------------


@pytest.fixture
def history_session(session: WorkflowSession) -> WorkflowSession:
    """The session with more history: a second change, and events on its run."""
    run_commit("s1", lambda state: state.update(tone="warm"))
    run = WorkflowRun.objects.filter(session=session).first()
    RunEvent.objects.bulk_create(
        RunEvent(run=run, seq=seq, event="RunResponse", content="x") for seq in (1, 2)
    )
    return session


def admin_clients(django_user_model: type[AbstractUser]) -> list[Client]:
    root = Client()
    root.force_login(django_user_model.objects.create_superuser("root2", password="x"))
    return [root, role_client(django_user_model, "admin")]


@pytest.mark.parametrize("who", ["superuser", "admin role"])
def test_an_admin_deletes_a_session_with_its_history_after_seeing_the_cascade(
    django_user_model: type[AbstractUser], history_session: WorkflowSession, who: str
) -> None:
    client = admin_clients(django_user_model)[0 if who == "superuser" else 1]
    url = reverse("admin:sessions_app_workflowsession_delete", args=[history_session.pk])

    page = unescape(client.get(url).content.decode())

    assert "permission to delete" not in page
    assert "Are you sure you want to delete" in page
    for count in ("Workflow runs: 2", "Run events: 2", "State changes: 2", "State entrys: 2"):
        assert count in page, count
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not WorkflowSession.objects.exists()
    assert not WorkflowRun.objects.exists()
    assert not RunEvent.objects.exists()
    assert not StateChange.objects.exists()


def test_an_admin_deletes_selected_sessions_with_their_history(
    django_user_model: type[AbstractUser], history_session: WorkflowSession
) -> None:
    client = admin_clients(django_user_model)[1]
    url = reverse("admin:sessions_app_workflowsession_changelist")
    data = {"action": "delete_selected", "_selected_action": [history_session.pk]}

    page = unescape(client.post(url, data).content.decode())

    assert "permission to delete" not in page
    assert "Run events: 2" in page
    client.post(url, {**data, "post": "yes"})
    assert not WorkflowSession.objects.exists()


@pytest.mark.parametrize("who", ["superuser", "admin role"])
def test_an_admin_deletes_a_run_with_its_events_and_the_history_keeps_the_change(
    django_user_model: type[AbstractUser], history_session: WorkflowSession, who: str
) -> None:
    client = admin_clients(django_user_model)[0 if who == "superuser" else 1]
    run = WorkflowRun.objects.filter(session=history_session, events__isnull=False).distinct().get()
    url = reverse("admin:sessions_app_workflowrun_delete", args=[run.pk])

    page = unescape(client.get(url).content.decode())

    assert "permission to delete" not in page
    assert "Run events: 2" in page
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not WorkflowRun.objects.filter(pk=run.pk).exists()
    assert not RunEvent.objects.exists()
    assert StateChange.objects.filter(session=history_session).count() == 2  # history outlives its runs


def test_an_editor_still_cannot_delete_a_session(
    django_user_model: type[AbstractUser], history_session: WorkflowSession
) -> None:
    client = role_client(django_user_model, "editor")
    url = reverse("admin:sessions_app_workflowsession_delete", args=[history_session.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert WorkflowSession.objects.exists()
