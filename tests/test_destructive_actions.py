"""Every link or button that clears, deletes or restores is marked `destructive`, on every page that has
one, dashboard and admin; the way out of a confirmation (Cancel) is not."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse

from sessions_app.models import WorkflowRun, WorkflowSession
from tests.test_services_state import posts, run_commit

pytestmark = pytest.mark.django_db

# Where a destructive action's link goes: clear, delete, restore a version over the latest, cancel a run.
DESTRUCTIVE_HREFS = ("/state/clear/", "/state/delete/", "/restore/", "/cancel/")


class Controls(HTMLParser):
    """Collect the page's links (href, classes, text) and submit buttons (classes, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, set[str], str]] = []
        self.buttons: list[tuple[set[str], str]] = []
        self._open: list[str | set[str]] | None = None
        self._tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in ("a", "button"):
            self._tag, self._open = tag, [values.get("href", ""), set(values.get("class", "").split()), ""]

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open[2] += data  # type: ignore[operator]

    def handle_endtag(self, tag: str) -> None:
        if self._open is None or tag != self._tag:
            return
        href, classes, text = self._open
        if tag == "a":
            self.links.append((str(href), set(classes), " ".join(str(text).split())))
        else:
            self.buttons.append((set(classes), " ".join(str(text).split())))
        self._open = None


def controls(html: str) -> Controls:
    parser = Controls()
    parser.feed(html)
    return parser


@pytest.fixture
def session() -> WorkflowSession:
    run_commit("s", lambda state: state.update(blog_posts=posts("A", "B"), tone="dry"))
    run_commit("s", lambda state: state.update(tone="warm"))
    return WorkflowSession.objects.get(session_id="s")


@pytest.fixture
def admin(client: Client, django_user_model: type[AbstractUser]) -> Client:
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    return client


def pages_with_actions(session: WorkflowSession) -> list[str]:
    admin_session = f"/admin/sessions_app/workflowsession/{session.pk}/"
    queued = WorkflowRun.objects.create(session=session, workflow=session.workflow, inputs={"topic": "A"})
    return [
        reverse("run_detail", args=[queued.run_id]),
        reverse("session_detail", args=["s"]),
        reverse("state_overview", args=["s"]),
        reverse("state_history", args=["s"]),
        reverse("state_diff", args=["s"]) + "?before=1&after=2",
        admin_session + "change/",
        admin_session + "state/history/",
        admin_session + "state/diff/?before=1&after=2",
    ]


def test_every_clear_delete_and_restore_link_is_marked_destructive(
    admin: Client, session: WorkflowSession
) -> None:
    found = 0
    for url in pages_with_actions(session):
        for href, classes, text in controls(admin.get(url).content.decode()).links:
            if any(part in href for part in DESTRUCTIVE_HREFS):
                found += 1
                assert "destructive" in classes, f"{url}: {text!r} ({href}) is not marked destructive"
            else:
                assert "destructive" not in classes, f"{url}: the safe {text!r} is marked destructive"
    assert found >= 10  # clear all, clear a cache, delete entries, restore and undo, on each site


def test_confirm_buttons_are_destructive_and_cancel_is_not(admin: Client, session: WorkflowSession) -> None:
    path = json.dumps(["blog_posts", 0])
    confirmations = [
        reverse("state_clear", args=["s"]),
        reverse("state_delete", args=["s"]) + f"?path={path}",
        reverse("state_restore", args=["s", 1]),
        f"/admin/sessions_app/workflowsession/{session.pk}/state/delete/?path={path}",
        f"/admin/sessions_app/workflowsession/{session.pk}/state/restore/1/",
    ]
    for url in confirmations:
        page = controls(admin.get(url).content.decode())
        confirm = [
            classes for classes, text in page.buttons if text.startswith(("Clear", "Delete", "Restore"))
        ]
        assert confirm, url
        assert all("destructive" in classes for classes in confirm), url
        cancel = [classes for href, classes, text in page.links if text == "Cancel"]
        assert cancel == [{"button", "button-secondary"}], url
