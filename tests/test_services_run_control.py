"""run_cancel and run_again: who may, a queued run never starts, a running one stops and keeps its state."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django_tasks import default_task_backend

from sessions_app.models import RunEvent, StateEntry, WorkflowRun, WorkflowSession
from sessions_app.services.rate_limits import RunRateLimitedError
from sessions_app.services.run_heartbeat import Heartbeat
from sessions_app.services.run_stop import RunStop
from sessions_app.services.run_worker import run_execute
from sessions_app.services.runs import RunConflictError, run_again, run_cancel, run_start
from sessions_app.services.sessions import session_create
from sessions_app.state.store import state_replace
from sessions_app.workflow import RunResponse, Workflow
from tests.django_fixtures import stored_state, user_with_role
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db

DUMMY_TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
STEPS = 200
BLOCKED = 1.0
STEP_PAUSE = 0.05


class SelfCancelling(Workflow):
    """Changes its state a step at a time; at `cancel_at` the person who started it cancels it."""

    def run(self, cancel_at: int = 3) -> Iterator[RunResponse]:
        for step in range(1, STEPS + 1):
            self.session_state.setdefault("steps", []).append(step)
            if step == cancel_at:
                run = WorkflowRun.objects.select_related("started_by").get(run_id=self.run_id)
                run_cancel(run=run, actor=run.started_by)
            yield RunResponse(event="Step", content=f"step {step}")
            time.sleep(STEP_PAUSE)
        yield RunResponse(event="WorkflowCompleted", content="all steps")


class Blocking(Workflow):
    """Saves a step, then blocks the way a slow model call does, then would go on for seconds."""

    def run(self) -> Iterator[RunResponse]:
        self.session_state["before_call"] = True
        yield RunResponse(event="Calling", content="calling the model")
        time.sleep(BLOCKED)
        self.session_state["after_call"] = True
        for step in range(STEPS):
            yield RunResponse(content=f"{step} ")
            time.sleep(STEP_PAUSE)


@pytest.fixture(autouse=True)
def control_settings(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings.TASKS = DUMMY_TASKS
    settings.WFSITE_WORKFLOWS = [
        "sessions_app.workflow.BlogPostGenerator",
        f"{__name__}.SelfCancelling",
        f"{__name__}.Blocking",
    ]
    for name in ("WFSITE_MODEL_PROVIDER", "WFSITE_SEARCHER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WFSITE_OFFLINE_DELAY", "0")
    default_task_backend.clear()
    yield
    default_task_backend.clear()


@pytest.fixture
def people(django_user_model: Any) -> dict[str, Any]:
    """A viewer, the runner who starts the runs, another runner, and an editor."""
    names = {"viewer": ("vic", "viewer"), "runner": ("ada", "runner"), "other": ("bob", "runner")}
    names["editor"] = ("eve", "editor")
    return {key: user_with_role(django_user_model, name, role) for key, (name, role) in names.items()}


def blog_run(user: Any, topic: str = "Kelp", state: dict[str, Any] | None = None) -> WorkflowRun:
    session = WorkflowSession.objects.filter(session_id="blog").first()
    if session is None:
        session = session_create(session_id="blog", workflow="BlogPostGenerator", user=None)
        state_replace(session, state or {})
    return run_start(session=session, inputs={"topic": topic}, user=user)


def events(run: WorkflowRun) -> list[tuple[str, str]]:
    return list(RunEvent.objects.filter(run=run).order_by("seq").values_list("event", "content"))


def test_only_the_runner_who_started_it_or_an_editor_may_cancel(people: dict[str, Any]) -> None:
    run = blog_run(people["runner"])
    for refused in (people["viewer"], people["other"]):
        with pytest.raises(PermissionDenied, match="only the runner who started it, or an editor"):
            run_cancel(run=run, actor=refused)
    run.refresh_from_db()
    assert (run.status, run.cancel_requested_at, run.cancelled_by) == ("queued", None, None)
    assert events(run) == []
    assert run_cancel(run=run, actor=people["runner"]).status == "cancelled"
    second = blog_run(people["runner"], topic="Reefs")
    assert run_cancel(run=second, actor=people["editor"]).cancelled_by == people["editor"]


def test_a_cancelled_queued_run_never_starts(
    people: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        run = blog_run(people["runner"])
    cancelled = run_cancel(run=run, actor=people["runner"])
    assert (cancelled.status, cancelled.error, cancelled.cancelled_by) == (
        "cancelled",
        "Cancelled by ada.",
        people["runner"],
    )
    assert cancelled.finished_at is not None
    assert cancelled.started_at is None
    run.session.refresh_from_db()
    assert run.session.last_run_status == "cancelled"
    # Its task is still in the queue; the worker that picks it up skips it.
    assert [result.args[0] for result in default_task_backend.results] == [str(run.run_id)]
    run_execute(run_id=str(run.run_id))
    run.refresh_from_db()
    assert (run.status, run.started_at) == ("cancelled", None)
    assert events(run) == [("RunCancelled", "Cancelled by ada.")]
    assert stored_state("blog") == {}


def test_a_finished_run_cannot_be_cancelled(people: dict[str, Any]) -> None:
    run = blog_run(people["runner"], state={"blog_posts": [{"topic": "Kelp", "blog_post": "cached"}]})
    assert (run.status, run.cache_hit) == ("succeeded", True)
    with pytest.raises(RunConflictError, match=r"already ended \(succeeded\)"):
        run_cancel(run=run, actor=people["editor"])
    run.refresh_from_db()
    assert (run.status, run.cancelled_by) == ("succeeded", None)


def test_a_running_run_stops_at_its_next_check_and_keeps_its_state(people: dict[str, Any]) -> None:
    session = session_create(session_id="steps", workflow="SelfCancelling", user=None)
    state_replace(session, {"kept": "from before"})
    run = run_start(session=session, inputs={"cancel_at": 3}, user=people["runner"])
    began = time.monotonic()
    run_execute(run_id=str(run.run_id))
    assert time.monotonic() - began < STEPS * STEP_PAUSE / 2  # not the whole run
    run.refresh_from_db()
    assert (run.status, run.error, run.cancelled_by) == ("cancelled", "Cancelled by ada.", people["runner"])
    assert run.cancel_requested_at is not None
    assert run.finished_at >= run.cancel_requested_at
    rows = events(run)
    steps = [content for event, content in rows if event == "Step"]
    assert 3 <= len(steps) < STEPS / 2
    assert steps == [f"step {n}" for n in range(1, len(steps) + 1)]
    assert rows == [*(("Step", step) for step in steps), ("RunCancelled", "Cancelled by ada.")]
    # The state the run made up to its last event is saved, as for any run whose consumer stopped.
    assert stored_state(session.session_id) == {
        "kept": "from before",
        "steps": list(range(1, len(steps) + 1)),
    }
    session.refresh_from_db()
    assert session.last_run_status == "cancelled"


@pytest.mark.usefixtures("shared_db")
def test_a_run_blocked_in_a_model_call_is_cancelled_once_the_call_returns(people: dict[str, Any]) -> None:
    session = session_create(session_id="blocked", workflow="Blocking", user=None)
    run = run_start(session=session, inputs={}, user=people["runner"])
    done = threading.Event()

    def work() -> None:
        try:
            run_execute(run_id=str(run.run_id))
        finally:
            connection.close()
            done.set()

    worker = threading.Thread(target=work)
    worker.start()
    wait_for(
        lambda: RunEvent.objects.filter(run=run, event="Calling").exists(),
        what="the run to reach its model call",
    )
    asked = time.monotonic()
    run_cancel(run=WorkflowRun.objects.get(pk=run.pk), actor=people["editor"])
    assert done.wait(30), "the worker did not stop"
    worker.join()
    # Within the rest of the blocked call plus a check interval, not the seconds the run would take.
    assert time.monotonic() - asked < BLOCKED + 5
    run.refresh_from_db()
    assert (run.status, run.error, run.cancelled_by) == ("cancelled", "Cancelled by eve.", people["editor"])
    assert stored_state(session.session_id) == {"before_call": True, "after_call": True}
    assert len([row for row in events(run) if row[0] == "RunResponse"]) <= 2


def test_cancelling_a_running_run_twice_keeps_who_asked_first(people: dict[str, Any]) -> None:
    run = blog_run(people["runner"])
    run.mark_running()
    asked = run_cancel(run=run, actor=people["runner"])
    assert (asked.status, asked.cancelled_by) == ("running", people["runner"])
    again = run_cancel(run=run, actor=people["editor"])
    assert (again.status, again.cancelled_by, again.cancel_requested_at) == (
        "running",
        people["runner"],
        asked.cancel_requested_at,
    )


def test_the_worker_checks_for_a_cancel_at_most_every_interval(
    people: dict[str, Any], django_assert_num_queries: Any
) -> None:
    run = blog_run(people["runner"])
    run.mark_running()
    heartbeat = Heartbeat(run, interval=60)  # never started: only its ended_elsewhere is read
    stop = RunStop(run, heartbeat, every=60)
    with django_assert_num_queries(1):
        assert not stop.should_stop()  # the first event checks at once
        for _ in range(100):
            assert not stop.should_stop()
    run_cancel(run=run, actor=people["runner"])
    assert not stop.should_stop()  # not until the interval has passed
    stop = RunStop(run, heartbeat, every=0)
    assert stop.should_stop()
    assert stop.ended == ("cancelled", "Cancelled by ada.")


def test_run_again_starts_the_same_inputs_as_the_person_asking(
    people: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    first = blog_run(people["runner"], topic=" Deep  sea ")
    run_cancel(run=first, actor=people["runner"])
    first.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        again = run_again(run=first, actor=people["other"])
    assert again.pk != first.pk
    assert (again.status, again.inputs, again.started_by) == ("queued", first.inputs, people["other"])
    assert again.inputs == {"topic": first.inputs["topic"], "use_cache": True}
    assert [result.args[0] for result in default_task_backend.results] == [str(again.run_id)]


def test_run_again_is_refused_to_viewers_and_for_unfinished_runs(people: dict[str, Any]) -> None:
    run = blog_run(people["runner"])
    with pytest.raises(RunConflictError, match="still queued"):
        run_again(run=run, actor=people["runner"])
    run.mark_finished("failed", error="boom")
    with pytest.raises(PermissionDenied, match="runner role"):
        run_again(run=run, actor=people["viewer"])
    assert WorkflowRun.objects.count() == 1


def test_run_again_answers_from_the_cache_and_joins_a_run_in_flight(people: dict[str, Any]) -> None:
    cached = blog_run(people["runner"], state={"blog_posts": [{"topic": "Kelp", "blog_post": "cached post"}]})
    hit = run_again(run=cached, actor=people["runner"])
    assert (hit.status, hit.cache_hit, hit.output) == ("succeeded", True, "cached post")
    failed = blog_run(people["runner"], topic="Reefs")
    failed.mark_finished("failed", error="boom")
    flying = blog_run(people["other"], topic="reefs")
    assert run_again(run=failed, actor=people["runner"]).pk == flying.pk  # single-flight, as the form


def test_run_again_counts_against_the_rate_limit(people: dict[str, Any], settings: Any) -> None:
    settings.WFSITE_RUN_RATE_LIMIT = "2/60"
    run = blog_run(people["runner"])
    run_cancel(run=run, actor=people["runner"])
    run.refresh_from_db()
    run_again(run=run, actor=people["runner"])
    with pytest.raises(RunRateLimitedError):
        run_again(run=run, actor=people["runner"], regenerate=True)
    assert WorkflowRun.objects.filter(started_by=people["runner"]).count() == 2


def test_regenerate_turns_the_cache_off_and_replaces_the_entry(people: dict[str, Any]) -> None:
    state = {"blog_posts": [{"topic": "Kelp", "blog_post": "old post"}, {"topic": "Other", "blog_post": "x"}]}
    hit = blog_run(people["runner"], state=state)
    assert hit.cache_hit
    fresh = run_again(run=hit, actor=people["runner"], regenerate=True)
    assert (fresh.status, fresh.inputs) == ("queued", {"topic": "Kelp", "use_cache": False})
    run_execute(run_id=str(fresh.run_id))
    fresh.refresh_from_db()
    assert (fresh.status, fresh.cache_hit) == ("succeeded", False)
    posts = stored_state("blog")["blog_posts"]
    assert [post["topic"] for post in posts].count("Kelp") == 1
    assert {post["topic"]: post["blog_post"] for post in posts} == {"Kelp": fresh.output, "Other": "x"}
    assert StateEntry.objects.filter(session=fresh.session, lookup_key="kelp").count() == 1
    # Running the regenerated run again answers from the new entry.
    assert run_again(run=hit, actor=people["runner"]).output == fresh.output


def test_regenerate_needs_a_declared_cache(people: dict[str, Any]) -> None:
    session = session_create(session_id="steps", workflow="SelfCancelling", user=None)
    run = run_start(session=session, inputs={"cancel_at": 1}, user=people["runner"])
    run.mark_finished("failed", error="boom")
    with pytest.raises(ValidationError, match="nothing to regenerate"):
        run_again(run=run, actor=people["runner"], regenerate=True)
