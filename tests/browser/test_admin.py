"""The admin's state editor in Chromium against a real stack: save, bad JSON, a conflict, delete and restore."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from tests.upstream.upstream_dbs import UpstreamSession, blog_posts_list_cache, make_phidata_db

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.browser

TABLE = "blog_post_generator_workflows"
READ_STATE = """
import json, os
from sessions_app.state.store import state_snapshot
print(json.dumps(state_snapshot(os.environ["WFSITE_TEST_SESSION"])[1]))
"""
# What a run or another admin does meanwhile: a recorded change at the latest version.
WRITE_STATE = """
import json, os
from sessions_app.models import WorkflowSession
from sessions_app.services.state import session_state_edit
from sessions_app.state.store import state_load
session = WorkflowSession.objects.get(session_id=os.environ["WFSITE_TEST_SESSION"])
state = state_load(session) | json.loads(os.environ["WFSITE_TEST_UPDATE"])
session_state_edit(session=session, new_state=state, base_version=session.version, actor=None)
"""


def make_session(stack: ServeStack, tmp_path: Path) -> str:
    """Import a session with a two-post cache into the stack (as `import_sessions` does for phidata files)."""
    session_id = f"admin-{secrets.token_hex(4)}"
    db = tmp_path / "phidata.db"
    state = blog_posts_list_cache([("Alpha", "# Alpha\n\nFirst."), ("Beta", "# Beta\n\nSecond.")]) | {
        "tone": "dry"
    }
    make_phidata_db(db, TABLE, [UpstreamSession(session_id, "wf", "ann", state)])
    stack.manage("import_sessions", str(db), "--table", TABLE)
    return session_id


def stored(stack: ServeStack, session_id: str) -> dict[str, Any]:
    return json.loads(
        stack.manage("shell", "--no-imports", "-c", READ_STATE, extra_env={"WFSITE_TEST_SESSION": session_id})
    )


def write_meanwhile(stack: ServeStack, session_id: str, update: dict[str, Any]) -> None:
    env = {"WFSITE_TEST_SESSION": session_id, "WFSITE_TEST_UPDATE": json.dumps(update)}
    stack.manage("shell", "--no-imports", "-c", WRITE_STATE, extra_env=env)


def open_session(page: Page, session_id: str) -> None:
    page.goto(f"/admin/sessions_app/workflowsession/?q={session_id}")
    page.get_by_role("link", name=session_id, exact=True).click()
    expect(page.get_by_label("State (JSON)")).to_be_visible()


def state_box(page: Page) -> Any:
    return page.get_by_label("State (JSON)")


def save(page: Page) -> None:
    page.get_by_role("button", name="Save and continue editing").click()


def test_an_admin_saves_good_json(logged_in_page: Page, live_stack: ServeStack, tmp_path: Path) -> None:
    page = logged_in_page
    session_id = make_session(live_stack, tmp_path)
    open_session(page, session_id)
    state = json.loads(state_box(page).input_value())
    assert '\n  "tone": "dry"' in state_box(page).input_value()

    state_box(page).fill(json.dumps(state | {"tone": "warm"}, indent=2))
    save(page)

    expect(page.locator(".messagelist")).to_contain_text("State saved as version 2")
    expect(page.locator(".messagelist").get_by_role("link", name="Undo")).to_be_visible()
    assert stored(live_stack, session_id)["tone"] == "warm"


def test_bad_json_is_refused_without_losing_the_text(
    logged_in_page: Page, live_stack: ServeStack, tmp_path: Path
) -> None:
    page = logged_in_page
    session_id = make_session(live_stack, tmp_path)
    open_session(page, session_id)
    typed = '{"tone": "warm",\n "blog_posts": [}'

    state_box(page).fill(typed)
    save(page)

    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".field-state .errorlist")).to_contain_text("This is not valid JSON")
    expect(state_box(page)).to_have_value(typed)
    state_box(page).fill('["not", "an", "object"]')
    save(page)
    expect(page.locator(".field-state .errorlist")).to_contain_text("must be a JSON object")
    assert stored(live_stack, session_id)["tone"] == "dry"


def test_a_conflict_shows_what_changed_and_is_resolved(
    logged_in_page: Page, live_stack: ServeStack, tmp_path: Path
) -> None:
    page = logged_in_page
    session_id = make_session(live_stack, tmp_path)
    open_session(page, session_id)
    mine = json.loads(state_box(page).input_value()) | {"tone": "warm"}
    write_meanwhile(live_stack, session_id, {"audience": "engineers"})

    state_box(page).fill(json.dumps(mine, indent=2))
    save(page)

    panel = page.locator("#state-stale")
    expect(panel).to_contain_text("The state changed after you opened this page")
    expect(panel.locator("table.state-diff")).to_contain_text("audience")
    expect(state_box(page)).to_have_value(json.dumps(mine, indent=2))
    expect(page.get_by_label("Apply my changes on top of the latest version", exact=False)).to_be_checked()
    assert "audience" in stored(live_stack, session_id)
    assert stored(live_stack, session_id)["tone"] == "dry"

    save(page)

    expect(page.locator(".messagelist")).to_contain_text("State saved as version 3")
    state = stored(live_stack, session_id)
    assert (state["tone"], state["audience"]) == ("warm", "engineers")


def test_delete_one_cached_entry_and_undo_it_from_history(
    logged_in_page: Page, live_stack: ServeStack, tmp_path: Path
) -> None:
    page = logged_in_page
    session_id = make_session(live_stack, tmp_path)
    open_session(page, session_id)

    page.get_by_role("link", name="Delete blog_posts[0]").click()
    expect(page.locator("table.state-diff")).to_contain_text("Alpha")
    # The confirmation and the message name the entry by its key, not by its place in the list.
    page.get_by_role("button", name="Delete the post on 'Alpha'").click()

    expect(page.locator(".messagelist")).to_contain_text("Deleted the post on 'Alpha' (now version 2)")
    assert [p["topic"] for p in stored(live_stack, session_id)["blog_posts"]] == ["Beta"]

    page.get_by_role("link", name="State history").first.click()
    expect(page.locator("#change-2")).to_contain_text("Version 2 · Clear")
    page.locator("section", has=page.locator("#change-2")).get_by_role(
        "link", name="Undo this change…"
    ).click()
    expect(page.locator("table.state-diff")).to_contain_text("Alpha")
    page.get_by_role("button", name="Undo version 2").click()

    expect(page.locator(".messagelist")).to_contain_text("Undid version 2: cached the post on 'Alpha'")
    expect(page.locator(".messagelist")).to_contain_text("(now version 3)")
    assert [p["topic"] for p in stored(live_stack, session_id)["blog_posts"]] == ["Alpha", "Beta"]
    page.get_by_role("link", name="State history").first.click()
    expect(page.locator("#change-3")).to_contain_text("Undo")
