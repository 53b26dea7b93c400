"""run_execute (the worker's side), the event writer, the heartbeat and the reaper."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models.signals import post_save
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from sessions_app.models import RunEvent, StateEntry, WorkflowRun, WorkflowSession
from sessions_app.services.run_events import RunEventWriter
from sessions_app.services.run_failures import (
    STALE_ERROR,
    WorkerLostError,
    run_fail,
    run_reap_if_stale,
    runs_reap_stale,
)
from sessions_app.services.run_worker import STOPPED_ERROR, run_execute
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
from sessions_app.state.store import state_load, state_replace
from sessions_app.workflow import RunResponse, Workflow

DUMMY_TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
PAUSE = 0.4


class Exploding(Workflow):
    """Changes its state, then fails the way a buggy workflow does."""

    def run(self, topic: str) -> Iterator[RunResponse]:
        self.session_state["seen"] = topic
        yield RunResponse(content="half ")
        raise RuntimeError(f"cannot write about {topic}")


class Slow(Workflow):
    """Yields, pauses long enough for a few heartbeats, and finishes."""

    def run(self, pause: float = PAUSE) -> Iterator[RunResponse]:
        yield RunResponse(event="Started", content="started")
        time.sleep(pause)
        yield RunResponse(event="WorkflowCompleted", content="done")


class Reaped(Workflow):
    """Is failed by someone else (as the reaper would) and would go on for seconds if not stopped."""

    def run(self) -> Iterator[RunResponse]:
        run = WorkflowRun.objects.get(run_id=self.run_id)
        run_fail(run=run, error="reaped while running")
        for step in range(100):
            time.sleep(0.05)
            yield RunResponse(content=f"{step} ")


class Chunky(Workflow):
    """Ends on streamed chunks, with nothing after them that would flush them."""

    def run(self, count: int = 200) -> Iterator[RunResponse]:
        for index in range(count):
            yield RunResponse(content=f"{index} ")


class Stopped(Workflow):
    """Is interrupted the way db_worker's second SIGTERM interrupts a task."""

    def run(self) -> Iterator[RunResponse]:
        yield RunResponse(content="a")
        raise SystemExit(1)


@pytest.fixture(autouse=True)
def worker_settings(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.TASKS = DUMMY_TASKS
    settings.WFSITE_WORKFLOWS = [
        "sessions_app.workflow.BlogPostGenerator",
        *(f"{__name__}.{name}" for name in ("Exploding", "Slow", "Reaped", "Chunky", "Stopped")),
    ]
    for name in ("WFSITE_MODEL_PROVIDER", "WFSITE_SEARCHER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WFSITE_OFFLINE_DELAY", "0")


@pytest.fixture
def start(db: None) -> Callable[..., WorkflowRun]:
    """Return a function that queues a run of `workflow` on a fresh session."""

    def make(workflow: str = "BlogPostGenerator", session_id: str = "s", **inputs: Any) -> WorkflowRun:
        session = WorkflowSession.objects.filter(session_id=session_id).first()
        session = session or session_create(session_id=session_id, workflow=workflow, user=None)
        return run_start(session=session, inputs=inputs, user=None)

    return make


def events(run: WorkflowRun) -> list[RunEvent]:
    return list(RunEvent.objects.filter(run=run).order_by("seq"))


def test_offline_run_end_to_end(start: Callable[..., WorkflowRun]) -> None:
    run = start(topic="Tide pools ")
    run_execute(run_id=str(run.run_id))
    run.refresh_from_db()
    assert (run.status, run.cache_hit, run.error) == ("succeeded", False, "")
    assert run.output.startswith("# ")
    assert run.finished_at >= run.started_at
    rows = events(run)
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    names = [row.event for row in rows]
    assert names[:3] == ["ResearchStarted", "ResearchCompleted", "WritingStarted"]
    assert names[-2:] == ["PostCached", "WorkflowCompleted"]
    chunks = [row for row in rows if row.event == "RunResponse"]
    assert names[3 : 3 + len(chunks)] == ["RunResponse"] * len(chunks)
    streamed = sum(row.data["chunks"] for row in chunks)
    assert 1 < len(chunks) < streamed  # merged, yet more than one row: the first chunk went at once
    assert "".join(row.content for row in chunks) == run.output == rows[-1].content
    assert rows[2].data == {"model": "offline"}
    assert rows[1].data["extra_data"]["step"] == "skipped"
    entry = StateEntry.objects.get(session=run.session, key="blog_posts")
    assert entry.value == {"topic": "Tide pools", "blog_post": run.output}
    assert entry.lookup_key == "tide pools"
    run.session.refresh_from_db()
    assert (run.session.run_count, run.session.last_run_status) == (1, "succeeded")
    again = start(topic="TIDE POOLS")
    assert (again.status, again.cache_hit, again.output) == ("succeeded", True, run.output)


def test_model_server_failure_fails_the_run_readably(
    start: Callable[..., WorkflowRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("WFSITE_MODEL_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("WFSITE_MODEL_MAX_RETRIES", "0")
    run = start(topic="anything")
    run_execute(run_id=str(run.run_id))
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith(f"ModelError: The model server at http://127.0.0.1:{port}/v1 failed:")
    assert "is the server running at that address?" in run.error
    rows = events(run)
    assert [row.event for row in rows][-2:] == ["WritingStarted", "RunFailed"]
    assert rows[-1].content == run.error
    assert run.session.runs.get().status == "failed"
    assert WorkflowSession.objects.get(pk=run.session_id).last_run_status == "failed"


def test_raising_workflow_fails_and_keeps_its_state(start: Callable[..., WorkflowRun]) -> None:
    run = start("Exploding", topic="eels")
    run_execute(run_id=str(run.run_id))  # does not raise
    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "RuntimeError: cannot write about eels")
    assert [(row.event, row.content) for row in events(run)] == [
        ("RunResponse", "half "),
        ("RunFailed", "RuntimeError: cannot write about eels"),
    ]
    assert state_load(run.session) == {"seen": "eels"}


@pytest.mark.parametrize(("workflow", "status"), [("Chunky", "succeeded"), ("Exploding", "failed")])
def test_every_event_is_written_before_the_run_is_seen_finished(
    start: Callable[..., WorkflowRun], workflow: str, status: str
) -> None:
    run = start(workflow, **({"topic": "eels"} if workflow == "Exploding" else {}))
    seen_at_finish: list[list[str]] = []

    def on_save(instance: WorkflowRun, **kwargs: Any) -> None:
        if instance.pk == run.pk and instance.is_finished:
            seen_at_finish.append([row.event for row in events(instance)])

    post_save.connect(on_save, sender=WorkflowRun, weak=False)
    try:
        run_execute(run_id=str(run.run_id))
    finally:
        post_save.disconnect(on_save, sender=WorkflowRun)
    run.refresh_from_db()
    assert run.status == status
    assert seen_at_finish == [[row.event for row in events(run)]]  # a reader that saw the end saw it all
    if workflow == "Chunky":
        assert "".join(row.content for row in events(run)) == "".join(f"{i} " for i in range(200))


def test_unregistered_workflow_fails_the_run(start: Callable[..., WorkflowRun], settings: Any) -> None:
    run = start("Exploding", topic="eels")
    settings.WFSITE_WORKFLOWS = ["sessions_app.workflow.BlogPostGenerator"]
    run_execute(run_id=str(run.run_id))
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("UnknownWorkflowError: No workflow named 'Exploding' is registered")
    assert [row.event for row in events(run)] == ["RunFailed"]


def test_worker_stop_fails_the_run_and_goes_on_stopping(start: Callable[..., WorkflowRun]) -> None:
    run = start("Stopped")
    with pytest.raises(SystemExit):
        run_execute(run_id=str(run.run_id))
    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", STOPPED_ERROR)
    assert [row.event for row in events(run)] == ["RunResponse", "RunFailed"]


def test_only_queued_runs_are_executed(start: Callable[..., WorkflowRun]) -> None:
    run = start("Slow", pause=0)
    run.mark_finished(WorkflowRun.Status.CANCELLED)
    run_execute(run_id=str(run.run_id))
    run_execute(run_id="not-a-uuid")
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert not events(run)


@pytest.mark.usefixtures("shared_db")
def test_heartbeat_advances_during_a_slow_run(start: Callable[..., WorkflowRun], settings: Any) -> None:
    settings.WFSITE_HEARTBEAT_INTERVAL = 0.05
    run = start("Slow")
    run_execute(run_id=str(run.run_id))
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.heartbeat_at - run.started_at >= timedelta(seconds=PAUSE / 2)


@pytest.mark.usefixtures("shared_db")
def test_worker_stops_a_run_failed_elsewhere(start: Callable[..., WorkflowRun], settings: Any) -> None:
    settings.WFSITE_HEARTBEAT_INTERVAL = 0.05
    run = start("Reaped")
    began = time.monotonic()
    run_execute(run_id=str(run.run_id))
    assert time.monotonic() - began < 2  # not the 5 s the workflow would take
    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "reaped while running")  # not the engine's "cancelled"
    rows = [(row.event, row.content) for row in events(run)]
    assert rows[0] == rows[-1] == ("RunFailed", "reaped while running")
    assert {event for event, _ in rows[1:-1]} == {"RunResponse"}  # numbered after the reaper's event
    assert len(rows) < 10


def test_event_writer_batches_chunks_by_time_and_count(start: Callable[..., WorkflowRun]) -> None:
    run = start("Slow")
    now = [0.0]
    writer = RunEventWriter(run, flush_seconds=0.05, flush_chunks=3, clock=lambda: now[0])
    written = lambda: [(r.event, r.content, r.data) for r in events(run)]  # noqa: E731
    writer.add(RunResponse(content="a", model="m"))
    assert written() == [("RunResponse", "a", {"model": "m", "chunks": 1})]  # first chunk at once
    writer.add(RunResponse(content="b", model="m"))
    writer.add(RunResponse(content="c", model="m"))
    assert len(written()) == 1
    writer.add(RunResponse(content="d", model="m"))  # the third pending chunk
    assert written()[1] == ("RunResponse", "bcd", {"model": "m", "chunks": 3})
    writer.add(RunResponse(content="e", model="m"))
    now[0] = 1.0
    writer.add(RunResponse(content="f", model="other"))  # time is up; another model starts a row
    writer.add(RunResponse(event="Done", content={"n": 1}, extra_data={"k": [1]}))
    assert written()[2:] == [
        ("RunResponse", "e", {"model": "m", "chunks": 1}),
        ("RunResponse", "f", {"model": "other", "chunks": 1}),
        ("Done", '{"n": 1}', {"extra_data": {"k": [1]}}),
    ]
    assert [r.seq for r in events(run)] == [1, 2, 3, 4, 5]


# -- reaping --------------------------------------------------------------------------------------------


def test_reaper_fails_stale_runs_and_leaves_fresh_ones(
    start: Callable[..., WorkflowRun], settings: Any
) -> None:
    settings.WFSITE_HEARTBEAT_TIMEOUT = 30
    stale, fresh, queued = (start("Slow", session_id=name) for name in ("stale", "fresh", "queued"))
    now = timezone.now()
    state_replace(stale.session, {"kept": [1, 2]})
    for run in (stale, fresh):
        run.mark_running(now=now - timedelta(seconds=100))
    WorkflowRun.objects.filter(pk=fresh.pk).update(heartbeat_at=now - timedelta(seconds=10))
    WorkflowRun.objects.filter(pk=stale.pk).update(heartbeat_at=now - timedelta(seconds=42))
    assert runs_reap_stale(now=now) == 1
    assert runs_reap_stale(now=now) == 0
    stale.refresh_from_db()
    assert (stale.status, stale.finished_at) == ("failed", now)
    assert stale.error == STALE_ERROR.format(seconds=42)
    assert "(no heartbeat for 42 s); state saved up to its last write is kept." in stale.error
    assert [(e.event, e.content) for e in events(stale)] == [("RunFailed", stale.error)]
    assert WorkflowSession.objects.get(pk=stale.session_id).last_run_status == "failed"
    assert state_load(stale.session) == {"kept": [1, 2]}
    assert WorkflowRun.objects.get(pk=fresh.pk).status == "running"
    assert WorkflowRun.objects.get(pk=queued.pk).status == "queued"


def test_reap_if_stale_checks_one_run(start: Callable[..., WorkflowRun], settings: Any) -> None:
    settings.WFSITE_HEARTBEAT_TIMEOUT = 30
    run = start("Slow")
    assert not run_reap_if_stale(run=run)  # queued: nothing to check
    run.mark_running(now=timezone.now() - timedelta(seconds=31))
    assert not run_reap_if_stale(run=run, now=run.heartbeat_at + timedelta(seconds=29))
    assert run_reap_if_stale(run=run)
    assert run.status == "failed"
    assert WorkflowRun.objects.get(pk=run.pk).status == "failed"


def test_the_reaper_fails_the_task_queue_row_of_a_dead_worker_too(
    start: Callable[..., WorkflowRun], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    settings.WFSITE_HEARTBEAT_TIMEOUT = 30
    with django_capture_on_commit_callbacks(execute=True):
        dead, finished = start("Slow", session_id="dead"), start("Slow", session_id="finished")
    now = timezone.now()
    for run in (dead, finished):
        run.refresh_from_db()
        DBTaskResult.objects.get(id=run.task_id).claim("a-worker-that-will-die")
        run.mark_running(now=now - timedelta(seconds=100))
    DBTaskResult.objects.filter(id=finished.task_id).update(status=TaskResultStatus.SUCCESSFUL)

    assert runs_reap_stale(now=now) == 2

    task = DBTaskResult.objects.get(id=dead.task_id)
    assert (task.status, task.finished_at) == (TaskResultStatus.FAILED, now)
    assert task.task_result.errors[0].exception_class is WorkerLostError
    assert "stopped responding (no heartbeat for 100 s)" in task.traceback
    assert DBTaskResult.objects.get(id=finished.task_id).status == TaskResultStatus.SUCCESSFUL


def test_reaping_a_run_without_a_task_row_is_fine(start: Callable[..., WorkflowRun]) -> None:
    run = start("Slow")
    run.mark_running(now=timezone.now() - timedelta(seconds=100))
    WorkflowRun.objects.filter(pk=run.pk).update(task_id="rq:job:not-a-uuid")
    run.refresh_from_db()
    assert run_reap_if_stale(run=run)
    assert not DBTaskResult.objects.exists()


def test_reap_runs_command_runs_once(start: Callable[..., WorkflowRun], settings: Any) -> None:
    settings.WFSITE_HEARTBEAT_TIMEOUT = 1
    run = start("Slow")
    run.mark_running(now=timezone.now() - timedelta(seconds=5))
    out = StringIO()
    call_command("reap_runs", stdout=out)
    assert out.getvalue() == "Marked 1 run with no heartbeat as failed.\n"
    assert WorkflowRun.objects.get(pk=run.pk).status == "failed"
    quiet, verbose = StringIO(), StringIO()
    call_command("reap_runs", stdout=quiet)
    call_command("reap_runs", stdout=verbose, verbosity=2)
    assert (quiet.getvalue(), verbose.getvalue()) == ("", "Marked 0 runs with no heartbeat as failed.\n")
