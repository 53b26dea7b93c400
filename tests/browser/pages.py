"""Steps the browser tests take on the dashboard's pages, the way a person does."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def create_session(page: Page, session_id: str, name: str = "") -> None:
    page.goto("/sessions/")
    page.get_by_label("Session id").fill(session_id)
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create session").click()
    page.wait_for_url(re.compile(r"/sessions/[^/]+/$"))
    expect(page.locator("dd.session-id")).to_have_text(session_id)


def start_run(page: Page, topic: str) -> str:
    page.get_by_label("Topic").fill(topic)
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+/$"))
    return page.url
