from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from sessions_app.models import CacheEntryStats, StateEntry, WorkflowRun, WorkflowSession
from sessions_app.state.store import state_replace
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db

ODD_IDS = ["a b/c?d#e%20ü 😀", "..", ".", "x/runs", "100%", "a\\b", "/lead/ing/", "q?x=1&y=2"]
XSS = '"><svg onload=alert(1)><script>alert(1)</script><img src=x onerror=alert(1)>'


def make(session_id: str = "s1", state: dict[str, Any] | None = None, **fields: Any) -> WorkflowSession:
    fields.setdefault("workflow", "BlogPostGenerator")
    session = WorkflowSession.objects.create(session_id=session_id, **fields)
    state_replace(session, state or {})
    return session


def posts(*topics: str) -> dict[str, Any]:
    return {"blog_posts": [{"topic": topic, "blog_post": f"# {topic}\n\nText."} for topic in topics]}


def assert_no_markup(html: str, payload: str = XSS) -> None:
    assert payload not in html
    # The site draws its own charts as SVG; a payload's would carry its handler.
    assert "<svg onload" not in html.lower()
    assert "<img" not in html
    assert "<script>alert" not in html


@pytest.fixture
def user_client(client: Client, django_user_model: type[AbstractUser]) -> Client:
    client.force_login(user_with_role(django_user_model, "viewer", "runner"))
    return client


# -- login and 404s ------------------------------------------------------------------------------------


def test_every_page_needs_a_login(client: Client) -> None:
    session = make(state=posts("A"))
    entry = StateEntry.objects.get(session=session)
    run = WorkflowRun.objects.create(session=session, workflow=session.workflow)
    pages = [
        ("get", reverse("session_list")),
        ("post", reverse("session_list")),
        ("get", reverse("session_detail", args=[session.session_id])),
        ("get", reverse("session_cache_check", args=[session.session_id]) + "?topic=A"),
        ("get", reverse("session_entry", args=[session.session_id, entry.pk])),
        ("post", reverse("run_create", args=[session.session_id])),
        ("get", reverse("run_detail", args=[run.run_id])),
    ]
    for method, url in pages:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next="), url

    assert client.get(reverse("run_events", args=[run.run_id])).status_code == 403
    assert client.get("/").status_code == 302


def test_root_redirects_to_the_list(user_client: Client) -> None:
    response = user_client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/sessions/"


def test_unknown_ids_are_404(user_client: Client) -> None:
    session = make(state=posts("A"))
    other = make("other", state=posts("B"))
    foreign_entry = StateEntry.objects.get(session=other)

    assert user_client.get(reverse("session_detail", args=["nope"])).status_code == 404
    assert user_client.get(reverse("session_cache_check", args=["nope"])).status_code == 404
    assert user_client.post(reverse("run_create", args=["nope"]), {"topic": "x"}).status_code == 404
    assert user_client.get(reverse("session_entry", args=[session.session_id, 999999])).status_code == 404
    assert (
        user_client.get(reverse("session_entry", args=[session.session_id, foreign_entry.pk])).status_code
        == 404
    )
    assert user_client.get(reverse("run_detail", args=[uuid.uuid4()])).status_code == 404
    assert user_client.get("/runs/not-a-uuid/").status_code == 404


@pytest.mark.parametrize("session_id", ODD_IDS)
def test_any_session_id_reaches_its_page(user_client: Client, session_id: str) -> None:
    make(session_id, name="odd")
    url = reverse("session_detail", args=[session_id])

    assert url.startswith("/sessions/")
    assert url.endswith("/")
    assert url.count("/") == 3, "the id is one path segment"
    assert "#" not in url
    assert "?" not in url
    assert " " not in url
    response = user_client.get(url)
    assert response.status_code == 200
    assert response.context["session"].session_id == session_id
    listing = user_client.get(reverse("session_list")).content.decode()
    assert f'href="{escape(url)}"' in listing


# -- list ------------------------------------------------------------------------------------------------


def test_list_shows_the_columns(user_client: Client) -> None:
    session = make("s1", posts("A", "B"), name="My session")
    WorkflowSession.objects.filter(pk=session.pk).update(run_count=3, last_run_status="succeeded")

    html = user_client.get(reverse("session_list")).content.decode()

    row = re.search(r"<tr[^>]*>\s*<td><a href=\"/sessions/s1/\".*?</tr>", html, re.S).group(0)
    assert "My session" in row
    assert "BlogPostGenerator" in row
    assert '<td class="number">3</td>' in row
    assert '<td class="number">2</td>' in row
    assert 'badge-succeeded">succeeded' in row
    assert "bytes" in row
    assert "just now" in row


def test_list_query_never_loads_the_state(user_client: Client) -> None:
    for number in range(3):
        make(f"s{number}", posts("topic"))

    with CaptureQueriesContext(connection) as queries:
        response = user_client.get(reverse("session_list"), {"q": "topic"})

    assert response.status_code == 200
    session_queries = [
        q["sql"] for q in queries.captured_queries if "sessions_app_workflowsession" in q["sql"]
    ]
    assert session_queries
    assert not any("session_state" in sql for sql in session_queries)


def test_search_filter_sort(user_client: Client) -> None:
    now = timezone.now()
    for session_id, workflow, age, state in [
        ("alpha", "BlogPostGenerator", 3, posts("Rust ownership")),
        ("beta", "Other", 2, {}),
        ("gamma", "BlogPostGenerator", 1, {}),
    ]:
        session = make(session_id, state, workflow=workflow)
        WorkflowSession.objects.filter(pk=session.pk).update(updated_at=now - timedelta(days=age))

    def listed(**params: str) -> list[str]:
        page = user_client.get(reverse("session_list"), params).context["page"]
        return [s.session_id for s in page.object_list]

    assert listed() == ["gamma", "beta", "alpha"]
    assert listed(sort="oldest") == ["alpha", "beta", "gamma"]
    assert listed(workflow="Other") == ["beta"]
    assert listed(q="RUST") == ["alpha"]
    assert listed(q="a", workflow="BlogPostGenerator", sort="oldest") == ["alpha", "gamma"]


def test_pagination_keeps_the_query(user_client: Client) -> None:
    WorkflowSession.objects.bulk_create(
        WorkflowSession(session_id=f"page-{n:03}", workflow="BlogPostGenerator") for n in range(120)
    )

    first = user_client.get(reverse("session_list"), {"q": "page", "sort": "oldest"})
    third = user_client.get(reverse("session_list"), {"q": "page", "sort": "oldest", "page": "3"})

    assert len(first.context["page"].object_list) == 50
    html = first.content.decode()
    assert 'href="?q=page&amp;sort=oldest&amp;page=2"' in html
    assert [s.session_id for s in third.context["page"].object_list][:1] == ["page-100"]
    assert len(third.context["page"].object_list) == 20
    assert 'href="?q=page&amp;sort=oldest&amp;page=2"' in third.content.decode()


def test_htmx_search_answers_the_table_partial(user_client: Client) -> None:
    make("alpha")

    response = user_client.get(reverse("session_list"), {"q": "alp"}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="session-results"')
    assert "<html" not in html
    assert "New session" not in html
    assert "HX-Request" in response["Vary"]
    # A history restore wants the whole page back.
    restore = user_client.get(
        reverse("session_list"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in restore.content.decode()


def test_full_page_search_form_works_without_js(user_client: Client) -> None:
    html = user_client.get(reverse("session_list"), {"q": "x"}).content.decode()

    assert '<form method="get" action="/sessions/"' in html
    assert 'hx-trigger="input changed delay:300ms, submit"' in html
    assert 'hx-push-url="true"' in html
    assert 'value="x"' in html


# -- creating sessions ---------------------------------------------------------------------------------------


def test_create_session_with_a_random_id(user_client: Client) -> None:
    response = user_client.post(reverse("session_list"), {"session_id": "", "workflow": "BlogPostGenerator"})

    session = WorkflowSession.objects.get()
    assert uuid.UUID(session.session_id)
    assert response.status_code == 302
    assert response["Location"] == reverse("session_detail", args=[session.session_id])
    assert session.user_id == "viewer"


@pytest.mark.parametrize("session_id", ODD_IDS)
def test_create_session_with_any_id(user_client: Client, session_id: str) -> None:
    response = user_client.post(
        reverse("session_list"), {"session_id": session_id, "workflow": "BlogPostGenerator", "name": "n"}
    )

    assert response.status_code == 302
    assert WorkflowSession.objects.get().session_id == session_id
    assert user_client.get(response["Location"]).status_code == 200


def test_create_session_errors(user_client: Client) -> None:
    make("taken")

    duplicate = user_client.post(
        reverse("session_list"), {"session_id": "taken", "workflow": "BlogPostGenerator"}
    )
    unknown = user_client.post(reverse("session_list"), {"session_id": "new", "workflow": "Nope"})
    htmx = user_client.post(
        reverse("session_list"),
        {"session_id": "taken", "workflow": "BlogPostGenerator", "name": "kept"},
        HTTP_HX_REQUEST="true",
    )

    assert duplicate.status_code == 422
    assert "already exists" in duplicate.content.decode()
    assert unknown.status_code == 422
    assert "Select a valid choice" in unknown.content.decode()
    assert htmx.status_code == 422
    html = htmx.content.decode()
    assert html.lstrip().startswith('<form method="post"')
    assert 'value="kept"' in html
    assert WorkflowSession.objects.count() == 1


def test_create_session_over_htmx_redirects_the_browser(user_client: Client) -> None:
    response = user_client.post(
        reverse("session_list"),
        {"session_id": "x y", "workflow": "BlogPostGenerator"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("session_detail", args=["x y"]) == "/sessions/x%20y/"


# -- detail, cache check, entries ---------------------------------------------------------------------------


def test_detail_shows_state_entries_runs_and_form(user_client: Client, django_user_model: Any) -> None:
    session = make("s1", {**posts("AI agents"), "counter": 3}, name="Named")
    starter = django_user_model.objects.create_user("starter")
    now = timezone.now()
    WorkflowRun.objects.create(
        session=session,
        workflow=session.workflow,
        inputs={"topic": "AI agents", "use_cache": True},
        status="succeeded",
        cache_hit=True,
        started_at=now - timedelta(seconds=2),
        finished_at=now,
        started_by=starter,
    )

    response = user_client.get(reverse("session_detail", args=["s1"]))

    html = response.content.decode()
    assert response.status_code == 200
    entry_url = reverse("cache_entry", args=["s1", "blog_posts", "ai agents"])
    assert entry_url == "/sessions/s1/caches/blog_posts/ai%20agents/"
    assert f'href="{entry_url}">AI agents</a>' in html
    assert '<span class="json-key">&quot;counter&quot;</span>: <span class="json-number">3</span>' in html
    assert 'badge-succeeded">succeeded' in html
    assert "2.0 s" in html
    assert "starter" in html
    assert "<td>hit</td>" in html
    assert 'name="topic"' in html
    assert 'type="checkbox" name="use_cache"' in html
    assert "checked" in html
    assert 'hx-get="/sessions/s1/cache/"' in html


def test_cache_check_says_cached_or_not(user_client: Client) -> None:
    session = make("s1", posts("AI Agents"))
    CacheEntryStats.objects.filter(session=session).update(stored_at=timezone.now() - timedelta(minutes=3))
    url = reverse("session_cache_check", args=["s1"])

    cached = user_client.get(url, {"topic": "  ai agents "}, HTTP_HX_REQUEST="true").content.decode()
    fresh = user_client.get(url, {"topic": "Rust"}, HTTP_HX_REQUEST="true").content.decode()
    empty = user_client.get(url, {"topic": ""}, HTTP_HX_REQUEST="true").content.decode()

    assert (
        "The post on &#x27;AI Agents&#x27;</a> is cached (3\xa0minutes ago) — you'll get it instantly"
        in cached
    )
    assert "Not cached yet" in fresh
    assert 'id="cache-status"' in empty
    assert "cached" not in empty.lower().replace("cache-status", "")


def test_cache_check_reads_a_dict_shaped_cache(user_client: Client) -> None:
    make("s1", {"blog_posts": {"AI agents": "# post"}})

    html = user_client.get(
        reverse("session_cache_check", args=["s1"]), {"topic": "ai agents"}
    ).content.decode()

    assert "is cached (just now) — you'll get it instantly" in html


def test_entry_page_renders_the_post_safely(user_client: Client) -> None:
    session = make(
        "s1", {"blog_posts": [{"topic": XSS, "blog_post": f"# Title\n\n{XSS}\n\n[x](javascript:alert(1))"}]}
    )
    entry = StateEntry.objects.get(session=session)

    html = user_client.get(
        reverse("cache_entry", args=["s1", "blog_posts", entry.lookup_key])
    ).content.decode()

    assert "<h1>Title</h1>" in html
    assert_no_markup(html)
    assert 'href="javascript' not in html


def test_entry_page_shows_a_cache_that_is_not_markdown_as_json(user_client: Client) -> None:
    make(
        "s1",
        {"search_results": {"AI": [{"title": XSS, "url": "https://x.invalid"}]}},
        workflow="BlogPostPipeline",
    )

    html = user_client.get(reverse("cache_entry", args=["s1", "search_results", "ai"])).content.decode()

    assert "The search results for &#x27;AI&#x27;" in html
    assert 'class="json-tree"' in html
    assert_no_markup(html)


def test_old_row_numbered_entry_links_go_to_the_key_url(user_client: Client) -> None:
    session = make("s1", posts("AI agents"))
    entry = StateEntry.objects.get(session=session)

    response = user_client.get(reverse("session_entry", args=["s1", entry.pk]))

    assert response.status_code == 302
    assert response["Location"] == "/sessions/s1/caches/blog_posts/ai%20agents/"
    assert user_client.get(reverse("session_entry", args=["s1", entry.pk + 99])).status_code == 404


def test_detail_escapes_hostile_ids_names_keys_and_values(user_client: Client) -> None:
    make(XSS, {XSS: XSS, "blog_posts": [{"topic": XSS, "blog_post": XSS}]}, name=XSS)

    detail = user_client.get(reverse("session_detail", args=[XSS])).content.decode()
    listing = user_client.get(reverse("session_list"), {"q": "svg"}).content.decode()

    assert_no_markup(detail)
    assert_no_markup(listing)
    assert "&lt;script&gt;" in detail
    assert "&lt;script&gt;" in listing


def test_detail_of_an_unregistered_workflow_says_it_cannot_run(user_client: Client) -> None:
    make("s1", workflow="Gone")

    html = user_client.get(reverse("session_detail", args=["s1"])).content.decode()

    assert "is not registered here" in html
    assert 'id="run-form"' not in html


def test_a_big_cache_is_previewed_and_its_entries_paged(user_client: Client) -> None:
    session = make("big", {**posts(*(f"topic {n:03d}" for n in range(120))), "counter": 1})
    url = reverse("session_detail", args=["big"])

    html = user_client.get(url).content.decode()
    assert "# topic 019" in html  # the tree shows the first items of the list...
    assert "# topic 020" not in html  # ...not every post
    assert "… 100 more not shown" in html
    assert "120 items" in html
    assert "Entries 1\u201350 of 120." in html
    assert html.count('href="/sessions/big/caches/blog_posts/') == 50

    second = user_client.get(url + "?cache=blog_posts&entries_page=3").content.decode()
    assert "Entries 101\u2013120 of 120." in second
    assert "topic 119" in second
    assert session.cache_entries == 120
