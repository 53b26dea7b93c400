"""Soak: runs in real workers and admins editing over HTTP change one session at once; no write is lost.

For `WFSITE_SOAK_SECONDS` (default 15) a thread starts BlogPostGenerator runs from the session
page (distinct topics, a few in flight for two `db_worker` processes) while two admins each keep
adding a key of their own through the admin's JSON form: GET the change form (its CSRF token,
state and version), POST the state with one more key, and when refused because the state moved
on, POST again choosing "apply my changes on top". Every write is counted by the client. Then
every started run succeeded and its post is cached once, every key an admin was told was saved is
there (a key refused as a conflict would have to be absent; none is expected: keys are distinct),
and the history accounts for each write exactly once: versions 1..N without gaps, one `run`
change appending each post, one `edit` change setting each key, and replaying it gives the state.

Once on SQLite (the site's own file) and once on PostgreSQL (a database made for the test).
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.services import require_postgres
from tests.site_processes import SiteClient, SiteProcesses, form_with, own_site, postgres_database, wait_for

SOAK_SECONDS = float(os.environ.get("WFSITE_SOAK_SECONDS", "15"))
WORKERS = 2
ADMINS = 2
RUNS_IN_FLIGHT = 3
SESSION_ID = "soak ✓ one/session"
DRAIN_SECONDS = 90
CREATE = """
import json, os
from django.contrib.auth import get_user_model
from sessions_app.services.sessions import session_create
get_user_model().objects.create_superuser(os.environ["T_USER"], "", os.environ["T_PASSWORD"])
print(json.dumps(session_create(session_id=os.environ["T_SESSION"], workflow="BlogPostGenerator", user=None).pk))
"""
REPORT = """
import json, os
from sessions_app.models import StateChange, StateEntry, WorkflowRun, WorkflowSession
from sessions_app.state.versions import state_at_version
from sessions_app.state.store import state_load

session = WorkflowSession.objects.get(session_id=os.environ["T_SESSION"])
changes = StateChange.objects.filter(session=session).select_related("run").order_by("version", "pk")
entries = StateEntry.objects.filter(session=session)
print(json.dumps({
    "version": session.version,
    "state": state_load(session),
    "replayed": state_at_version(session=session, version=session.version),
    "cache_entries": session.cache_entries,
    "entry_rows": entries.count(),
    "positions": sorted(entries.values_list("key", "position")),
    "changes": [
        {"version": c.version, "source": c.source, "ops": c.ops, "run_id": c.run and str(c.run.run_id),
         "at": c.created_at.timestamp()}
        for c in changes
    ],
    "runs": {
        str(r.run_id): {"topic": r.inputs.get("topic"), "status": r.status, "error": r.error,
                        "output": r.output, "cache_hit": r.cache_hit, "started": r.started_at.timestamp()}
        for r in WorkflowRun.objects.filter(session=session)
    },
}))
"""


@dataclass
class Tally:
    """What the clients did, counted as they did it."""

    runs: dict[str, str] = field(default_factory=dict)  # run id -> topic
    saved: dict[str, int] = field(default_factory=dict)  # key -> value, told "saved"
    refused: set[str] = field(default_factory=set)  # keys refused as a conflict
    merged: int = 0  # saves that were refused as stale first, then applied on top
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def start_runs(client: SiteClient, deadline: float, tally: Tally) -> None:
    """Keep RUNS_IN_FLIGHT runs with new topics queued or running until the deadline."""
    in_flight: list[str] = []
    number = 0
    while time.monotonic() < deadline:
        in_flight = [run for run in in_flight if client.run_status(run) in {"queued", "running"}]
        if len(in_flight) >= RUNS_IN_FLIGHT:
            time.sleep(0.1)
            continue
        number += 1
        topic = f"Soak topic number {number}"
        run_id = client.start_run(SESSION_ID, topic)
        with tally.lock:
            tally.runs[run_id] = topic
        in_flight.append(run_id)


def admin_add_key(client: SiteClient, pk: int, key: str, value: int, tally: Tally) -> None:
    """Add one key through the admin's JSON form, applying it on top when the state moved on."""
    path = f"/admin/sessions_app/workflowsession/{pk}/change/"
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    form = form_with(page.text, "state")
    state = json.loads(form.fields["state"])
    data = {**form.fields, "state": json.dumps(state | {key: value}, indent=2), "_continue": "1"}
    for attempt in range(10):
        response = client.post(path, data)
        if response.status_code == 302:
            with tally.lock:
                tally.saved[key] = value
                tally.merged += attempt > 0
            return
        assert response.status_code == 200, f"{response.status_code}: {response.text[:500]}"
        assert 'id="state-stale"' in response.text, f"refused, not as stale:\n{response.text[:3000]}"
        if "Changed on both sides" in response.text:
            with tally.lock:
                tally.refused.add(key)
            return
        # The refusal keeps my text and offers "apply on top" (checked): submit it as shown.
        refused = form_with(response.text, "state")
        assert refused.fields.get("resolve") == "merge", refused.fields
        data = {**refused.fields, "_continue": "1"}
    raise AssertionError(f"{key}: still refused after 10 tries")


def edit_keys(client: SiteClient, pk: int, name: str, deadline: float, tally: Tally) -> None:
    number = 0
    while time.monotonic() < deadline:
        number += 1
        admin_add_key(client, pk, f"admin {name} key {number}", number, tally)


def in_thread(target: Any, tally: Tally, *args: Any) -> threading.Thread:
    def body() -> None:
        try:
            target(*args)
        except BaseException:
            with tally.lock:
                tally.errors.append(traceback.format_exc())

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def soak(site: SiteProcesses) -> tuple[Tally, dict[str, Any]]:
    username, password = "soak-admin", uuid.uuid4().hex
    pk = site.shell(CREATE, T_SESSION=SESSION_ID, T_USER=username, T_PASSWORD=password)
    site.start_web()
    site.start_workers(WORKERS)
    tally = Tally()
    clients = [SiteClient(site.base_url, username, password) for _ in range(ADMINS + 1)]
    deadline = time.monotonic() + SOAK_SECONDS
    threads = [in_thread(start_runs, tally, clients[0], deadline, tally)]
    threads += [
        in_thread(edit_keys, tally, clients[n + 1], pk, chr(ord("A") + n), deadline, tally)
        for n in range(ADMINS)
    ]
    for thread in threads:
        thread.join(SOAK_SECONDS + 60)
    assert not tally.errors, "a client failed:\n" + "\n".join(tally.errors)
    assert not any(thread.is_alive() for thread in threads), "a client did not stop"

    def all_finished() -> bool:
        site.check_alive()
        return all(clients[0].run_status(run) not in {"queued", "running"} for run in tally.runs)

    wait_for(all_finished, timeout=DRAIN_SECONDS, what="the runs to finish", every=0.5)
    for client in clients:
        client.close()
    return tally, site.shell(REPORT, T_SESSION=SESSION_ID)


def check_nothing_lost(tally: Tally, report: dict[str, Any]) -> None:
    runs, state = report["runs"], report["state"]
    assert set(runs) == set(tally.runs), "the runs stored are not the runs started"
    failed = {run_id: run for run_id, run in runs.items() if run["status"] != "succeeded" or run["cache_hit"]}
    assert not failed, f"runs that did not generate their post: {failed}"
    posts = Counter(post["topic"] for post in state.get("blog_posts", []))
    assert posts == Counter(tally.runs.values()), "posts cached are not one per run"
    outputs = {run["topic"]: run["output"] for run in runs.values()}
    for post in state["blog_posts"]:
        assert post["blog_post"] == outputs[post["topic"]], f"the post of {post['topic']!r} is not its run's"
    for key, value in tally.saved.items():
        assert state.get(key) == value, f"{key!r} was saved (the admin was told so) but is {state.get(key)!r}"
    for key in tally.refused:
        assert key not in state, f"{key!r} was refused but is in the state"
    assert set(state) == {"blog_posts", *tally.saved}, f"unexpected keys: {set(state) - set(tally.saved)}"
    assert report["replayed"] == state, "replaying the history does not give the stored state"
    assert report["cache_entries"] == report["entry_rows"] == len(tally.runs)
    assert [pos for key, pos in report["positions"]] == list(range(len(tally.runs)))


def check_history(tally: Tally, report: dict[str, Any]) -> None:
    changes = report["changes"]
    assert [c["version"] for c in changes] == list(range(1, report["version"] + 1)), "versions have gaps"
    assert len(changes) == len(tally.runs) + len(tally.saved), "changes are not one per accepted write"
    by_run: Counter[str] = Counter()
    by_key: Counter[str] = Counter()
    for change in changes:
        if change["source"] == "run":
            [(kind, path, items)] = [op[:3] for op in change["ops"]]
            assert (kind, path, len(items)) == ("append", ["blog_posts"], 1), change
            assert items[0]["topic"] == tally.runs[change["run_id"]], change
            by_run[change["run_id"]] += 1
        else:
            assert change["source"] == "edit", change
            [(kind, path, value)] = [op[:3] for op in change["ops"]]
            assert (kind, len(path)) == ("set", 1), change
            assert tally.saved[path[0]] == value, change
            by_key[path[0]] += 1
    assert by_run == Counter(dict.fromkeys(tally.runs, 1)), "a run's post is not in exactly one change"
    assert by_key == Counter(dict.fromkeys(tally.saved, 1)), "an admin key is not in exactly one change"


def contention(report: dict[str, Any]) -> int:
    """Count runs that committed onto a state changed after they started (so their write merged)."""
    commits = {c["run_id"]: c["at"] for c in report["changes"] if c["source"] == "run"}
    return sum(
        any(run["started"] < c["at"] < commits[run_id] for c in report["changes"])
        for run_id, run in report["runs"].items()
    )


def check_soak(site: SiteProcesses) -> None:
    tally, report = soak(site)
    check_nothing_lost(tally, report)
    check_history(tally, report)
    merged_runs = contention(report)
    print(
        f"\n{site.env['DATABASE_URL'].split(':')[0]}: {len(tally.runs)} runs, {len(tally.saved)} admin "
        f"saves ({tally.merged} applied on top after a refusal), {len(tally.refused)} refused, "
        f"{merged_runs} runs merged onto newer writes, version {report['version']}"
    )
    assert tally.runs, "the soak started no runs"
    assert tally.saved, "the soak saved no admin edits"
    assert tally.merged, "no admin save was refused as stale, so the merge path was not exercised"
    assert merged_runs, "no run committed onto a newer state, so the runs' merge was not exercised"


@pytest.fixture
def site_processes(tmp_path: Path) -> Iterator[list[SiteProcesses]]:
    started: list[SiteProcesses] = []
    yield started
    for site in started:
        site.stop()


@own_site
@pytest.mark.timeout(SOAK_SECONDS + 150)
def test_soak_on_sqlite(tmp_path: Path, site_processes: list[SiteProcesses]) -> None:
    site = SiteProcesses.create(tmp_path, WFSITE_OFFLINE_DELAY="0.002", WFSITE_RUN_RATE_LIMIT="")
    site_processes.append(site)
    check_soak(site)


@own_site
@pytest.mark.timeout(SOAK_SECONDS + 150)
def test_soak_on_postgres(tmp_path: Path, site_processes: list[SiteProcesses]) -> None:
    server = require_postgres()
    with postgres_database(server, "wfsite_soak") as url:
        site = SiteProcesses.create(tmp_path, url, WFSITE_OFFLINE_DELAY="0.002", WFSITE_RUN_RATE_LIMIT="")
        site_processes.append(site)
        try:
            check_soak(site)
        finally:
            site.stop()  # before the database is dropped
