"""Faults seen from Chromium: the browser leaves a live run page, and the web server dies under one.

The site here is separate processes (tests/site_processes.py), so the test can kill uvicorn alone
while the worker goes on, and start it again on the same port and database.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PAGE_KEY, BrowserUser, log_in_through_form
from tests.site_processes import SiteClient, SiteProcesses, session_path
from tests.waiting import wait_for

pytestmark = pytest.mark.browser

RUN_TIMEOUT = 60_000
# ~650 chunks at 10 ms: a run streams for several seconds, long enough to leave or break it midway.
OFFLINE_DELAY = "0.01"
TEXT_GROWING = """([after]) => {
    const text = document.querySelector('#run-text');
    const badge = document.querySelector('#run-status .badge');
    if (!text || !badge || badge.textContent.trim() !== 'running') return false;
    return text.textContent.length > after ? text.textContent.length : false;
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SiteProcesses, BrowserUser]]:
    site = SiteProcesses.create(tmp_path_factory.mktemp("faults-browser"), WFSITE_OFFLINE_DELAY=OFFLINE_DELAY)
    try:
        user = BrowserUser(*site.make_superuser())
        site.start_web()
        site.start_workers(1)
        yield site, user
    finally:
        site.stop()


@pytest.fixture
def client(site: tuple[SiteProcesses, BrowserUser]) -> Iterator[SiteClient]:
    processes, user = site
    client = SiteClient(processes.base_url, user.username, user.password)
    yield client
    client.close()


@pytest.fixture
def site_page(
    browser: Browser, site: tuple[SiteProcesses, BrowserUser], request: pytest.FixtureRequest
) -> Iterator[Page]:
    processes, user = site
    context = browser.new_context(base_url=processes.base_url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    request.node.stash[PAGE_KEY] = page
    log_in_through_form(page, user)
    yield page
    context.close()


def start_slow_run(client: SiteClient, name: str) -> tuple[str, str]:
    session_id = f"{name} {secrets.token_hex(3)}"
    client.create_session(session_id)
    topic = f"{name.capitalize()} in the middle of a run"
    return session_id, client.start_run(session_id, topic)


def test_leaving_a_live_run_page_does_not_stop_the_run(site_page: Page, client: SiteClient) -> None:
    session_id, run_id = start_slow_run(client, "leaving")
    site_page.goto(f"/runs/{run_id}/")
    site_page.wait_for_function(TEXT_GROWING, arg=[100], timeout=RUN_TIMEOUT)
    context = site_page.context
    site_page.close()  # the browser goes away mid-stream

    assert client.run_status(run_id) == "running"
    assert client.wait_for_run(run_id, timeout=60) == "succeeded"
    again = context.new_page()
    again.goto(f"/runs/{run_id}/")
    expect(again.locator("#run-status .badge")).to_have_text("succeeded")
    expect(again.locator("#run-post h1")).to_be_visible()
    again.goto(session_path(session_id))
    expect(again.get_by_role("link", name="Leaving in the middle of a run", exact=True)).to_be_visible()


def test_a_live_run_page_recovers_when_the_web_server_restarts(
    site_page: Page, client: SiteClient, site: tuple[SiteProcesses, BrowserUser]
) -> None:
    processes, _ = site
    _, run_id = start_slow_run(client, "restarting")
    site_page.goto(f"/runs/{run_id}/")
    site_page.wait_for_function(TEXT_GROWING, arg=[100], timeout=RUN_TIMEOUT)

    shown = processes.newest_event(run_id)
    processes.kill_web()
    # The page's stream breaks and starts reconnecting; the worker goes on.
    wait_for(lambda: processes.newest_event(run_id) > shown, what="the worker to go on with no web server")
    processes.start_web()

    # No reload: the stream reconnects with Last-Event-ID and the page ends as a finished run's does.
    expect(site_page.locator("#run-status .badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    expect(site_page.locator("#run-post h1")).to_be_visible()
    live_steps = site_page.locator("#run-steps li").all_inner_texts()
    live_post = site_page.locator("#run-post").inner_text()
    site_page.reload()
    assert site_page.locator("#run-steps li").all_inner_texts() == live_steps, "steps missed or repeated"
    assert site_page.locator("#run-post").inner_text() == live_post
