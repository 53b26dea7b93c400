"""The XSS corpus (tests/xss_payloads.py) through every page that shows untrusted text, in Chromium.

The payloads go in as session ids and names, an owner, run topics, step names and texts, sources,
streamed chunks, a post, a run's error, state keys and values (written by a run, an edit, a
delete), and the admin log. `XssEcho` (tests/stack_workflows.py) is the model: a workflow
registered in this stack that echoes the corpus wherever a run can put text. Then one browser
visits every page that shows them, dashboard and admin, a live run page as it streams and again
finished, the session search as it updates, and the admin's conflict page. A page fails when a
dialog opens, `window.__xss` is set, the Content-Security-Policy had to block something (the
payload became markup and only the CSP stopped it), or any element a payload could make is in
the DOM: an `on*` or `hx-on` attribute, an inline or foreign script, a foreign image, a frame,
object, embed, base, math or meta element, a `javascript:`/`data:` URL, a `srcdoc`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Page, expect

from tests.browser.conftest import BrowserUser, log_in_through_form
from tests.site_processes import SiteClient, form_with, session_path
from tests.xss_payloads import MARKERS, PAYLOADS, storable_id

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.browser

MAIN_ID = "\"'><svg/onload=alert(1)>{{ 7|add:7 }} main ✓ %2F/"
ALL = " ".join(PAYLOADS)
SEED = """
import json, os
from django.contrib.auth import get_user_model
from sessions_app.models import WorkflowSession
from sessions_app.services.sessions import session_create
from tests.xss_payloads import PAYLOADS, storable_id

get_user_model().objects.create_superuser(os.environ["T_USER"], "", os.environ["T_PASSWORD"])
main = session_create(session_id=os.environ["T_MAIN"], workflow="XssEcho", name=PAYLOADS[6][:200], user=None)
WorkflowSession.objects.filter(pk=main.pk).update(user_id=PAYLOADS[9][:255])
for n, payload in enumerate(PAYLOADS):
    if storable_id(payload):
        session_create(session_id=payload, workflow="XssEcho", name=PAYLOADS[-n - 1][:200], user=None)
print(json.dumps(main.pk))
"""
EDIT = """
import json, os
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from sessions_app.models import RunEvent, StateChange, StateEntry, WorkflowRun, WorkflowSession
from sessions_app.services.state import session_state_delete, session_state_edit
from sessions_app.state.store import state_load
from tests.xss_payloads import PAYLOADS

user = get_user_model().objects.get(username=os.environ["T_USER"])
session = WorkflowSession.objects.get(session_id=os.environ["T_MAIN"])
state = state_load(session)
state["edited " + PAYLOADS[0]] = PAYLOADS[:8]
state[PAYLOADS[1]] = {"changed": PAYLOADS[2], PAYLOADS[7]: PAYLOADS[8]}
session_state_edit(session=session, new_state=state, base_version=session.version, actor=user)
session_state_delete(session=session, path=(PAYLOADS[3],), base_version=session.version, actor=user)
LogEntry.objects.log_actions(
    user_id=user.pk, queryset=WorkflowSession.objects.filter(pk=session.pk), action_flag=CHANGE,
    change_message=PAYLOADS[0], single_object=True,
)
runs = WorkflowRun.objects.filter(session=session)
events = RunEvent.objects.filter(run__session=session)
print(json.dumps({
    "version": session.version,
    "entries": list(StateEntry.objects.filter(session=session).exclude(lookup_key="").order_by("pk").values_list("key", "lookup_key")[:2]),
    "changes": list(StateChange.objects.filter(session=session).values_list("pk", flat=True)),
    "runs": list(runs.values_list("pk", flat=True)),
    "events": [events.filter(event=name).values_list("pk", flat=True).first()
               for name in ("<svg/onload=alert(1)>", "ResearchStep", "RunResponse", "WorkflowCompleted", "RunFailed")],
}))
"""
# Every element or attribute a payload could add; none of the site's own pages has any of them.
ACTIVE_CONTENT = r"""() => {
    const problems = [];
    const scheme = (value) => /^(javascript|vbscript|data):/i.test((value || "").replace(/[\u0000-\u0020]/g, ""));
    const urlAttributes = ["href", "src", "action", "formaction", "xlink:href", "data", "poster",
                           "background", "dynsrc", "lowsrc", "codebase", "content"];
    const local = (value) => (value || "").startsWith("/static/");
    if (window.__xss !== undefined) problems.push("window.__xss is set");
    for (const el of document.querySelectorAll("*")) {
        const tag = el.tagName.toLowerCase();
        const where = `<${tag}${el.id ? " id=" + el.id : ""}>`;
        for (const attr of el.attributes) {
            const name = attr.name.toLowerCase();
            if (name.startsWith("on") || name.startsWith("hx-on") || name.startsWith("data-hx-on")) {
                problems.push(`${where} has ${name}=${attr.value}`);
            }
            if (name === "srcdoc") problems.push(`${where} has srcdoc`);
            if (urlAttributes.includes(name) && scheme(attr.value)) problems.push(`${where} ${name}=${attr.value}`);
            if (name === "style" && /expression|javascript:|url\(/i.test(attr.value)) problems.push(`${where} style=${attr.value}`);
        }
        if (["iframe", "frame", "frameset", "object", "embed", "applet", "base", "math", "portal"].includes(tag)) {
            problems.push(`${where} element`);
        }
        const ours = local(el.getAttribute("src")) || el.getAttribute("src") === "/admin/jsi18n/";
        if (tag === "script" && !(ours || el.type === "application/json")) {
            problems.push(`script element: ${el.outerHTML.slice(0, 120)}`);
        }
        if ((tag === "img" || tag === "image" || (tag === "input" && el.type === "image")) && !local(el.getAttribute("src"))) {
            problems.push(`${where} src=${el.getAttribute("src")}`);
        }
        if ((tag === "meta" || tag === "link") && el.closest("body")) problems.push(`${where} in the body`);
        if (tag === "style" && /javascript:|expression|@import/i.test(el.textContent)) problems.push("hostile style element");
    }
    return problems;
}"""
SHOWN_AS_TEXT = """(markers) => {
    const values = [...document.querySelectorAll("input, textarea")].map((el) => el.value).join(" ");
    const text = document.body.innerText + " " + values + " " + document.title;
    return markers.some((marker) => text.includes(marker));
}"""


@dataclass
class Watch:
    """What a page did that it must not: dialogs, CSP reports, script errors; and the problems found."""

    dialogs: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        def dialog(opened: Dialog) -> None:
            self.dialogs.append(opened.message)
            opened.dismiss()

        def console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
                self.blocked.append(message.text)

        page.on("dialog", dialog)
        page.on("console", console)

    def check(self, page: Page, label: str, *, shows_payload: bool = True) -> None:
        """Record every way the page as it is now lets a payload act, and whether a payload shows as text."""
        found = page.evaluate(ACTIVE_CONTENT)
        found += [f"dialog: {message}" for message in self.dialogs]
        found += [f"the CSP blocked: {text[:200]}" for text in self.blocked]
        if shows_payload and not page.evaluate(SHOWN_AS_TEXT, list(MARKERS)):
            found.append("no payload is shown as text, so this page tested nothing")
        self.problems += [f"{label} ({page.url}): {problem}" for problem in found]
        self.dialogs.clear()
        self.blocked.clear()


@dataclass
class Seeded:
    user: BrowserUser
    client: SiteClient
    pk: int
    ids: dict[str, Any]
    runs: dict[str, str]


@pytest.fixture(scope="module")
def live_stack(start_serve: Callable[..., ServeStack]) -> Iterator[ServeStack]:
    """This module's stack, with XssEcho registered and no run rate limit."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "WFSITE_WORKFLOWS", "sessions_app.workflow.BlogPostGenerator,tests.stack_workflows.XssEcho"
        )
        patch.setenv("WFSITE_RUN_RATE_LIMIT", "")
        stack = start_serve()
    yield stack
    stack.stop()


def shell_json(stack: ServeStack, script: str, **env: str) -> Any:
    out = stack.manage("shell", "--no-imports", "-v", "0", "-c", script, extra_env=env)
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def seeded(live_stack: ServeStack) -> Iterator[Seeded]:
    user = BrowserUser(f"xss-{secrets.token_hex(3)}", secrets.token_urlsafe(16))
    env = {"T_USER": user.username, "T_PASSWORD": user.password, "T_MAIN": MAIN_ID}
    pk = shell_json(live_stack, SEED, **env)
    client = SiteClient(live_stack.base_url, user.username, user.password)
    runs = {"done": client.start_run(MAIN_ID, ALL)}
    runs["failed"] = client.start_run(MAIN_ID, ALL[::-1], fail="on")
    assert client.wait_for_run(runs["done"]) == "succeeded"
    assert client.wait_for_run(runs["failed"]) == "failed"
    ids = shell_json(live_stack, EDIT, **env)
    yield Seeded(user, client, pk, ids, runs)
    client.close()


@pytest.fixture
def watched(page: Page, seeded: Seeded) -> tuple[Page, Watch]:
    watch = Watch()
    watch.attach(page)
    log_in_through_form(page, seeded.user)
    return page, watch


def dashboard_pages(seeded: Seeded) -> list[tuple[str, str]]:
    main = session_path(MAIN_ID)
    version = seeded.ids["version"]
    payload_key = json.dumps([PAYLOADS[1]])
    pages = [
        ("session list", "/sessions/"),
        ("session search", "/sessions/?q=" + "onerror"),
        ("session detail", main),
        ("finished run", f"/runs/{seeded.runs['done']}/"),
        ("failed run", f"/runs/{seeded.runs['failed']}/"),
        ("state overview", main + "state/"),
        ("state history", main + "state/history/"),
        ("state diff", main + "state/diff/"),
        ("state diff, all", main + f"state/diff/?before=0&after={version}"),
        ("clear all", main + "state/clear/"),
        ("clear a list", main + "state/clear/?path=" + json.dumps(["blog_posts"])),
        ("delete a key", main + "state/delete/?path=" + payload_key),
        ("restore", main + "state/versions/1/restore/"),
        ("import", main + "import/"),
    ]
    for key, lookup in seeded.ids["entries"]:
        entry = (
            main
            + f"caches/{quote(key, safe='')}/{quote(lookup.replace('%', '%25').replace('/', '%2F'), safe='')}/"
        )
        pages += [(f"cached entry {lookup}", entry), (f"delete {lookup}", entry + "delete/")]
    pages += [(f"session {n}", session_path(p)) for n, p in enumerate(PAYLOADS) if storable_id(p)]
    return pages


def admin_pages(seeded: Seeded) -> list[tuple[str, str]]:
    session = f"/admin/sessions_app/workflowsession/{seeded.pk}/"
    version = seeded.ids["version"]
    pages = [
        ("admin index", "/admin/"),
        ("session changelist", "/admin/sessions_app/workflowsession/"),
        ("session changelist search", "/admin/sessions_app/workflowsession/?q=script"),
        ("session change form", session + "change/"),
        ("session admin history", session + "history/"),
        ("session delete", session + "delete/"),
        ("admin state history", session + "state/history/"),
        ("admin state diff", session + f"state/diff/?before=0&after={version}"),
        ("admin clear", session + "state/clear/"),
        ("admin clear a key", session + "state/clear/?path=" + json.dumps([PAYLOADS[1]])),
        ("admin delete a key", session + "state/delete/?path=" + json.dumps([PAYLOADS[2]])),
        ("admin restore", session + "state/restore/1/"),
        ("run changelist", "/admin/sessions_app/workflowrun/"),
        ("event changelist", "/admin/sessions_app/runevent/"),
        ("change changelist", "/admin/sessions_app/statechange/"),
    ]
    pages += [(f"run {pk}", f"/admin/sessions_app/workflowrun/{pk}/change/") for pk in seeded.ids["runs"]]
    pages += [(f"event {pk}", f"/admin/sessions_app/runevent/{pk}/change/") for pk in seeded.ids["events"]]
    pages += [
        (f"change {pk}", f"/admin/sessions_app/statechange/{pk}/change/") for pk in seeded.ids["changes"]
    ]
    return pages


def visit_all(page: Page, watch: Watch, pages: list[tuple[str, str]]) -> None:
    for label, url in pages:
        response = page.goto(url)
        assert response is not None
        if response.status >= 400:
            watch.problems.append(f"{label} ({url}): HTTP {response.status}")
            continue
        watch.check(page, label)


def test_dashboard_pages_show_payloads_as_text(watched: tuple[Page, Watch], seeded: Seeded) -> None:
    page, watch = watched
    visit_all(page, watch, dashboard_pages(seeded))
    # The search partial, swapped in by htmx as a person types.
    page.goto("/sessions/")
    page.get_by_label("Search").fill("svg")
    expect(page).to_have_url(re.compile(r"/sessions/\?q=svg"))
    expect(page.locator("#session-results")).to_contain_text("matching")
    watch.check(page, "search as you type")
    assert not watch.problems, "\n".join(watch.problems)


def test_admin_pages_show_payloads_as_text(watched: tuple[Page, Watch], seeded: Seeded) -> None:
    page, watch = watched
    visit_all(page, watch, admin_pages(seeded))
    # The stale and conflict pages: another admin changed the same key after this page was opened.
    page.goto(f"/admin/sessions_app/workflowsession/{seeded.pk}/change/")
    box = page.get_by_label("State (JSON)")
    mine = json.loads(box.input_value()) | {PAYLOADS[4]: "mine " + PAYLOADS[5]}
    admin_edit(seeded, {PAYLOADS[4]: "theirs " + PAYLOADS[10]})
    box.fill(json.dumps(mine, indent=2))
    save = page.get_by_role("button", name="Save and continue editing")
    save.click()  # refused: what changed since, and every value changed on both sides, path by path
    expect(page.locator("#state-stale")).to_contain_text("What changed from version")
    expect(page.locator("#state-stale")).to_contain_text("Changed on both sides")
    watch.check(page, "admin conflict")
    assert not watch.problems, "\n".join(watch.problems)


def admin_edit(seeded: Seeded, changes: dict[str, Any]) -> None:
    path = f"/admin/sessions_app/workflowsession/{seeded.pk}/change/"
    form = form_with(seeded.client.get(path).text, "state")
    state = json.loads(form.fields["state"]) | changes
    response = seeded.client.post(path, {**form.fields, "state": json.dumps(state), "_continue": "1"})
    assert response.status_code == 302, response.text[:2000]


def test_a_run_page_shows_payloads_as_text_live_and_finished(
    watched: tuple[Page, Watch], seeded: Seeded
) -> None:
    page, watch = watched
    run_id = seeded.client.start_run(MAIN_ID, "live " + ALL, pause="0.08")
    page.goto(f"/runs/{run_id}/")
    expect(page.locator("#run-status .badge")).to_have_text("running", timeout=30_000)
    page.wait_for_function(
        "() => (document.querySelector('#run-text')?.textContent.length ?? 0) >= 50", timeout=30_000
    )
    watch.check(page, "live run")
    expect(page.locator("#run-status .badge")).to_have_text("succeeded", timeout=30_000)
    expect(page.locator("#run-result")).to_be_visible()
    watch.check(page, "run finished live")
    page.reload()
    watch.check(page, "run finished, reloaded")
    assert not watch.problems, "\n".join(watch.problems)
