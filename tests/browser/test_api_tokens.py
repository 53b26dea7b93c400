"""The API tokens page and the API's docs page, in Chromium against the real stack."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.browser


def api_get(stack: ServeStack, path: str, token: str) -> int:
    request = urllib.request.Request(stack.url(path), headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        body = json.loads(error.read())
        assert set(body) == {"error"}
        return int(error.code)


def test_make_use_and_revoke_a_token(logged_in_page: Page, live_stack: ServeStack) -> None:
    page = logged_in_page
    page.goto("/sessions/")
    page.get_by_role("banner").get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()

    page.get_by_label("Name").fill("browser test")
    page.get_by_role("button", name="Make token").click()

    shown = page.get_by_label("Your new token")
    expect(shown).to_have_value(re.compile(r"^wfs_"))
    token = shown.input_value()
    assert api_get(live_stack, "/api/v1/sessions", token) == 200
    page.reload()
    expect(page.get_by_label("Your new token")).to_have_count(0)
    row = page.get_by_role("row").filter(has_text="browser test")
    expect(row).to_contain_text(token[:10])

    row.get_by_role("link", name="Revoke the token browser test").click()
    page.get_by_role("button", name="Revoke the token").click()

    expect(page.get_by_role("status")).to_contain_text("Revoked the token “browser test”")
    expect(page.get_by_role("row").filter(has_text="browser test")).to_contain_text("revoked")
    assert api_get(live_stack, "/api/v1/sessions", token) == 401


def test_the_docs_page_renders_under_the_sites_csp(page: Page) -> None:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)

    page.goto("/api/v1/docs")

    expect(page.get_by_role("heading", name=re.compile("wfsite API"))).to_be_visible(timeout=15_000)
    expect(page.get_by_text("/api/v1/sessions/{session_id}/state").first).to_be_visible()
    assert not [text for text in problems if "Content Security Policy" in text], problems
