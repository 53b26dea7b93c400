"""Declared caches in Chromium: similar keys as you type, entries by key, delete and undo, three caches, savings."""

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

RUN_TIMEOUT = 60_000


@pytest.fixture(scope="module")
def live_stack(start_serve: Callable[..., ServeStack]) -> Iterator[ServeStack]:
    """This module's own stack, with a fast offline model."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WFSITE_OFFLINE_DELAY", "0")
        patch.setenv("WFSITE_MODEL_PROVIDER", "offline")
        patch.delenv("WFSITE_SEARCHER", raising=False)
        stack = start_serve()
    yield stack
    stack.stop()


def choose_workflow(page: Page, session_id: str, workflow: str) -> None:
    page.goto("/sessions/")
    page.get_by_label("Session id").fill(session_id)
    page.locator("#id_workflow").select_option(workflow)  # the new-session form, not the list filter
    page.get_by_role("button", name="Create session").click()
    page.wait_for_url(re.compile(r"/sessions/[^/]+/$"))


def finish(page: Page) -> None:
    expect(page.locator("#run-status .badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT)


def test_a_close_key_is_suggested_and_an_entry_deleted_by_key_comes_back_on_undo(
    logged_in_page: Page, dialogs: list[str]
) -> None:
    page = logged_in_page
    marker = secrets.token_hex(3)
    topic = f"Caching in depth {marker}"
    create_session(page, f"similar-{marker}")
    session_url = page.url
    start_run(page, topic)
    finish(page)

    page.goto(session_url)
    page.get_by_label("Topic").press_sequentially(f"depth in caching {marker}", delay=5)
    status = page.locator("#cache-status")
    expect(status).to_contain_text("Not cached yet")
    expect(status).to_contain_text("Close to what is cached (not the same key, so not a hit)")
    status.get_by_role("link", name=topic).click()
    expect(page.locator("h1").first).to_have_text(f"The post on '{topic}'")
    entry_url = page.url
    assert f"/caches/blog_posts/caching%20in%20depth%20{marker}/" in entry_url

    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name=f"Delete the post on '{topic}'").click()
    message = page.locator(".messages")
    expect(message).to_contain_text(f"Deleted the post on '{topic}'")
    assert page.request.get(entry_url).status == 404
    message.get_by_role("link", name="Undo").click()
    page.get_by_role("button", name=re.compile(r"Undo version \d+")).click()
    page.goto(entry_url)
    expect(page.locator("h1").first).to_have_text(f"The post on '{topic}'")
    expect(page.locator("article.post h1")).to_be_visible()


def test_the_pipeline_fills_three_caches_and_the_overview_draws_them(
    logged_in_page: Page, dialogs: list[str]
) -> None:
    page = logged_in_page
    marker = secrets.token_hex(3)
    choose_workflow(page, f"pipeline-{marker}", "BlogPostPipeline")
    session_url = page.url
    start_run(page, f"Pipelines {marker}")
    finish(page)
    page.goto(session_url)
    start_run(page, f"pipelines {marker} ")
    finish(page)
    expect(page.locator("#run-status")).to_contain_text("Served from the cache.")

    page.goto(session_url)
    entries = page.locator("section[aria-labelledby=entries-heading]")
    for cache in ("search_results", "scraped_articles", "blog_posts"):
        expect(entries.locator("h3", has_text=cache)).to_contain_text("(1 entry)")
    entries.get_by_role("link", name=f"Pipelines {marker}").first.click()
    expect(page.locator("h1").first).to_have_text(f"The search results for 'Pipelines {marker}'")
    expect(page.locator(".json-tree")).to_contain_text("demo-source.invalid")

    page.goto("/cache/")
    expect(page.locator("h1").first).to_have_text("What the cache saved")
    expect(page.locator(".savings-chart svg rect.bar-hit")).to_have_count(30)
    expect(page.get_by_role("link", name="BlogPostPipeline")).to_be_visible()
