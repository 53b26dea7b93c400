"""Every page a person uses passes axe-core, in the light and the dark colour scheme, on a desktop
and on a 390 px phone; on both, tables keep every column in sight and no word is cut in two.

The stack runs with DEBUG on (uvicorn serves the static files only then), where Django shows its
own 404 and 500 pages; so those two are rendered by the site's handlers in this process and
served to the browser at the stack's address (`page.route`), with the stack's CSS.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.test import RequestFactory
from playwright.sync_api import Browser, Page, expect

from sessions_app.views.errors import page_not_found, server_error
from tests.browser.audit import axe_violations, broken_words, hidden_sideways
from tests.browser.conftest import PAGE_KEY, BrowserUser, log_in_through_form
from tests.browser.site_pages import Seeded, admin_pages, dashboard_pages, seed_site
from tests.site_processes import SiteClient

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
RUN_TIMEOUT = 60_000
WRITE_MEANWHILE = """
import json, os
from sessions_app.models import WorkflowSession
from sessions_app.services.state import session_state_edit
from sessions_app.state.store import state_load
session = WorkflowSession.objects.get(pk=int(os.environ["T_PK"]))
state = state_load(session) | json.loads(os.environ["T_UPDATE"])
session_state_edit(session=session, new_state=state, base_version=session.version, actor=None)
"""


@pytest.fixture(scope="module")
def live_stack(start_serve: Callable[..., ServeStack]) -> Iterator[ServeStack]:
    """This module's stack: a model slow enough to watch a run live, no run rate limit."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WFSITE_OFFLINE_DELAY", "0.01")
        patch.setenv("WFSITE_MODEL_PROVIDER", "offline")
        patch.setenv("WFSITE_RUN_RATE_LIMIT", "")
        stack = start_serve()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def seeded(live_stack: ServeStack) -> Seeded:
    return seed_site(live_stack)


@pytest.fixture(params=["light", "dark"])
def open_page(
    request: pytest.FixtureRequest, browser: Browser, live_stack: ServeStack
) -> Iterator[Callable[..., Page]]:
    """Return `open_page(user=None, viewport=DESKTOP)`: a new page in this test's colour scheme."""
    contexts = []

    def open_one(user: BrowserUser | None = None, viewport: dict[str, int] = DESKTOP) -> Page:
        context = browser.new_context(
            base_url=live_stack.base_url, color_scheme=request.param, viewport=viewport
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        request.node.stash[PAGE_KEY] = page
        if user is not None:
            log_in_through_form(page, user)
        return page

    yield open_one
    for context in contexts:
        context.close()


def audit(page: Page, pages: list[tuple[str, str]], problems: list[str]) -> None:
    for label, url in pages:
        response = page.goto(url)
        assert response is not None
        if response.status >= 400 and not (response.status == 409 and "409 conflict" in label):
            problems.append(f"{label} ({url}): HTTP {response.status}")
            continue
        problems += [f"{label} ({url}): {violation}" for violation in axe_violations(page)]


def test_dashboard_pages_pass_axe(open_page: Callable[..., Page], seeded: Seeded) -> None:
    page, problems = open_page(seeded.admin), []
    audit(page, dashboard_pages(seeded), problems)
    assert not problems, "\n".join(problems)


def test_the_diff_colours_of_every_kind_of_change_pass_axe(
    open_page: Callable[..., Page], seeded: Seeded
) -> None:
    page = open_page(seeded.admin)
    page.goto(dict(dashboard_pages(seeded))["state diff"])
    page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")

    for kind in (".diff-added", ".diff-removed", ".diff-changed", ".line-added", ".line-removed"):
        expect(page.locator(kind).first).to_be_visible()
    assert axe_violations(page) == []


def test_admin_pages_and_the_conflict_screen_pass_axe(
    open_page: Callable[..., Page], seeded: Seeded, live_stack: ServeStack
) -> None:
    page, problems = open_page(seeded.admin), []
    audit(page, admin_pages(seeded), problems)

    page.goto(f"/admin/sessions_app/workflowsession/{seeded.pk}/change/")
    box = page.get_by_label("State (JSON)")
    mine = json.loads(box.input_value()) | {"tone": "mine"}
    env = {"T_PK": str(seeded.pk), "T_UPDATE": json.dumps({"tone": f"theirs {secrets.token_hex(3)}"})}
    live_stack.manage("shell", "--no-imports", "-c", WRITE_MEANWHILE, extra_env=env)
    box.fill(json.dumps(mine, indent=2))
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator("#state-stale")).to_contain_text("Changed on both sides")
    problems += [f"conflict screen: {violation}" for violation in axe_violations(page)]
    assert not problems, "\n".join(problems)


def in_process(render: Callable[[], bytes]) -> Callable[..., None]:
    def fulfil(route: object, *args: object) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=render())  # type: ignore[attr-defined]

    return fulfil


def error_page(path: str, status: int) -> bytes:
    """Render the site's 404 or 500 page for `path` as an anonymous visitor, in this process."""
    request = RequestFactory().get(path)
    request.user = AnonymousUser()
    response = page_not_found(request, Http404()) if status == 404 else server_error(request)
    assert response.status_code == status
    return response.content


def test_error_login_and_logged_out_pages_pass_axe(open_page: Callable[..., Page], seeded: Seeded) -> None:
    problems: list[str] = []
    viewer = open_page(seeded.viewer)
    refused = [
        ("403 on the dashboard", dict(dashboard_pages(seeded))["confirm clearing all"]),
        ("403 in the admin", dict(admin_pages(seeded))["admin confirm clearing all"]),
    ]
    for label, url in refused:
        response = viewer.goto(url)
        assert response is not None
        assert response.status == 403, label
        expect(viewer.get_by_role("heading", name="You can't open this page")).to_be_visible()
        problems += [f"{label}: {violation}" for violation in axe_violations(viewer)]

    anonymous = open_page()
    for path, status in [("/missing/", 404), ("/admin/missing/", 404), ("/sessions/", 500), ("/admin/", 500)]:
        anonymous.route(f"**{path}", in_process(lambda path=path, status=status: error_page(path, status)))
        anonymous.goto(path)
        expect(anonymous.locator(".error-status")).to_have_text(f"Error {status}")
        problems += [f"{status} at {path}: {violation}" for violation in axe_violations(anonymous)]
        anonymous.unroute(f"**{path}")

    anonymous.goto("/accounts/login/")
    problems += [f"login: {violation}" for violation in axe_violations(anonymous)]
    log_in_through_form(anonymous, seeded.viewer)
    anonymous.get_by_role("button", name="Log out").click()
    expect(anonymous.get_by_role("heading", name="Logged out")).to_be_visible()
    problems += [f"logged out: {violation}" for violation in axe_violations(anonymous)]
    assert not problems, "\n".join(problems)


def test_a_run_page_passes_axe_live_and_finished(
    open_page: Callable[..., Page], seeded: Seeded, live_stack: ServeStack
) -> None:
    client = SiteClient(live_stack.base_url, seeded.admin.username, seeded.admin.password)
    try:
        run_id = client.start_run(seeded.session_id, f"Live captions {secrets.token_hex(3)}")
    finally:
        client.close()
    page = open_page(seeded.admin)
    page.goto(f"/runs/{run_id}/")
    expect(page.locator("#run-status .badge")).to_have_text("running", timeout=RUN_TIMEOUT)
    page.wait_for_function("() => (document.querySelector('#run-text') || {}).textContent?.length > 20")
    problems = [f"live: {violation}" for violation in axe_violations(page)]

    expect(page.locator("#run-status .badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    expect(page.locator("#run-result")).to_be_visible()
    problems += [f"finished live: {violation}" for violation in axe_violations(page)]
    assert not problems, "\n".join(problems)


def test_small_screens_keep_every_column_in_sight_and_words_whole(
    open_page: Callable[..., Page], seeded: Seeded
) -> None:
    pages = dict(dashboard_pages(seeded))
    wanted = ["session list", "session detail", "finished run", "state history", "state diff", "cached entry"]
    problems: list[str] = []
    for viewport in (PHONE, DESKTOP):
        page = open_page(seeded.admin, viewport=viewport)
        for label in wanted:
            page.goto(pages[label])
            where = f"{label} at {viewport['width']} px"
            problems += [f"{where}: {problem}" for problem in hidden_sideways(page)]
            problems += [f"{where}: broke {word}" for word in broken_words(page)]
            if viewport is PHONE:
                problems += [f"{where}: {violation}" for violation in axe_violations(page)]
    assert not problems, "\n".join(problems)


def test_the_run_form_fits_a_phone(open_page: Callable[..., Page], seeded: Seeded) -> None:
    page = open_page(seeded.admin, viewport=PHONE)
    page.goto(dict(dashboard_pages(seeded))["session detail"])

    for control in (
        page.get_by_label("Topic"),
        page.get_by_label("Use cache"),
        page.get_by_role("button", name="Start run"),
    ):
        box = control.bounding_box()
        assert box is not None
        assert box["x"] >= 0, box
        assert box["x"] + box["width"] <= PHONE["width"], box
    topic = page.get_by_label("Topic").bounding_box()
    assert topic is not None
    assert topic["width"] >= 300


def test_destructive_buttons_look_unlike_safe_ones(open_page: Callable[..., Page], seeded: Seeded) -> None:
    page = open_page(seeded.admin)
    pages = dict(dashboard_pages(seeded))
    colour = "(element) => getComputedStyle(element).backgroundColor"
    page.goto(pages["state history"])
    safe = page.get_by_role("button", name="Compare").evaluate(colour)
    page.goto(pages["confirm deleting an entry"])
    confirm = page.get_by_role("button", name=re.compile(r"^Delete ")).evaluate(colour)
    cancel = page.get_by_role("link", name="Cancel").evaluate(colour)

    red, green, blue = (int(part) for part in confirm[confirm.index("(") + 1 : -1].split(",")[:3])
    assert red > green + 60, confirm  # red, in either scheme
    assert red > blue + 60, confirm
    assert confirm not in (safe, cancel)
    assert cancel == "rgba(0, 0, 0, 0)"  # the way out is not a filled button at all
