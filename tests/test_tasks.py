"""The run task: enqueued with the run's id on commit, calling run_execute, through real backends."""

from __future__ import annotations

from typing import Any

import pytest
from django_tasks.backends.dummy import DummyBackend
from django_tasks_db.models import DBTaskResult

from sessions_app.models import WorkflowRun
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
from sessions_app.tasks import run_execute_task

pytestmark = pytest.mark.django_db


class RefusingBackend(DummyBackend):
    """A queue that is down (Redis unreachable, say)."""

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        raise ConnectionError("the queue is unreachable")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WFSITE_MODEL_PROVIDER", raising=False)
    monkeypatch.setenv("WFSITE_OFFLINE_DELAY", "0")


def start(topic: str, capture: Any) -> WorkflowRun:
    session = session_create(session_id=f"tasks {topic}", workflow="BlogPostGenerator", user=None)
    with capture(execute=True):
        run = run_start(session=session, inputs={"topic": topic}, user=None)
    run.refresh_from_db()
    return run


def test_task_is_a_module_level_task_taking_the_run_id() -> None:
    assert run_execute_task.module_path == "sessions_app.tasks.run_execute_task"
    assert run_execute_task.queue_name == "default"


def test_immediate_backend_runs_the_run_through_the_task(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    run = start("otters", django_capture_on_commit_callbacks)
    assert (run.status, run.cache_hit) == ("succeeded", False)
    assert run.output.startswith("# ")


def test_database_backend_stores_the_task_for_db_worker(django_capture_on_commit_callbacks: Any) -> None:
    run = start("herons", django_capture_on_commit_callbacks)
    stored = DBTaskResult.objects.get()
    assert str(stored.id) == run.task_id
    assert stored.task_path == "sessions_app.tasks.run_execute_task"
    assert stored.args_kwargs == {"args": [str(run.run_id)], "kwargs": {}}
    assert run.status == "queued"


def test_a_queue_that_refuses_the_task_fails_the_run_at_once(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": f"{__name__}.RefusingBackend"}}
    run = start("newts", django_capture_on_commit_callbacks)
    assert run.status == "failed"
    assert run.error == "The run could not be queued: ConnectionError: the queue is unreachable"
    assert [(e.event, e.content) for e in run.events.all()] == [("RunFailed", run.error)]
    assert run.session.runs.count() == 1
    run.session.refresh_from_db()
    assert run.session.last_run_status == "failed"
