"""Playwright (sync API) in the system Chromium against a real `manage.py serve` stack.

The stack has its own SQLite file, so create what a browser test needs through
`live_stack.manage(...)` (or `make_browser_user`), not through the ORM in the test process.
A failing test leaves a screenshot in `test-artifacts/<test name>.png`.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Dialog, Page, sync_playwright

if TYPE_CHECKING:
    from tests.conftest import ServeStack

CHROMIUM = Path("/usr/bin/chromium")
# Quiet and offline: no GPU, no QUIC, no updater or sync traffic from the test browser.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PAGE_KEY = pytest.StashKey[Page]()
CREATE_USER = """
import os
from django.contrib.auth import get_user_model

get_user_model().objects.create_user(
    username=os.environ["WFSITE_TEST_USERNAME"],
    password=os.environ["WFSITE_TEST_PASSWORD"],
    is_staff=os.environ["WFSITE_TEST_STAFF"] == "1",
    is_superuser=os.environ["WFSITE_TEST_SUPERUSER"] == "1",
)
"""


@dataclass(frozen=True)
class BrowserUser:
    username: str
    password: str


@pytest.fixture(scope="session")
def live_stack(start_serve: Callable[..., ServeStack]) -> ServeStack:
    """The site as `make run` serves it, shared by all browser tests; `.base_url` is its root."""
    return start_serve()


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, and later tests that start their own loop (asyncio.run,
# async_to_sync) must not find one. Leaving tests/browser stops it.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing; `make chromium` installs it (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        # executable_path: Playwright must never download a browser of its own.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_stack: ServeStack, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (no cookies) whose relative URLs go to the live stack."""
    context = browser.new_context(base_url=live_stack.base_url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    request.node.stash[PAGE_KEY] = page
    yield page
    context.close()


@pytest.fixture
def make_browser_user(live_stack: ServeStack) -> Callable[..., BrowserUser]:
    """Return a function creating a user with a random password in the live stack's database."""

    def make(*, staff: bool = False, superuser: bool = False) -> BrowserUser:
        user = BrowserUser(username=f"user-{secrets.token_hex(4)}", password=secrets.token_urlsafe(16))
        # Credentials go through the environment, not argv, so they never show in `ps`.
        live_stack.manage(
            "shell",
            "--no-imports",
            "-c",
            CREATE_USER,
            extra_env={
                "WFSITE_TEST_USERNAME": user.username,
                "WFSITE_TEST_PASSWORD": user.password,
                "WFSITE_TEST_STAFF": "1" if staff else "0",
                "WFSITE_TEST_SUPERUSER": "1" if superuser else "0",
            },
        )
        return user

    return make


@pytest.fixture
def browser_user(make_browser_user: Callable[..., BrowserUser]) -> BrowserUser:
    """A staff superuser, so the same login works for the dashboard and /admin/."""
    return make_browser_user(staff=True, superuser=True)


def log_in_through_form(page: Page, user: BrowserUser, next_path: str | None = None) -> None:
    """Log in through the real login form and wait until the browser has left it."""
    page.goto("/accounts/login/" + (f"?{urlencode({'next': next_path})}" if next_path else ""))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


@pytest.fixture
def log_in() -> Callable[..., None]:
    """`log_in(page, user, next_path=None)`: log in through the real form."""
    return log_in_through_form


@pytest.fixture
def logged_in_page(page: Page, browser_user: BrowserUser) -> Page:
    """`page`, logged in as `browser_user`; where it lands after login is up to the site."""
    log_in_through_form(page, browser_user)
    return page


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Save a screenshot of the page when a browser test fails, and name it in the report."""
    report: pytest.TestReport = yield
    page = item.stash.get(PAGE_KEY, None)
    if report.failed and report.when in ("setup", "call") and page is not None and not page.is_closed():
        path = ARTIFACTS / (re.sub(r"[^\w.-]+", "_", item.name) + ".png")
        try:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=path, full_page=True)
        except Exception as error:  # The test's own failure must still be reported.
            report.sections.append(("screenshot", f"could not save {path}: {error}"))
        else:
            report.sections.append(("screenshot", str(path)))
    return report


@pytest.fixture
def dialogs(logged_in_page: Page) -> Iterator[list[str]]:
    """Collect every alert/confirm/prompt the page opens; the test fails if there was any."""
    opened: list[str] = []

    def record(dialog: Dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    logged_in_page.on("dialog", record)
    yield opened
    assert opened == [], f"a dialog opened: {opened}"
