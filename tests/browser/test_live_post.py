"""The run page shows the post as rendered Markdown while it streams, and a reload mid-stream resumes."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.browser

# ~650 chunks at 20 ms: the post streams for well over ten seconds, long enough to reload midway.
OFFLINE_DELAY = "0.02"
RUN_TIMEOUT = 90_000
RUNNING = "document.querySelector('#run-status .badge')?.textContent.trim() === 'running'"
# While running: the streamed part holds rendered elements, never the Markdown that makes them.
RENDERED_WHILE_RUNNING = f"""([selector]) => {{
    const text = document.querySelector('#run-text');
    if (!text || !({RUNNING})) return false;
    if (/(^|\\n)#+ |\\n- /.test(text.textContent)) throw new Error('raw Markdown: ' + text.textContent);
    return text.querySelector(selector) !== null;
}}"""
MORE_HEADINGS = f"""([count]) => ({RUNNING}) && document.querySelectorAll('#run-blocks h2').length > count"""


@pytest.fixture(scope="module")
def live_stack(start_serve: Callable[..., ServeStack]) -> Iterator[ServeStack]:
    """This module's own stack, whose offline model writes slowly enough to watch and reload."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WFSITE_OFFLINE_DELAY", OFFLINE_DELAY)
        patch.setenv("WFSITE_MODEL_PROVIDER", "offline")
        stack = start_serve()
    yield stack
    stack.stop()


def start_run(page: Page, session_id: str, topic: str) -> None:
    page.goto("/sessions/")
    page.get_by_label("Session id").fill(session_id)
    page.get_by_role("button", name="Create session").click()
    page.wait_for_url(re.compile(r"/sessions/[^/]+/$"))
    page.get_by_label("Topic").fill(topic)
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+/$"))


def headings(page: Page, selector: str) -> list[str]:
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def test_the_post_renders_as_it_streams_and_a_reload_resumes_without_repeats(logged_in_page: Page) -> None:
    page = logged_in_page
    topic = f"Rendered streaming {secrets.token_hex(3)}"
    start_run(page, f"live-post-{secrets.token_hex(3)}", topic)

    # Headings appear rendered while the run is still running, the title first.
    page.wait_for_function(RENDERED_WHILE_RUNNING, arg=["h2"], timeout=RUN_TIMEOUT)
    assert topic in headings(page, "#run-text h1")[0]

    # Reload mid-stream: the page renders the same blocks itself, then the stream resumes after them.
    page.reload()
    expect(page.locator("#run-blocks h1")).to_have_count(1)
    at_reload = len(headings(page, "#run-blocks h2"))
    page.wait_for_function(MORE_HEADINGS, arg=[at_reload], timeout=RUN_TIMEOUT)
    # A list is rendered as a list before the run ends (it comes late in the post).
    page.wait_for_function(RENDERED_WHILE_RUNNING, arg=["li"], timeout=RUN_TIMEOUT)
    streamed = headings(page, "#run-blocks h2")

    expect(page.locator("#run-status .badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    final = headings(page, "#run-post article h2")
    assert len(streamed) > at_reload
    assert len(set(streamed)) == len(streamed), f"a block was shown twice: {streamed}"
    assert streamed == final[: len(streamed)], "the streamed blocks are not the post's, in order"
    expect(page.locator("#run-text")).to_have_count(0)  # the finished post replaced the stream
