"""Cancel a run from its page (it keeps what it streamed and the state it saved), then run it again."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import BrowserUser
from tests.browser.pages import create_session, start_run

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.browser

# ~650 chunks at 50 ms: the post streams for half a minute, long enough to cancel midway.
OFFLINE_DELAY = "0.05"
WORKFLOWS = "sessions_app.workflow.BlogPostGenerator,tests.stack_workflows.Checkpointing"
RUN_TIMEOUT = 60_000
STREAMING = """() => document.querySelector('#run-status .badge')?.textContent.trim() === 'running'
    && (document.querySelector('#run-text')?.textContent.trim().length ?? 0) > 40"""


@pytest.fixture(scope="module")
def live_stack(start_serve: Callable[..., ServeStack]) -> Iterator[ServeStack]:
    """This module's stack: a slow offline model, the checkpointing workflow, no rate limit."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WFSITE_OFFLINE_DELAY", OFFLINE_DELAY)
        patch.setenv("WFSITE_MODEL_PROVIDER", "offline")
        patch.setenv("WFSITE_WORKFLOWS", WORKFLOWS)
        patch.setenv("WFSITE_RUN_RATE_LIMIT", "")
        stack = start_serve()
    yield stack
    stack.stop()


def cancel_from_the_run_page(page: Page) -> None:
    run_url = page.url
    page.get_by_role("link", name="Cancel the run…").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+/cancel/$"))
    expect(page.get_by_role("link", name="Keep it running")).to_have_class(re.compile(r"button-secondary"))
    confirm = page.get_by_role("button", name="Cancel the run")
    expect(confirm).to_have_class(re.compile(r"\bdestructive\b"))
    confirm.click()
    page.wait_for_url(run_url)


def test_cancel_a_streaming_post_keeps_what_it_wrote_then_run_it_again(
    logged_in_page: Page, browser_user: BrowserUser
) -> None:
    page = logged_in_page
    topic = f"Cancelled midway {secrets.token_hex(3)}"
    create_session(page, f"cancel-{secrets.token_hex(3)}")
    first = start_run(page, topic)
    page.wait_for_function(STREAMING, timeout=RUN_TIMEOUT)
    expect(page.get_by_role("button", name="Run again")).to_be_hidden()  # not while it runs

    cancel_from_the_run_page(page)
    expect(page.locator("#run-status .badge")).to_have_text("cancelled", timeout=RUN_TIMEOUT)
    expect(page.locator("#run-status .run-error")).to_have_text(f"Cancelled by {browser_user.username}.")
    written = page.locator("#run-text").inner_text()
    assert topic in written  # the title and the part of the post it streamed are kept
    expect(page.get_by_role("link", name="Cancel the run…")).to_be_hidden()
    page.reload()
    expect(
        page.locator(".facts div", has=page.locator("dt", has_text="Cancelled by")).locator("dd")
    ).to_have_text(browser_user.username)
    assert page.locator("#run-text").inner_text().startswith(written.strip()[:200])

    page.get_by_role("button", name="Run again").click()
    page.wait_for_url(lambda url: re.search(r"/runs/[0-9a-f-]+/$", url) is not None and url != first)
    expect(page.locator("h1.run-title")).to_have_text(topic)
    expect(page.locator("#run-status .badge")).to_have_text(re.compile("queued|running"))
    page.wait_for_function(STREAMING, timeout=RUN_TIMEOUT)  # a new generation, not the cache
    cancel_from_the_run_page(page)
    expect(page.locator("#run-status .badge")).to_have_text("cancelled", timeout=RUN_TIMEOUT)


def test_a_cancelled_run_keeps_the_state_it_saved(logged_in_page: Page) -> None:
    page = logged_in_page
    session_id = f"checkpoints {secrets.token_hex(3)}"
    page.goto("/sessions/")
    new = page.locator("section[aria-labelledby='new-session-heading']")
    new.get_by_label("Session id").fill(session_id)
    new.get_by_label("Workflow").select_option("Checkpointing")
    new.get_by_role("button", name="Create session").click()
    page.wait_for_url(re.compile(r"/sessions/[^/]+/$"))
    page.get_by_label("Steps").fill("300")
    page.get_by_label("Pause").fill("0.1")
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+/$"))
    expect(page.locator("#run-steps li").nth(2)).to_contain_text("saved step 3", timeout=RUN_TIMEOUT)

    cancel_from_the_run_page(page)
    expect(page.locator("#run-status .badge")).to_have_text("cancelled", timeout=RUN_TIMEOUT)
    steps = page.locator("#run-steps li", has_text="saved step").count()
    assert 3 <= steps < 300
    state = page.request.get(f"/api/v1/sessions/{quote(session_id.replace('%', '%25'), safe='')}/state")
    assert state.ok, state.text()
    saved = state.json()
    # Every step it reported is saved, and what it changed after its last save too (as for any stop).
    assert saved["steps"] == list(range(1, steps + 1))
    assert saved["last_step"] == saved["pending"] == steps
    page.goto(f"/sessions/{quote(session_id, safe='')}/")
    expect(page.locator("section[aria-labelledby='state-heading']")).to_contain_text("last_step")
