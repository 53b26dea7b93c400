"""The dashboard in Chromium against a real stack: sessions, a live run over SSE, the cache, XSS."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import create_session, start_run

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.browser

# Small but not zero: a post of ~650 chunks streams for a few seconds, long enough to watch it grow.
OFFLINE_DELAY = "0.01"
RUN_TIMEOUT = 60_000
XSS_ID = '"><svg onload=alert(1)>'
XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_TOPIC = "<script>alert(1)</script><img src=x onerror=alert(1)> [x](javascript:alert(1))"
TEXT_GROWING = """([after]) => {
    const text = document.querySelector('#run-text');
    const badge = document.querySelector('#run-status .badge');
    if (!text || !badge || badge.textContent.trim() !== 'running') return false;
    return text.textContent.length > after ? text.textContent.length : false;
}"""


@pytest.fixture(scope="module")
def live_stack(start_serve: Callable[..., ServeStack]) -> Iterator[ServeStack]:
    """This module's own stack, whose offline model streams slowly enough to be watched."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WFSITE_OFFLINE_DELAY", OFFLINE_DELAY)
        patch.setenv("WFSITE_MODEL_PROVIDER", "offline")
        stack = start_serve()
    yield stack
    stack.stop()


def wait_for_post(page: Page) -> None:
    expect(page.locator("#run-status .badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    expect(page.locator("#run-post h1")).to_be_visible()
    expect(page.locator("#run-text")).to_have_count(0)


def test_generate_live_then_from_the_cache(logged_in_page: Page, dialogs: list[str]) -> None:
    page = logged_in_page
    session_id = f"browser {secrets.token_hex(3)}/ü 😀?#%"
    topic = f"Streaming dashboards {secrets.token_hex(3)}"
    create_session(page, session_id, name="Live test")
    session_url = page.url

    page.get_by_label("Topic").fill(topic)
    expect(page.locator("#cache-status")).to_contain_text("Not cached yet")
    run_url = start_run(page, topic)

    # The text grows while the badge still says running: it streams, it is not shown at the end.
    grown = page.wait_for_function(TEXT_GROWING, arg=[20], timeout=RUN_TIMEOUT).json_value()
    page.wait_for_function(TEXT_GROWING, arg=[grown + 40], timeout=RUN_TIMEOUT)
    # A second tab follows the same run; a reload resumes where the page left off.
    other = page.context.new_page()
    other.goto(run_url)
    page.reload()
    wait_for_post(page)
    wait_for_post(other)
    title = page.locator("#run-post h1").inner_text()
    assert title == other.locator("#run-post h1").inner_text()
    assert page.locator("#run-post article").inner_text() == other.locator("#run-post article").inner_text()
    assert len(page.locator("#run-steps li").all()) >= 2
    other.close()

    # Same topic, other spelling: the page says it is cached, and the run answers at once.
    page.goto(session_url)
    page.get_by_label("Topic").fill(f"  {topic.upper()} ")
    expect(page.locator("#cache-status")).to_contain_text(re.compile(r"is cached .* you'll get it instantly"))
    start_run(page, f"  {topic.upper()} ")
    expect(page.locator("#run-status")).to_contain_text("Served from the cache.", timeout=2_000)
    expect(page.locator("#run-post h1")).to_have_text(title, timeout=2_000)
    expect(page.locator("[hx-sse\\:connect]")).to_have_count(0)

    page.goto(session_url)
    expect(page.locator("table").first.locator("tbody tr")).to_have_count(2)
    page.get_by_role("link", name=topic, exact=True).click()
    expect(page.locator("article.post h1")).to_have_text(title)


def test_search_updates_the_table_as_you_type(logged_in_page: Page, dialogs: list[str]) -> None:
    page = logged_in_page
    marker = secrets.token_hex(4)
    create_session(page, f"findme-{marker}", name="Searchable")
    create_session(page, f"other-{marker}")

    page.goto("/sessions/")
    page.get_by_label("Search").press_sequentially(f"findme-{marker}", delay=10)

    expect(page.locator("#session-results tbody tr")).to_have_count(1)
    expect(page.locator("#session-results")).to_contain_text("Searchable")
    expect(page).to_have_url(re.compile(rf"/sessions/\?q=findme-{marker}"))
    page.get_by_role("link", name=f"findme-{marker}").click()
    expect(page.locator("dd.session-id")).to_have_text(f"findme-{marker}")


def test_search_in_cached_text_lists_the_entry_with_the_words_marked(
    logged_in_page: Page, dialogs: list[str]
) -> None:
    page = logged_in_page
    marker = secrets.token_hex(4)
    create_session(page, f"text-search {marker}")
    start_run(page, f"Indexed words {marker}")
    wait_for_post(page)

    page.goto("/sessions/")
    page.get_by_label("In cached text").press_sequentially(f"indexed {marker}", delay=10)

    results = page.locator("#session-results")
    expect(results.locator("tbody tr.has-matches")).to_have_count(1)
    expect(results.locator(".text-match mark", has_text=marker).first).to_be_visible()
    expect(results.locator(".text-match mark", has_text="Indexed").first).to_be_visible()
    expect(results.locator(".text-match-name")).to_contain_text(f"Indexed words {marker}")
    expect(page).to_have_url(re.compile(rf"text=indexed\+{marker}"))
    assert dialogs == []


def test_form_errors_keep_the_typed_values(logged_in_page: Page, dialogs: list[str]) -> None:
    page = logged_in_page
    create_session(page, f"errors-{secrets.token_hex(3)}")

    page.get_by_label("Topic").fill("x" * 301)
    page.get_by_label("Use cache").uncheck()
    page.get_by_role("button", name="Start run").click()

    expect(page.locator("#run-form")).to_contain_text("the limit is 300")
    expect(page.get_by_label("Topic")).to_have_value("x" * 301)
    expect(page.get_by_label("Use cache")).not_to_be_checked()
    assert "/runs/" not in page.url


def test_hostile_ids_names_and_topics_never_run(logged_in_page: Page, dialogs: list[str]) -> None:
    page = logged_in_page
    session_id = XSS_ID + secrets.token_hex(3)
    create_session(page, session_id, name=XSS_NAME)
    session_url = page.url

    page.get_by_label("Topic").fill(XSS_TOPIC)
    expect(page.locator("#cache-status")).to_contain_text("Not cached yet")
    start_run(page, XSS_TOPIC)
    wait_for_post(page)
    expect(page.locator("#run-post h1")).to_contain_text("<script>alert(1)</script>")

    for url in (session_url, "/sessions/?q=" + "svg", "/sessions/"):
        page.goto(url)
        expect(page.locator("main")).to_contain_text(XSS_ID)
    page.goto(session_url)
    page.get_by_label("Topic").fill(XSS_TOPIC)
    expect(page.locator("#cache-status")).to_contain_text("you'll get it instantly")
    page.locator("table").nth(1).get_by_role("link").first.click()
    expect(page.locator("article.post h1")).to_be_visible()
    assert page.locator("main svg, main img, main script").count() == 0
