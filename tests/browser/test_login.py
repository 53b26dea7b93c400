"""Logging in and out through the real pages, in Chromium."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.browser.conftest import BrowserUser

pytestmark = pytest.mark.browser


def test_anonymous_visitor_sees_the_login_form(page: Page) -> None:
    page.goto("/accounts/login/?next=/admin/")

    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)


def test_base_page_loads_htmx_4_and_its_sse_extension(page: Page) -> None:
    page.goto("/accounts/login/")

    assert page.evaluate("() => window.htmx && htmx.version") == "4.0.1"
    # registerExtension answers false for a name that is already registered.
    assert page.evaluate("() => htmx.registerExtension('sse', {})") is False


def test_login_lands_on_the_next_page(
    page: Page, browser_user: BrowserUser, log_in: Callable[..., None]
) -> None:
    log_in(page, browser_user, next_path="/admin/")

    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def test_wrong_password_shows_an_error(page: Page, browser_user: BrowserUser) -> None:
    page.goto("/accounts/login/?next=/admin/")
    page.get_by_label("Username").fill(browser_user.username)
    page.get_by_label("Password").fill(browser_user.password + "-wrong")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_header_shows_the_user_and_logs_out(logged_in_page: Page, browser_user: BrowserUser) -> None:
    page = logged_in_page
    page.goto("/accounts/login/")
    header = page.get_by_role("banner")
    expect(header).to_contain_text(browser_user.username)
    expect(header.get_by_role("link", name="Admin")).to_be_visible()

    header.get_by_role("button", name="Log out").click()

    expect(page.get_by_role("heading", name="Logged out")).to_be_visible()
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/login/\?next="))


def test_htmx_requests_carry_the_csrf_token(logged_in_page: Page) -> None:
    page = logged_in_page
    page.goto("/accounts/login/")
    # Any htmx POST on a page built on base.html must pass Django's CSRF check.
    page.evaluate(
        """() => {
            document.querySelector("main").insertAdjacentHTML(
                "beforeend", '<button id="htmx-logout" hx-post="/accounts/logout/">htmx log out</button>');
            htmx.process(document.getElementById("htmx-logout"));
        }"""
    )
    with page.expect_response(re.compile(r"/accounts/logout/$")) as response:
        page.get_by_role("button", name="htmx log out").click()

    assert response.value.status == 200
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/login/\?next="))
