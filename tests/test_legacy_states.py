"""Sessions stored before the checks: a lone surrogate (SQLite kept it), a state nested 900 levels deep.

Every write path refuses both now (tests/state/test_store.py, tests/test_transfer.py); rows written
before stay readable. These rows are written as the old code wrote them, past the checks, and
every page that shows them must answer 200, with the surrogate shown as U+FFFD and the deep part
collapsed, and the session must stay usable (runs, and an admin deleting the deep key).
"""

from __future__ import annotations

import json
from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.db import DataError, connection, transaction
from django.test import Client
from django.urls import reverse

from sessions_app.models import StateChange, StateEntry, WorkflowSession
from sessions_app.selectors.transfer import session_export_bytes
from sessions_app.state.store import state_load
from tests.django_fixtures import stored_state
from tests.test_services_state import run_commit
from tests.workflow.conftest import Cacher

pytestmark = pytest.mark.django_db

LEVELS = 900


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"k": value}
    return value


def store_as_before(
    session_id: str, plain: dict[str, Any], entry: Any, change_ops: list[Any]
) -> WorkflowSession:
    """Write rows past today's checks: a plain key, one more cached entry, and a change recording them."""
    run_commit(
        session_id, lambda state: state.update(tone="dry", blog_posts=[{"topic": "t", "blog_post": "p"}])
    )
    session = WorkflowSession.objects.get(session_id=session_id)
    # BlogPostGenerator declares the blog_posts cache, so its entries have cache pages.
    WorkflowSession.objects.filter(pk=session.pk).update(
        session_state=plain, version=2, workflow="BlogPostGenerator"
    )
    StateEntry.objects.create(session=session, key="blog_posts", position=1, value=entry, lookup_key="t2")
    WorkflowSession.objects.filter(pk=session.pk).update(cache_entries=2)
    StateChange.objects.create(
        session=session, version=2, source="edit", ops=change_ops, summary="old import"
    )
    return WorkflowSession.objects.get(pk=session.pk)


def pages(session: WorkflowSession) -> list[str]:
    sid = session.session_id
    entry = StateEntry.objects.get(session=session, position=1)
    change = StateChange.objects.get(session=session, version=2)
    return [
        reverse("session_detail", args=[sid]),
        reverse("session_entry", args=[sid, entry.pk]),
        reverse("state_overview", args=[sid]),
        reverse("state_history", args=[sid]),
        reverse("state_diff", args=[sid]) + "?before=1&after=2",
        reverse("state_diff", args=[sid]) + "?before=2&after=1",
        reverse("state_delete", args=[sid]) + "?path=" + json.dumps(["tone"]),
        reverse("state_clear", args=[sid]),
        reverse("state_restore", args=[sid, 1]),
        reverse("state_export", args=[sid]),
        reverse("admin:sessions_app_workflowsession_change", args=[session.pk]),
        reverse("admin:sessions_app_workflowsession_state_history", args=[session.pk]),
        reverse("admin:sessions_app_statechange_change", args=[change.pk]),
        reverse("admin:sessions_app_statechange_changelist"),
        reverse("admin:sessions_app_workflowsession_changelist") + "?q=" + sid,
        reverse("session_list") + "?q=t2",
    ]


@pytest.fixture
def root(client: Client, django_user_model: type[AbstractUser]) -> Client:
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    return client


@pytest.fixture
def surrogate_session() -> WorkflowSession | None:
    plain = {"tone": "a\ud800b", "k\udfff": 1}
    # Not in the topic: the old code could not store that (its lookup column is text, not JSON).
    entry = {"topic": "t2", "blog_post": "# Post\n\nx\ud800y", "note": "\udc80"}
    ops = [["set", ["tone"], "a\ud800b", "dry"], ["append", ["blog_posts"], [entry]]]
    if connection.vendor == "postgresql":
        # jsonb never held one: PostgreSQL refuses the text, so no such row can exist there.
        run_commit("s", lambda state: state.update(tone="dry"))
        with pytest.raises(DataError), transaction.atomic():
            WorkflowSession.objects.filter(session_id="s").update(session_state=plain)
        return None
    return store_as_before("s", plain, entry, ops)


@pytest.fixture
def deep_session() -> WorkflowSession:
    deep = nested(LEVELS)
    entry = {"topic": "t2", "blog_post": "p", "extra": deep}
    return store_as_before("deep", {"tone": deep}, entry, [["set", ["tone"], deep, "dry"]])


def test_a_session_holding_a_lone_surrogate_renders_everywhere(
    root: Client, surrogate_session: WorkflowSession | None
) -> None:
    if surrogate_session is None:
        return
    for url in pages(surrogate_session):
        response = root.get(url, follow=True)
        assert response.status_code == 200, url
        assert "\ud800" not in response.content.decode(), url
    page = unescape(root.get(reverse("state_overview", args=["s"])).content.decode())
    assert "a\ufffdb" in page
    assert json.loads(session_export_bytes(session=surrogate_session))["state"]["tone"] == "a\ufffdb"


def test_a_session_holding_a_lone_surrogate_still_runs(surrogate_session: WorkflowSession | None) -> None:
    if surrogate_session is None:
        return
    from sessions_app.state.storage import DjangoWorkflowStorage

    list(Cacher(session_id="s", storage=DjangoWorkflowStorage()).run(topic="new"))

    state = stored_state("s")
    assert state["tone"] == "a\ufffdb"
    assert [post["topic"] for post in state["blog_posts"]] == ["t", "t2", "new"]
    assert state["blog_posts"][1]["note"] == "\ufffd"


def test_a_state_nested_900_levels_renders_everywhere(root: Client, deep_session: WorkflowSession) -> None:
    for url in pages(deep_session):
        response = root.get(url, follow=True)
        assert response.status_code == 200, url
    page = unescape(root.get(reverse("session_detail", args=["deep"])).content.decode())
    assert "nested deeper than 64 levels: not shown" in page
    exported = json.loads(session_export_bytes(session=deep_session))
    assert exported["state"]["tone"] == nested(LEVELS)  # the file keeps it whole


def test_an_admin_can_delete_the_deep_key_and_the_change_can_be_shown(
    root: Client, deep_session: WorkflowSession
) -> None:
    url = reverse("state_delete", args=["deep"])
    response = root.post(url, {"base_version": 2, "path": json.dumps(["tone"])})

    assert response.status_code == 302
    assert "tone" not in state_load(WorkflowSession.objects.get(session_id="deep"))
    change = StateChange.objects.get(session=deep_session, version=3)
    assert root.get(reverse("admin:sessions_app_statechange_change", args=[change.pk])).status_code == 200


def test_the_json_editor_shows_a_deep_state_whole_and_refuses_it_until_flatter(
    root: Client, deep_session: WorkflowSession
) -> None:
    url = reverse("admin:sessions_app_workflowsession_change", args=[deep_session.pk])
    page = root.get(url).content.decode()
    assert unescape(page).count('{"k": ') >= LEVELS  # compact, but every level is there to edit

    text = json.dumps({"tone": nested(LEVELS)})
    refused = root.post(url, {"name": "", "state": text, "base_version": 2, "_continue": "1"})
    assert "more than 64 levels deep" in unescape(refused.content.decode())
    far_too_deep = "[" * 100_000 + "]" * 100_000
    refused = root.post(url, {"name": "", "state": far_too_deep, "base_version": 2, "_continue": "1"})
    assert "nests far deeper than the 64 levels" in unescape(refused.content.decode())
    assert WorkflowSession.objects.get(pk=deep_session.pk).version == 2
