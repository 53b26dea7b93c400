"""Fork a session from a version of its history, in Chromium against a real stack."""

from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.browser

# Version 1: a cached post and tone "dry"; version 2: tone "warm".
MAKE_SESSION = """
import json, os
from sessions_app.services.sessions import session_create
from sessions_app.services.state import session_state_edit
state = json.loads(os.environ["WFSITE_TEST_STATE"])
session = session_create(
    session_id=os.environ["WFSITE_TEST_SESSION"], workflow="BlogPostGenerator", name="Source", user=None, state=state
)
session_state_edit(session=session, new_state={**state, "tone": "warm"}, base_version=1, actor=None)
"""
READ_STATE = """
import json, os
from sessions_app.state.store import state_snapshot
print(json.dumps(state_snapshot(os.environ["WFSITE_TEST_SESSION"])[1]))
"""
STATE = {"blog_posts": [{"topic": "Forked topic", "blog_post": "# Forked\n\nText."}], "tone": "dry"}


def test_fork_from_a_version_shows_the_forks_state_and_its_link_back(
    logged_in_page: Page, live_stack: ServeStack
) -> None:
    page = logged_in_page
    source = f"fork-src-{secrets.token_hex(4)}"
    fork = f"{source} copy ü"
    live_stack.manage(
        "shell",
        "--no-imports",
        "-c",
        MAKE_SESSION,
        extra_env={"WFSITE_TEST_SESSION": source, "WFSITE_TEST_STATE": json.dumps(STATE)},
    )

    page.goto(f"/sessions/{source}/state/history/")
    page.locator("section", has=page.locator("#change-1")).get_by_role("link", name="Fork from here…").click()
    expect(page.get_by_label("Name")).to_have_attribute("placeholder", "Source (fork of v1)")
    page.get_by_label("New session id").fill(fork)
    page.get_by_role("button", name="Fork").click()

    page.wait_for_url(re.compile(r"/sessions/[^/]+/$"))
    expect(page.locator("dd.session-id")).to_have_text(fork)
    expect(page.get_by_role("heading", level=1)).to_have_text("Source (fork of v1)")
    expect(page.locator("#forked-from")).to_have_text("Source at version 1")
    expect(page.get_by_text("Forked topic").first).to_be_visible()
    stored = json.loads(
        live_stack.manage("shell", "--no-imports", "-c", READ_STATE, extra_env={"WFSITE_TEST_SESSION": fork})
    )
    assert stored == STATE  # the tone of version 1, not the source's latest

    page.get_by_role("link", name="History and undo").click()
    expect(page.locator("#change-1")).to_contain_text("Version 1 · Fork")
    expect(page.locator("main")).to_contain_text(f"Forked from session '{source}' at version 1")

    page.goto(f"/sessions/{fork}/")
    page.locator("#forked-from").get_by_role("link", name="Source").click()
    page.wait_for_url(re.compile(rf"/sessions/{source}/$"))
    expect(page.locator("#forks")).to_contain_text("Source (fork of v1) (from version 1)")
