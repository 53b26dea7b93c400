"""Cached entries through the API: caches, entries (key, size, age, hits, staleness), one entry, delete and undo."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app.models import WorkflowSession
from sessions_app.services.runs import run_start
from tests.api.conftest import error_of
from tests.django_fixtures import stored_state

pytestmark = pytest.mark.django_db


def test_the_caches_the_workflow_declares_with_their_counts(editor: Client, blog: WorkflowSession) -> None:
    response = editor.get(reverse("api:cache_list", args=["blog"]))

    assert response.status_code == 200
    [cache] = response.json()
    assert (cache["name"], cache["shape"], cache["entries"]) == ("blog_posts", "list", 2)
    assert cache["entries_url"] == reverse("api:cache_entries", args=["blog", "blog_posts"])


def test_entries_list_key_size_age_hits_and_staleness(
    editor: Client, blog: WorkflowSession, settings: Any
) -> None:
    run_start(session=blog, inputs={"topic": "ai agents "}, user=None)  # a hit

    response = editor.get(reverse("api:cache_entries", args=["blog", "blog_posts"]))

    assert response.status_code == 200
    page = response.json()
    assert (page["total"], page["page"], page["pages"]) == (2, 1, 1)
    by_key = {item["key"]: item for item in page["items"]}
    assert set(by_key) == {"ai agents", "caching"}
    agents = by_key["ai agents"]
    assert agents["display_key"] == "AI agents"
    assert agents["hits"] == 1
    assert agents["size"] > 0
    assert agents["age_seconds"] >= 0
    assert agents["stale"] is False
    assert agents["url"] == reverse("api:cache_entry_get", args=["blog", "blog_posts", "ai agents"])


def test_one_entry_with_its_value(editor: Client, blog: WorkflowSession) -> None:
    response = editor.get(reverse("api:cache_entry_get", args=["blog", "blog_posts", "caching"]))

    assert response.status_code == 200
    assert response.json()["value"] == "# Caching\n\nText."
    assert response.json()["record"] == {"topic": "Caching", "blog_post": "# Caching\n\nText."}


def test_unknown_caches_keys_and_pages_are_404(editor: Client, blog: WorkflowSession) -> None:
    for url in (
        reverse("api:cache_entries", args=["blog", "nope"]),
        reverse("api:cache_entry_get", args=["blog", "blog_posts", "never cached"]),
        reverse("api:cache_entry_get", args=["blog", "nope", "caching"]),
        reverse("api:cache_entries", args=["blog", "blog_posts"]) + "?page=9",
    ):
        response = editor.get(url)
        assert response.status_code == 404, url
        assert error_of(response)["code"] == "not_found"


def test_delete_an_entry_then_undo_it_through_history(editor: Client, blog: WorkflowSession) -> None:
    url = reverse("api:cache_entry_get", args=["blog", "blog_posts", "caching"])

    deleted = editor.delete(url)

    assert deleted.status_code == 200
    assert deleted.json()["change"]["summary"].startswith("Deleted")
    assert [p["topic"] for p in stored_state("blog")["blog_posts"]] == ["AI agents"]
    assert editor.get(url).status_code == 404
    undone = editor.post(deleted.json()["undo_url"], headers={"If-Match": deleted["ETag"]})
    assert undone.status_code == 200
    assert [p["topic"] for p in stored_state("blog")["blog_posts"]] == ["AI agents", "Caching"]
    assert editor.get(url).status_code == 200


def test_delete_with_if_match_refuses_an_entry_changed_since(editor: Client, blog: WorkflowSession) -> None:
    state_url = reverse("api:state_get", args=["blog"])
    editor.put(
        state_url,
        {"blog_posts": [{"topic": "AI agents", "blog_post": "a"}, {"topic": "Caching", "blog_post": "new"}]},
        content_type="application/json",
        headers={"If-Match": '"0"'},
    )
    url = reverse("api:cache_entry_get", args=["blog", "blog_posts", "caching"])

    refused = editor.delete(url, headers={"If-Match": '"0"'})

    assert refused.status_code == 412
    assert refused["ETag"] == '"1"'
    assert len(stored_state("blog")["blog_posts"]) == 2
    assert editor.delete(url, headers={"If-Match": '"1"'}).status_code == 200
