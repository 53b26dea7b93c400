"""The session page and the session list update themselves while a run started elsewhere starts and ends."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import BrowserUser
from tests.browser.pages import create_session, start_run

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.browser

# The offline model writes slowly enough that the run is seen running before it succeeds.
OFFLINE_DELAY = "0.01"
RUN_TIMEOUT = 90_000
# Set on the page before the run; a reload would lose it.
MARK = "window.__notReloaded = true"
NOT_RELOADED = "window.__notReloaded === true"


@pytest.fixture(scope="module")
def live_stack(start_serve: Callable[..., ServeStack]) -> Iterator[ServeStack]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WFSITE_OFFLINE_DELAY", OFFLINE_DELAY)
        patch.setenv("WFSITE_MODEL_PROVIDER", "offline")
        stack = start_serve()
    yield stack
    stack.stop()


@pytest.fixture
def new_person(
    browser: Browser, live_stack: ServeStack, browser_user: BrowserUser, log_in: Callable[..., None]
) -> Iterator[Callable[[], Page]]:
    """Return a function opening another person's browser (a context, so a window, of its own), logged in.

    A window of its own each: pages that share one are background tabs but one, and a background
    tab drops its streams until it is shown.
    """
    contexts = []

    def open_page() -> Page:
        context = browser.new_context(base_url=live_stack.base_url)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        log_in(page, browser_user)
        return page

    yield open_page
    for context in contexts:
        context.close()


def version(page: Page) -> int:
    text = page.locator("#session-facts").get_by_text("version").inner_text()
    return int(text.rsplit("version", 1)[1].strip())


def test_the_session_page_and_list_follow_a_run_started_elsewhere_keeping_what_was_typed(
    logged_in_page: Page, new_person: Callable[[], Page]
) -> None:
    page = logged_in_page
    session_id = f"live-page {secrets.token_hex(3)}"
    create_session(page, session_id)
    expect(page.locator("#session-runs")).to_contain_text("No runs yet.")
    before = version(page)

    # Someone types a topic into the run form and leaves the cursor in it, without starting a run.
    topic = f"Live sections {secrets.token_hex(3)}"
    page.get_by_label("Topic").fill(topic)
    expect(page.locator("#cache-status")).to_contain_text("Not cached yet")
    page.evaluate(MARK)

    # The session list, open in a second browser, shows the session with no run; a third will start it.
    lister, other_page = new_person(), new_person()
    lister.goto("/sessions/")
    row = lister.locator("tr", has=lister.get_by_role("link", name=session_id, exact=True))
    expect(row).to_contain_text("none")
    lister.evaluate(MARK)

    # The third browser starts a run of that topic on the session.
    other_page.goto(page.url)
    start_run(other_page, topic)

    # Without a reload, the run appears running, then succeeded, on the page and in the list.
    runs = page.locator("#session-runs tbody tr")
    expect(runs).to_have_count(1, timeout=RUN_TIMEOUT)
    expect(runs.first.locator(".badge")).to_have_text("running", timeout=RUN_TIMEOUT)
    expect(row.locator(".badge")).to_have_text("running", timeout=RUN_TIMEOUT)
    expect(runs.first.locator(".badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    expect(runs.first).to_contain_text(topic)
    expect(row.locator(".badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT)

    # The cached entries, the state and the version followed.
    expect(page.locator("#session-entries")).to_contain_text(topic)
    expect(page.locator("#session-state")).to_contain_text(topic)
    expect(page.locator("#session-facts")).to_contain_text("Runs1")
    assert version(page) > before

    # What was typed is still there, still focused, and the form now says it is cached; neither page reloaded.
    expect(page.locator("#cache-status")).to_contain_text("is cached", timeout=RUN_TIMEOUT)
    topic_field = page.get_by_label("Topic")
    expect(topic_field).to_have_value(topic)
    expect(topic_field).to_be_focused()
    assert page.evaluate(NOT_RELOADED)
    assert lister.evaluate(NOT_RELOADED)
