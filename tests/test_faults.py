"""Faults: a worker killed between saves, a locked SQLite file, a failing model server, a web server restart.

What `tests/test_worker.py` already proves is not repeated: its SIGKILL test kills a worker while a
BlogPostGenerator streams (that workflow saves only at its end) and shows the run is reaped, the
older state is untouched and the next run works. Here a workflow saves with write_to_storage()
after every step, so the kill lands between (or during) saves: every saved step must be kept,
nothing unsaved may appear, the history must account for each save, and the file must be sound.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection

from sessions_app.markdown import render_markdown
from sessions_app.models import RunEvent, StateChange, StateEntry, WorkflowSession
from sessions_app.services.run_worker import run_execute
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
from sessions_app.state.storage import DjangoWorkflowStorage
from sessions_app.state.store import state_load
from sessions_app.workflow import BlogPostGenerator
from sessions_app.workflow.errors import StorageBusyError
from sessions_app.workflow.offline_model import OfflineModel
from tests.conftest import ServeStack
from tests.live.stream_page import apply, page_for
from tests.site_processes import SiteClient, SiteProcesses, own_site, session_path
from tests.waiting import wait_for
from tests.workflow.fake_openai_server import FakeOpenAIServer, Script

WORKFLOWS = "sessions_app.workflow.BlogPostGenerator,tests.stack_workflows.Checkpointing"
START_CHECKPOINTING = """
import json, os
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
session = session_create(session_id=os.environ["T_SESSION"], workflow="Checkpointing", user=None)
run = run_start(session=session, inputs={"steps": int(os.environ["T_STEPS"]), "pause": 0.05}, user=None)
print(json.dumps(str(run.run_id)))
"""
RUN_AGAIN = """
import json, os
from sessions_app.models import WorkflowSession
from sessions_app.services.runs import run_start
session = WorkflowSession.objects.get(session_id=os.environ["T_SESSION"])
print(json.dumps(str(run_start(session=session, inputs={"steps": 2, "pause": 0}, user=None).run_id)))
"""
REPORT = """
import json, os
from sessions_app.models import RunEvent, StateChange, WorkflowRun, WorkflowSession
from sessions_app.state.versions import state_at_version
from sessions_app.state.store import state_load
session = WorkflowSession.objects.get(session_id=os.environ["T_SESSION"])
print(json.dumps({
    "version": session.version,
    "state": state_load(session),
    "replayed": state_at_version(session=session, version=session.version),
    "cache_entries": session.cache_entries,
    "changes": [
        {"version": c.version, "source": c.source, "run_id": c.run and str(c.run.run_id), "ops": c.ops}
        for c in StateChange.objects.filter(session=session).select_related("run").order_by("version")
    ],
    "runs": {
        str(r.run_id): {"status": r.status, "error": r.error, "output": r.output,
                        "events": list(RunEvent.objects.filter(run=r).order_by("seq").values_list("seq", "event", "content"))}
        for r in WorkflowRun.objects.filter(session=session)
    },
}))
"""


def query(db: Path, sql: str, *params: Any) -> tuple[Any, ...] | None:
    with closing(sqlite3.connect(db, timeout=20)) as con:
        return con.execute(sql, params).fetchone()


def last_saved_step(db: Path, session_id: str) -> int:
    row = query(db, "SELECT session_state FROM sessions_app_workflowsession WHERE session_id = ?", session_id)
    return 0 if row is None else int(json.loads(row[0]).get("last_step", 0))


def run_ended(db: Path, run_id: str) -> bool:
    row = query(db, "SELECT status FROM sessions_app_workflowrun WHERE run_id = ?", uuid.UUID(run_id).hex)
    return row is not None and row[0] not in {"queued", "running"}


# -- a worker killed between (or during) write_to_storage() saves ----------------------------------------


@own_site
@pytest.mark.timeout(120)
def test_a_worker_killed_between_saves_keeps_every_saved_step(tmp_path: Path) -> None:
    site = SiteProcesses.create(tmp_path, WFSITE_WORKFLOWS=WORKFLOWS, WFSITE_HEARTBEAT_INTERVAL="0.2")
    session_id = "killed ✓ between saves"
    try:
        run_id = site.shell(START_CHECKPOINTING, T_SESSION=session_id, T_STEPS="400")
        site.start_workers(1)
        db = tmp_path / "db.sqlite3"
        wait_for(lambda: last_saved_step(db, session_id) >= 5, timeout=30, what="five saved steps")
        os.kill(site.workers[0].pid, signal.SIGKILL)
        site.workers[0].wait(10)
        assert query(db, "PRAGMA integrity_check") == ("ok",)
        site.start_reaper(0.2, WFSITE_HEARTBEAT_TIMEOUT="1")
        wait_for(lambda: run_ended(db, run_id), timeout=30, what="the reaper to fail the run")
        report = site.shell(REPORT, T_SESSION=session_id)
        run = report["runs"][run_id]
        assert run["status"] == "failed"
        assert "no heartbeat" in run["error"], run["error"]
        assert run["events"][-1][1:] == ["RunFailed", run["error"]]
        saved = report["state"]["last_step"]
        # `pending` is changed after each save: the value set after the last save was never saved.
        check_saved_steps(report, saved, saved - 1, [run_id] * saved)

        # The session lives on: the next run continues from the last saved step.
        again = site.shell(RUN_AGAIN, T_SESSION=session_id)
        site.start_workers(1)
        wait_for(lambda: run_ended(db, again), timeout=30, what="the next run to end")
        report = site.shell(REPORT, T_SESSION=session_id)
        assert report["runs"][again]["status"] == "succeeded", report["runs"][again]
        # Two saves, then the end of the run saves `pending` too.
        check_saved_steps(report, saved + 2, saved + 2, [run_id] * saved + [again] * 3)
    finally:
        site.stop()


def check_saved_steps(report: dict[str, Any], last: int, pending: int, made_by: list[str]) -> None:
    """Assert the state holds steps 1..last and `pending` as saved, and the changes that made them."""
    state = report["state"]
    assert state["steps"] == list(range(1, last + 1))
    assert state["last_step"] == last
    assert state["pending"] == pending
    assert report["replayed"] == state, "replaying the history does not give the stored state"
    assert report["cache_entries"] == last
    changes = report["changes"]
    assert [c["version"] for c in changes] == list(range(1, report["version"] + 1))
    # One change per save, each recorded as its run's change (not as someone's edit).
    assert [(c["source"], c["run_id"]) for c in changes] == [("run", run_id) for run_id in made_by]


# -- SQLite busy: another connection holds the write lock while a run commits ------------------------------


@pytest.fixture
def sqlite_file(transactional_db: None) -> Path:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's lock; PostgreSQL writers queue on the session's row lock instead")
    return Path(connection.settings_dict["NAME"])


@contextmanager
def busy_timeout(seconds: float) -> Iterator[None]:
    """Give Django's SQLite connections this busy timeout (the site's is 20 s) for a while."""
    options = connection.settings_dict["OPTIONS"]
    old = options.get("timeout")
    connection.close()
    options["timeout"] = seconds
    try:
        yield
    finally:
        connection.close()
        options["timeout"] = old


@contextmanager
def write_locked(db: Path) -> Iterator[None]:
    """Hold SQLite's write lock from another connection, as a long writer elsewhere would."""
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def stored(session_id: str) -> dict[str, Any]:
    session = WorkflowSession.objects.get(session_id=session_id)
    return {
        "version": session.version,
        "state": state_load(session),
        "entries": list(StateEntry.objects.filter(session=session).values_list("key", "position", "value")),
        "changes": StateChange.objects.filter(session=session).count(),
        "cache_entries": session.cache_entries,
        "state_size": session.state_size,
    }


def generator(session_id: str) -> BlogPostGenerator:
    return BlogPostGenerator(
        session_id=session_id, storage=DjangoWorkflowStorage(), model=OfflineModel(delay=0), searcher=None
    )


@pytest.mark.timeout(60)
def test_a_commit_on_a_locked_sqlite_file_gives_up_clearly_and_writes_nothing(sqlite_file: Path) -> None:
    list(generator("busy").run(topic="Written before the lock"))
    before = stored("busy")
    with busy_timeout(0.5), write_locked(sqlite_file):
        began = time.monotonic()
        with pytest.raises(
            StorageBusyError, match=r"stayed locked .* nothing was written \(database is locked\)"
        ):
            list(generator("busy").run(topic="Written during the lock"))
        waited = time.monotonic() - began
    # SQLite's busy handler retried with growing sleeps for the timeout (once for the commit, once
    # for recording the run), then gave up: bounded, not forever.
    assert 0.9 < waited < 5, waited
    assert stored("busy") == before
    list(generator("busy").run(topic="Written after the lock"))
    after = stored("busy")
    assert [post["topic"] for post in after["state"]["blog_posts"]] == [
        "Written before the lock",
        "Written after the lock",
    ]
    assert after["version"] == before["version"] + 1


@pytest.mark.timeout(60)
def test_a_worker_run_that_finds_sqlite_locked_fails_with_a_readable_error(
    sqlite_file: Path, settings: Any, monkeypatch: pytest.MonkeyPatch, django_user_model: Any, client: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.WFSITE_WORKFLOWS = ["sessions_app.workflow.BlogPostGenerator"]
    monkeypatch.setenv("WFSITE_MODEL_PROVIDER", "offline")
    monkeypatch.setenv("WFSITE_OFFLINE_DELAY", "0")
    monkeypatch.delenv("WFSITE_SEARCHER", raising=False)
    session = session_create(session_id="busy worker", workflow="BlogPostGenerator", user=None)
    run = run_start(session=session, inputs={"topic": "Locked out"}, user=None)
    before = stored("busy worker")
    commit = DjangoWorkflowStorage.commit

    def commit_while_locked(self: DjangoWorkflowStorage, **kwargs: Any) -> Any:
        # Locked exactly while the run saves its state; its events are written before that.
        with write_locked(sqlite_file):
            return commit(self, **kwargs)

    monkeypatch.setattr(DjangoWorkflowStorage, "commit", commit_while_locked)
    with busy_timeout(0.5):
        run_execute(run_id=str(run.run_id))
    run.refresh_from_db()
    assert run.status == "failed"
    assert "State not saved: StorageBusyError: the database stayed locked by other writers" in run.error
    assert "database is locked" in run.error
    assert '"topic": "Locked out"' in run.unsaved_state, "the run's unsaved state is kept for a person"
    events = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("event", "content"))
    assert events[-1] == ("RunFailed", run.error)
    assert [event for event, _ in events].count("RunFailed") == 1
    assert stored("busy worker") == before
    client.force_login(django_user_model.objects.create_superuser("boss", "", "pw"))
    page = html.unescape(client.get(f"/runs/{run.run_id}/").content.decode())
    assert "badge-failed" in page
    assert "StorageBusyError: the database stayed locked" in page


# -- the model server times out, answers 429 or 500, or sends garbage mid-stream ---------------------------


@pytest.fixture(scope="module")
def fake_model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def model_client(
    start_serve: Callable[..., ServeStack], fake_model: FakeOpenAIServer
) -> Iterator[SiteClient]:
    """A person logged in to a stack whose model is the fake server, retrying twice, 1 s timeout."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "WFSITE_MODEL_PROVIDER": "openai",
            "OPENAI_BASE_URL": fake_model.base_url,
            "WFSITE_MODEL_MAX_RETRIES": "2",
            "WFSITE_MODEL_BACKOFF": "0.05",
            "WFSITE_MODEL_TIMEOUT": "1",
        }.items():
            patch.setenv(name, value)
        patch.delenv("WFSITE_SEARCHER", raising=False)
        stack = start_serve()
    user = ("faults", "a-long-enough-password")
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_superuser('faults', '', 'a-long-enough-password')",
    )
    client = SiteClient(stack.base_url, *user)
    yield client
    client.close()
    stack.stop()


FAULTS = {
    "timeout": (
        Script(stall_first=1000, stall_seconds=2.5),
        3,
        "no answer within the 1 s timeout (WFSITE_MODEL_TIMEOUT) (gave up after 3 tries)",
    ),
    "429": (Script(always_status=429), 3, "failed: HTTP 429: scripted HTTP 429 (gave up after 3 tries)"),
    "500": (Script(always_status=500), 3, "failed: HTTP 500: scripted HTTP 500 (gave up after 3 tries)"),
    "garbage": (
        Script(chunks=["# Title", "\n\nSome text", " and more"], garbage_after=2),
        1,
        "broke after 18 characters: the server sent output that is not a valid chat completion chunk",
    ),
}


@own_site
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_failing_model_server_fails_the_run_readably_after_bounded_retries(
    model_client: SiteClient, fake_model: FakeOpenAIServer, fault: str
) -> None:
    client = model_client
    script, requests, message = FAULTS[fault]
    fake_model.script = script
    before = fake_model.request_count
    session_id = f"model fault {fault}"
    client.create_session(session_id)
    run_id = client.start_run(session_id, f"A post the server will not write ({fault})")
    assert client.wait_for_run(run_id, timeout=30) == "failed"
    time.sleep(0.3)  # nothing retries after the run failed
    assert fake_model.request_count - before == requests, "not one try plus WFSITE_MODEL_MAX_RETRIES=2"
    page = html.unescape(client.get(f"/runs/{run_id}/").text)
    error = re.search(r'<p class="run-error" role="alert">(.*?)</p>', page, re.S)
    assert error, "the run page shows no error"
    assert error.group(1).startswith(f"ModelError: The model server at {fake_model.base_url} ") or (
        error.group(1).startswith(f"ModelError: The stream from {fake_model.base_url} ")
    ), error.group(1)
    assert message in error.group(1)
    assert '<span class="step-event">RunFailed</span>' in page
    assert "Nothing cached yet." in client.get(session_path(session_id)).text


# -- the web server is killed and restarted while a run streams -------------------------------------------


def sse_messages(response: httpx.Response) -> Iterator[dict[str, str]]:
    """Yield the server-sent events of a streaming response as dicts of their fields."""
    message: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if message:
                yield message
            message = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            message[name] = message[name] + "\n" + value if name in message else value


def read_until_broken(
    response: httpx.Response, *, after_chunks: int, then: Callable[[], None]
) -> tuple[list[dict[str, str]], bool]:
    """Read messages, calling `then` once `after_chunks` text chunks arrived; say whether the stream broke."""
    messages: list[dict[str, str]] = []
    chunks = 0
    try:
        for message in sse_messages(response):
            messages.append(message)
            chunks += CHUNK.search(message.get("data", "")) is not None
            if chunks == after_chunks:
                then()
    except httpx.HTTPError:
        return messages, True
    return messages, False


# A chunk's message swaps the post's open block (and appends the blocks it completed).
CHUNK = re.compile(r'<hx-partial hx-target="#run-tail" hx-swap="innerHTML">', re.S)


@own_site
@pytest.mark.timeout(120)
def test_a_web_server_restart_mid_stream_loses_nothing(tmp_path: Path) -> None:
    site = SiteProcesses.create(tmp_path, WFSITE_OFFLINE_DELAY="0.005")
    try:
        username, password = site.make_superuser()
        site.start_web()
        site.start_workers(1)
        client = SiteClient(site.base_url, username, password)
        client.create_session("restart ✓")
        run_id = client.start_run("restart ✓", "Surviving a restart")
        events_url = f"/runs/{run_id}/events/"
        with client.http.stream("GET", events_url, timeout=30) as response:
            first, broken = read_until_broken(response, after_chunks=5, then=site.kill_web)
        assert broken, "the stream did not break when the web server was killed"
        assert not any(m.get("event") == "done" for m in first), "the run ended before the restart"
        last_id = [m["id"] for m in first if "id" in m][-1]
        wait_for(
            lambda: site.newest_event(run_id) > int(last_id), what="the worker to go on with no web server"
        )
        site.start_web()
        with client.http.stream(
            "GET", events_url, headers={"Last-Event-ID": last_id}, timeout=60
        ) as response:
            second = list(sse_messages(response))
        assert second[-1] == {"event": "done", "data": "succeeded"}
        with client.http.stream("GET", events_url, timeout=60) as response:
            replay = [m for m in sse_messages(response) if "id" in m]
        resumed = [m for m in first + second if "id" in m]
        ids = [int(m["id"]) for m in resumed]
        assert ids == list(range(1, len(ids) + 1)), "events missed or repeated across the restart"
        assert resumed == replay, "the events seen across the restart differ from a full replay"
        report = site.shell(REPORT, T_SESSION="restart ✓")
        run = report["runs"][run_id]
        assert run["status"] == "succeeded"
        assert len(run["events"]) == len(ids)
        post = page_for("")
        for message in resumed:
            apply(post, message["data"])
        assert post["#run-blocks"] + post["#run-tail"] == render_markdown(run["output"]), (
            "the streamed post is not the post"
        )
        assert report["state"]["blog_posts"] == [{"topic": "Surviving a restart", "blog_post": run["output"]}]
        page = client.get(f"/runs/{run_id}/").text
        assert "badge-succeeded" in page
        assert 'id="run-result"' in page
        client.close()
    finally:
        site.stop()


@own_site
def test_a_model_server_sending_lone_surrogates_writes_a_post_every_page_shows(
    model_client: SiteClient, fake_model: FakeOpenAIServer
) -> None:
    # The fake server's json.dumps writes "\ud800" escapes, as a careless server would.
    fake_model.script = Script(chunks=["# Odd text\n\n", "half \ud800 a pair", " and \udfff the other"])
    session_id = "model sends lone surrogates"
    model_client.create_session(session_id)

    run_id = model_client.start_run(session_id, "Surrogates")

    assert model_client.wait_for_run(run_id, timeout=30) == "succeeded"
    for path in (
        session_path(session_id),
        session_path(session_id, "state/"),
        session_path(session_id, "state/history/"),
        session_path(session_id, "export/"),
        f"/runs/{run_id}/",
    ):
        assert model_client.get(path).status_code == 200, path
    exported = model_client.get(session_path(session_id, "export/")).json()
    [post] = exported["state"]["blog_posts"]
    assert "half \ufffd a pair and \ufffd the other" in post["blog_post"]
