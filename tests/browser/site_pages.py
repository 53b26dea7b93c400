"""A site seeded with one of everything a person looks at, and the list of pages that show it.

`seed_site` gives a real stack an admin and a viewer, a session with two cached posts, a finished
run, a cache hit and three recorded changes (an import-free run, and two edits whose diff has an
added, a removed and a changed value with a line-by-line diff), so every page has its full content.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.browser.conftest import BrowserUser
from tests.site_processes import SiteClient, session_path

if TYPE_CHECKING:
    from tests.conftest import ServeStack

USERS = """
import os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from sessions_app.services.roles import roles_sync

roles_sync(actor=None)
users = get_user_model()
users.objects.create_superuser(os.environ["T_ADMIN"], "", os.environ["T_PASSWORD"])
viewer = users.objects.create_user(os.environ["T_VIEWER"], password=os.environ["T_PASSWORD"], is_staff=True)
viewer.groups.add(Group.objects.get(name="viewer"))
"""
EDITS = """
import json, os
from sessions_app.models import StateEntry, WorkflowRun, WorkflowSession
from sessions_app.services.state import session_state_edit
from sessions_app.state.store import state_load

session = WorkflowSession.objects.get(session_id=os.environ["T_SESSION"])
state = state_load(session) | {"notes": "Read aloud before publishing.", "tone": "dry"}
session_state_edit(session=session, new_state=state, base_version=session.version, actor=None)
state = state_load(session)
lines = state["blog_posts"][0]["blog_post"].split("\\n")
lines[0] = "# Accessible dashboards, read aloud"
lines.insert(1, "An added line for the diff.")
state["blog_posts"][0]["blog_post"] = "\\n".join(lines)
del state["notes"]
state |= {"tone": "warm", "audience": "people who use screen readers"}
session_state_edit(session=session, new_state=state, base_version=session.version, actor=None)
print(json.dumps({
    "pk": session.pk,
    "version": session.version,
    "entry": StateEntry.objects.filter(session=session).order_by("position").values_list("pk", flat=True).first(),
    "run": WorkflowRun.objects.filter(session=session).order_by("created_at").values_list("pk", flat=True).first(),
}))
"""


@dataclass(frozen=True)
class Seeded:
    admin: BrowserUser
    viewer: BrowserUser
    session_id: str
    pk: int
    version: int
    entry: int
    run_pk: int
    run: str
    cache_hit: str


def shell_json(stack: ServeStack, script: str, **env: str) -> Any:
    out = stack.manage("shell", "--no-imports", "-v", "0", "-c", script, extra_env=env)
    return json.loads(out.strip().splitlines()[-1])


def seed_site(stack: ServeStack) -> Seeded:
    """Fill the stack with what every page shows (see the module docstring)."""
    password = secrets.token_urlsafe(16)
    admin = BrowserUser(f"a11y-admin-{secrets.token_hex(3)}", password)
    viewer = BrowserUser(f"a11y-viewer-{secrets.token_hex(3)}", password)
    stack.manage(
        "shell",
        "--no-imports",
        "-c",
        USERS,
        extra_env={"T_ADMIN": admin.username, "T_VIEWER": viewer.username, "T_PASSWORD": password},
    )
    session_id = f"reading room {secrets.token_hex(3)}"
    client = SiteClient(stack.base_url, admin.username, admin.password)
    try:
        client.create_session(session_id, name="Accessible reading")
        runs = [client.start_run(session_id, topic) for topic in ("Accessible dashboards", "Readable tables")]
        for run in runs:
            assert client.wait_for_run(run, timeout=120) == "succeeded"
        cache_hit = client.start_run(session_id, "accessible dashboards ")
        facts = shell_json(stack, EDITS, T_SESSION=session_id)
    finally:
        client.close()
    return Seeded(
        admin,
        viewer,
        session_id,
        facts["pk"],
        facts["version"],
        facts["entry"],
        facts["run"],
        runs[0],
        cache_hit,
    )


def dashboard_pages(seeded: Seeded) -> list[tuple[str, str]]:
    """Every dashboard page a person uses, with this site's content."""
    session = session_path(seeded.session_id)
    last = seeded.version
    entry_path = json.dumps(["blog_posts", 0])
    return [
        ("session list", "/sessions/"),
        ("session detail", session),
        ("cached entry", session + f"entries/{seeded.entry}/"),
        ("finished run", f"/runs/{seeded.run}/"),
        ("cache-hit run", f"/runs/{seeded.cache_hit}/"),
        ("state overview", session + "state/"),
        ("state history", session + "state/history/"),
        ("state diff", session + f"state/diff/?before={last - 1}&after={last}"),
        ("confirm clearing all", session + "state/clear/"),
        ("confirm clearing a cache", session + "state/clear/?path=" + json.dumps(["blog_posts"])),
        ("confirm deleting an entry", session + "state/delete/?path=" + entry_path),
        ("confirm restoring", session + "state/versions/1/restore/"),
        # The second run cached the second post, which nothing changed later; version 3's tone did change.
        ("confirm undoing a change", session + f"state/versions/{last - 2}/undo/"),
        ("refused undo (409 conflict)", session + f"state/versions/{last - 1}/undo/"),
        ("fork from a version", session + "state/versions/1/fork/"),
        ("import", session + "import/"),
        ("API tokens", "/account/tokens/"),
    ]


def admin_pages(seeded: Seeded) -> list[tuple[str, str]]:
    """The admin pages the product adds or changes."""
    session = f"/admin/sessions_app/workflowsession/{seeded.pk}/"
    last = seeded.version
    return [
        ("admin sessions", "/admin/sessions_app/workflowsession/"),
        ("admin session and its JSON", session + "change/"),
        ("admin state history", session + "state/history/"),
        ("admin diff", session + f"state/diff/?before={last - 1}&after={last}"),
        ("admin confirm clearing all", session + "state/clear/"),
        ("admin confirm deleting an entry", session + "state/delete/?path=" + json.dumps(["blog_posts", 0])),
        ("admin confirm restoring", session + "state/restore/1/"),
        ("admin confirm undoing a change", session + f"state/undo/{last - 2}/"),
        ("admin refused undo (409 conflict)", session + f"state/undo/{last - 1}/"),
        ("admin fork from a version", session + "state/fork/1/"),
        ("admin import", "/admin/sessions_app/workflowsession/import/"),
        ("admin runs", "/admin/sessions_app/workflowrun/"),
        ("admin run", f"/admin/sessions_app/workflowrun/{seeded.run_pk}/change/"),
    ]
