"""The session list page and `GET /api/v1/sessions` search by id, name, key and cached text, and show what matched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app.models import WorkflowSession
from sessions_app.registry import workflow_caches
from sessions_app.state.store import state_replace
from tests.api.conftest import api, editor, tokens
from tests.test_selectors_search import HOSTILE
from tests.xss_payloads import PAYLOADS

__all__ = ["api", "editor", "tokens"]

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("x")</script>'


def make(session_id: str, *entries: tuple[str, str], name: str = "") -> WorkflowSession:
    session = WorkflowSession.objects.create(session_id=session_id, workflow="BlogPostGenerator", name=name)
    state_replace(session, {"blog_posts": [{"topic": key, "blog_post": text} for key, text in entries]})
    session.save()
    return session


@pytest.fixture
def viewer(client: Client, django_user_model: Any) -> Client:
    from tests.django_fixtures import user_with_role

    client.force_login(user_with_role(django_user_model, "viewer-person", "viewer"))
    return client


def page(client: Client, **params: str) -> str:
    response = client.get(reverse("session_list"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_searches_cached_text_and_shows_the_entry_with_the_words_marked(viewer: Client) -> None:
    make("one", ("AI agents", "Agents keep a memory of tools."), ("Other", "Nothing."))
    make("two", ("Databases", "Rows and pages."))
    name = workflow_caches("BlogPostGenerator")["blog_posts"].name_of("AI agents")

    html = page(viewer, text="memory")

    assert 'name="text" value="memory"' in html
    assert "1 session matching" not in html
    assert "1 session with “memory” in a cached entry" in html
    assert 'href="/sessions/one/"' in html
    assert 'href="/sessions/two/"' not in html
    assert name.replace("'", "&#x27;") in html
    assert "keep a <mark>memory</mark> of tools." in html


def test_the_partial_answers_htmx_with_the_results_only(viewer: Client) -> None:
    make("one", ("AI agents", "Agents keep a memory."))

    response = viewer.get(reverse("session_list"), {"text": "memory"}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="session-results"')
    assert "<mark>memory</mark>" in html


@pytest.mark.parametrize("payload", PAYLOADS[:6])
def test_matched_text_and_keys_are_escaped(viewer: Client, payload: str) -> None:
    make("x", (f"key {payload}", f"findme {payload} {SCRIPT} findme"))

    html = page(viewer, text="findme")

    assert SCRIPT not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert html.count("<mark>") == 2
    assert "<mark>findme</mark>" in html


def test_the_page_search_by_id_name_and_key(viewer: Client) -> None:
    make("alpha-1", ("Rust ownership", "Text."), name="Marketing")
    make("beta", ("Gardens", "Text."))

    assert "alpha-1" in page(viewer, q="PHA-1")
    assert "beta" not in page(viewer, q="PHA-1")
    assert "alpha-1" in page(viewer, q="marketing")
    assert "beta" in page(viewer, q="gard")
    assert "alpha-1" not in page(viewer, q="gard")


@pytest.mark.parametrize("query", HOSTILE[::3], ids=range(len(HOSTILE[::3])))
def test_hostile_queries_answer_200_on_the_page_and_the_api(
    viewer: Client, editor: Client, query: str
) -> None:
    make("s", ("Topic", "Some words."))
    query = query.replace("\x00", "").encode("utf-8", "replace").decode()  # what a URL can carry

    assert viewer.get(reverse("session_list"), {"q": query, "text": query}).status_code == 200
    response = editor.get("/api/v1/sessions", {"q": query, "text": query})
    assert response.status_code == 200, response.content


def test_the_api_lists_text_matches_with_their_excerpt(editor: Client) -> None:
    make("one", ("AI agents", "Agents keep a memory of tools."), ("Memory", "Memories fade."))
    make("two", ("Databases", "Rows."))

    body = editor.get("/api/v1/sessions", {"text": "memor"}).json()

    [item] = body["items"]
    assert item["session_id"] == "one"
    assert item["matched_entries"] == 2
    first, second = item["matches"]
    cache = workflow_caches("BlogPostGenerator")["blog_posts"]
    assert (first["name"], first["cache"], first["position"]) == (cache.name_of("AI agents"), "blog_posts", 0)
    assert [p["text"] for p in first["excerpt"] if p["hit"]] == ["memory"]
    assert "".join(p["text"] for p in first["excerpt"]) == "Agents keep a memory of tools."
    # The excerpt is from the cached value (the post), where people look, though the key matched too.
    assert [p["text"] for p in second["excerpt"] if p["hit"]] == ["Memories"]


def test_the_api_search_without_text_has_no_matches(editor: Client) -> None:
    make("alpha", ("Rust", "Text."), name="Marketing")
    make("beta", ("Gardens", "Text."))

    body = editor.get("/api/v1/sessions", {"q": "garde"}).json()

    assert [(i["session_id"], i["matches"], i["matched_entries"]) for i in body["items"]] == [("beta", [], 0)]
    assert [i["session_id"] for i in editor.get("/api/v1/sessions", {"q": "arketin"}).json()["items"]] == [
        "alpha"
    ]


def test_the_api_pages_a_text_search_with_its_cursor(editor: Client) -> None:
    for number in range(5):
        make(f"s{number}", (f"Topic {number}", "Shared words."))

    seen: list[str] = []
    params: dict[str, Any] = {"text": "shared", "limit": 2}
    while True:
        body = editor.get("/api/v1/sessions", params).json()
        seen += [item["session_id"] for item in body["items"]]
        assert all(item["matched_entries"] == 1 for item in body["items"])
        if not body["next_cursor"]:
            break
        params["cursor"] = body["next_cursor"]

    assert sorted(seen) == [f"s{n}" for n in range(5)]


def test_the_openapi_schema_describes_text_and_matches(
    editor: Client, api: Callable[[str | None], Client]
) -> None:
    schema = Client().get("/api/v1/openapi.json").json()

    parameters = {p["name"] for p in schema["paths"]["/api/v1/sessions"]["get"]["parameters"]}
    assert {"q", "text"} <= parameters
    assert "matches" in schema["components"]["schemas"]["SessionListItemOut"]["properties"]
