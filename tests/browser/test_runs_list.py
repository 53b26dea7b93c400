"""The runs page in Chromium against a real stack: a run's row follows it from queued to succeeded, no reload."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import create_session

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.browser

RUN_TIMEOUT = 60_000
# A queued run no worker has been told about yet: it stays queued until the test enqueues it.
QUEUE = """
import json, sys
from sessions_app.models import WorkflowRun, WorkflowSession
session = WorkflowSession.objects.get(session_id=sys.argv[-1])
run = WorkflowRun.objects.create(session=session, workflow=session.workflow, inputs=json.loads(sys.argv[-2]))
print(run.run_id)
"""
ENQUEUE = """
import sys
from sessions_app.tasks import run_execute_task
run_execute_task.enqueue(sys.argv[-1])
"""


def shell(stack: ServeStack, code: str, *args: str) -> str:
    """Run Python in the stack's environment (its database, its task queue); return what it printed."""
    # `shell -c` passes no arguments to the code, so they go in as the code's last lines of argv.
    setup = f"import sys; sys.argv = {json.dumps(['shell', *args])}\n"
    return stack.manage("shell", "--no-imports", "-c", setup + code).strip()


def test_a_row_follows_its_run_from_queued_to_succeeded(
    logged_in_page: Page, live_stack: ServeStack, dialogs: list[str]
) -> None:
    page = logged_in_page
    session_id = f"runs page {secrets.token_hex(3)}"
    topic = f"Watched runs {secrets.token_hex(3)}"
    create_session(page, session_id)
    run_id = shell(live_stack, QUEUE, json.dumps({"topic": topic}), session_id)

    page.goto("/runs/")
    row = page.locator(f"#run-{run_id}")
    expect(row.locator(".badge")).to_have_text("queued")
    expect(row).to_have_attribute("hx-trigger", "load delay:1s")
    expect(page.locator("#run-counts")).to_contain_text("queued")
    expect(page.get_by_role("link", name="Runs", exact=True)).to_have_attribute("aria-current", "page")
    # A reload would lose this; the row must change under it.
    page.evaluate("window.__stayed = true")
    polled = []
    page.on("request", lambda request: polled.append(request.url) if "/row/" in request.url else None)
    expect(row).to_have_attribute("hx-get", f"/runs/{run_id}/row/?seen=queued&poll=2", timeout=10_000)

    shell(live_stack, ENQUEUE, run_id)

    expect(row.locator(".badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    assert page.evaluate("window.__stayed") is True
    assert polled, "the row never asked for itself"
    # Finished: the row carries no trigger, so htmx asks no more.
    expect(row).not_to_have_attribute("hx-trigger", "load delay:1s")
    assert row.get_attribute("hx-trigger") is None
    assert row.get_attribute("hx-get") is None
    expect(row.get_by_role("cell", name="miss")).to_be_visible()
    expect(row).to_contain_text(topic)
    row.get_by_role("link", name=session_id, exact=True).click()
    expect(page.locator("dd.session-id")).to_have_text(session_id)
