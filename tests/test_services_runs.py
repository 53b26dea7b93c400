"""run_start: cached answers at once, single-flight, queued runs enqueued on commit, inputs checked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django_tasks import default_task_backend

from sessions_app.models import CacheEntryStats, RunEvent, WorkflowRun, WorkflowSession
from sessions_app.selectors.caches import MAX_FLIGHT_KEY, cache_flight_key
from sessions_app.selectors.runs import aevents_since, events_since, run_get, session_runs
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
from sessions_app.state.store import state_replace
from sessions_app.tasks import run_execute_task
from sessions_app.workflow import RunResponse, Workflow
from tests.django_fixtures import in_threads, user_with_role

pytestmark = pytest.mark.django_db

DUMMY_TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
POST = "# Cached\n\nA post about agents."


class Plain(Workflow):
    """A workflow with no hooks: no cached answers, flights keyed by its whole inputs."""

    def run(self, words: int, loud: bool = False) -> Iterator[RunResponse]:
        yield RunResponse(content="x" * words)


@pytest.fixture(autouse=True)
def dummy_tasks(settings: Any) -> Iterator[None]:
    settings.TASKS = DUMMY_TASKS
    settings.WFSITE_WORKFLOWS = ["sessions_app.workflow.BlogPostGenerator", f"{__name__}.Plain"]
    default_task_backend.clear()
    yield
    default_task_backend.clear()


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return user_with_role(django_user_model, "ada", "runner")


@pytest.fixture
def blog_session(user: Any) -> Callable[..., WorkflowSession]:
    def make(state: dict[str, Any] | None = None, session_id: str = "blog é 1") -> WorkflowSession:
        session = session_create(session_id=session_id, workflow="BlogPostGenerator", user=user)
        if state is not None:
            state_replace(session, state)
        return session

    return make


def enqueued_run_ids() -> list[str]:
    return [result.args[0] for result in default_task_backend.results]


def test_queued_run_is_enqueued_once_on_commit(
    blog_session: Callable[..., WorkflowSession], user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = blog_session()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = run_start(session=session, inputs={"topic": "  AI agents "}, user=user)
        assert enqueued_run_ids() == []  # nothing reaches the queue before the commit
    assert len(callbacks) == 1
    assert enqueued_run_ids() == [str(run.run_id)]
    run.refresh_from_db()
    assert run.status == WorkflowRun.Status.QUEUED
    assert run.inputs == {"topic": "AI agents", "use_cache": True}
    assert (run.flight_key, run.started_by, run.workflow) == (
        "blog_posts:ai agents",
        user,
        "BlogPostGenerator",
    )
    assert run.task_id == default_task_backend.results[0].id
    assert default_task_backend.results[0].task.func is run_execute_task.func
    session.refresh_from_db()
    assert (session.run_count, session.last_run_status) == (1, "queued")


@pytest.mark.parametrize("topic", ["AI Agents", "  ai   AGENTS  ", "ai agents"])
def test_cache_hit_answers_at_once_without_a_worker(
    blog_session: Callable[..., WorkflowSession],
    user: Any,
    django_capture_on_commit_callbacks: Any,
    topic: str,
) -> None:
    old = {"topic": "AI agents", "blog_post": "an older post"}
    session = blog_session(
        {"blog_posts": [old, {"topic": "other", "blog_post": "x"}, {**old, "blog_post": POST}]}
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = run_start(session=session, inputs={"topic": topic}, user=user)
    assert callbacks == []
    assert enqueued_run_ids() == []
    run.refresh_from_db()
    assert (run.status, run.cache_hit, run.output) == ("succeeded", True, POST)
    assert run.started_at == run.finished_at is not None
    assert [(e.seq, e.event, e.content) for e in run.events.all()] == [(1, "WorkflowCompleted", POST)]
    # The newest entry for the topic wins and is credited, by its key.
    assert dict(CacheEntryStats.objects.filter(session=session).values_list("key", "hits")) == {
        "ai agents": 1,
        "other": 0,
    }
    assert run.cache_key == "blog_posts:ai agents"
    session.refresh_from_db()
    assert (session.run_count, session.last_run_status) == (1, "succeeded")


def test_dict_shaped_cache_hits_too(blog_session: Callable[..., WorkflowSession], user: Any) -> None:
    session = blog_session()
    WorkflowSession.objects.filter(pk=session.pk).update(session_state={"blog_posts": {"AI Agents": POST}})
    run = run_start(session=session, inputs={"topic": "ai agents"}, user=user)
    assert (run.status, run.cache_hit, run.output) == ("succeeded", True, POST)


def test_use_cache_false_never_hits_and_has_no_flight_key(
    blog_session: Callable[..., WorkflowSession], user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = blog_session({"blog_posts": [{"topic": "AI agents", "blog_post": POST}]})
    with django_capture_on_commit_callbacks(execute=True):
        first = run_start(session=session, inputs={"topic": "AI agents", "use_cache": False}, user=user)
        second = run_start(session=session, inputs={"topic": "AI agents", "use_cache": False}, user=user)
    assert first.pk != second.pk
    assert (first.status, first.cache_hit, first.flight_key) == ("queued", False, "")
    assert enqueued_run_ids() == [str(first.run_id), str(second.run_id)]


def test_single_flight_joins_the_active_run_until_it_ends(
    blog_session: Callable[..., WorkflowSession], user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = blog_session()
    with django_capture_on_commit_callbacks(execute=True):
        first = run_start(session=session, inputs={"topic": "Rust"}, user=user)
        joined = run_start(session=session, inputs={"topic": " RUST "}, user=None)
        other = run_start(session=session, inputs={"topic": "Go"}, user=user)
    assert joined.pk == first.pk
    assert other.pk != first.pk
    first.mark_running()
    assert run_start(session=session, inputs={"topic": "rust"}, user=user).pk == first.pk
    first.mark_finished(WorkflowRun.Status.FAILED, error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        again = run_start(session=session, inputs={"topic": "rust"}, user=user)
    assert again.pk != first.pk
    assert enqueued_run_ids() == [str(first.run_id), str(other.run_id), str(again.run_id)]
    session.refresh_from_db()
    assert session.run_count == 3  # joining a run is not another run


@pytest.mark.usefixtures("shared_db")
def test_simultaneous_starts_share_one_run(user: Any) -> None:
    session = session_create(session_id="race", workflow="BlogPostGenerator", user=user)
    barrier = threading.Barrier(4)
    started: list[WorkflowRun] = []

    def start() -> None:
        barrier.wait(5)
        started.append(run_start(session=session, inputs={"topic": "Same topic"}, user=None))

    assert in_threads(*[start] * 4) == [None] * 4
    assert len({run.pk for run in started}) == 1
    assert WorkflowRun.objects.count() == 1
    session.refresh_from_db()
    assert session.run_count == 1


def test_single_flight_skips_a_run_whose_worker_died(
    blog_session: Callable[..., WorkflowSession], user: Any, settings: Any
) -> None:
    session = blog_session()
    first = run_start(session=session, inputs={"topic": "Rust"}, user=user)
    first.mark_running()
    WorkflowRun.objects.filter(pk=first.pk).update(heartbeat_at=first.heartbeat_at.replace(year=2000))
    second = run_start(session=session, inputs={"topic": "Rust"}, user=user)
    assert second.pk != first.pk
    first.refresh_from_db()
    assert first.status == "failed"
    assert "stopped responding" in first.error


def test_other_workflows_have_no_fast_path_and_fly_by_their_inputs(user: Any) -> None:
    session = session_create(session_id="plain", workflow="Plain", user=user)
    first = run_start(session=session, inputs={"words": 3}, user=user)
    assert first.flight_key == '{"loud":false,"words":3}'
    assert run_start(session=session, inputs={"loud": False, "words": 3}, user=user).pk == first.pk
    assert run_start(session=session, inputs={"words": 4}, user=user).pk != first.pk
    long = cache_flight_key(workflow_class=Plain, inputs={"text": "x" * 1000})
    assert long.startswith("sha256:")
    assert len(long) <= MAX_FLIGHT_KEY


@pytest.mark.parametrize(
    ("inputs", "errors"),
    [
        ({}, {"topic": ["This input is required."]}),
        ({"topic": "x", "colour": "red"}, {"colour": ["BlogPostGenerator has no input 'colour'"]}),
        ({"topic": 3}, {"topic": ["Expected text, got int."]}),
        ({"topic": "x", "use_cache": "no"}, {"use_cache": ["Expected true or false, got str."]}),
        ({"topic": "   "}, {"topic": ["The topic is empty"]}),
        ({"topic": "t" * 301}, {"topic": ["The topic is 301 characters long; the limit is 300."]}),
    ],
)
def test_invalid_inputs_are_refused_with_field_names(
    blog_session: Callable[..., WorkflowSession],
    user: Any,
    inputs: dict[str, Any],
    errors: dict[str, list[str]],
) -> None:
    session = blog_session()
    with pytest.raises(ValidationError) as caught:
        run_start(session=session, inputs=inputs, user=user)
    assert set(caught.value.message_dict) == set(errors)
    for field, messages in errors.items():
        assert caught.value.message_dict[field][0].startswith(messages[0])
    assert not WorkflowRun.objects.exists()


def test_wrong_types_for_other_workflows(user: Any) -> None:
    session = session_create(session_id="plain", workflow="Plain", user=user)
    with pytest.raises(ValidationError) as caught:
        run_start(session=session, inputs={"words": True, "loud": 1}, user=user)
    assert caught.value.message_dict == {
        "words": ["Expected a whole number, got bool."],
        "loud": ["Expected true or false, got int."],
    }


# -- session_create ----------------------------------------------------------------------------------


@pytest.mark.parametrize("session_id", ["x", "with spaces", "ünïcödé 🦜", "a/b?c#d%20'\"<>", "s" * 255])
def test_session_create_accepts_any_printable_id(user: Any, session_id: str) -> None:
    session = session_create(session_id=session_id, workflow="BlogPostGenerator", name="Mine", user=user)
    session.refresh_from_db()
    assert (session.session_id, session.name, session.user_id) == (session_id, "Mine", "ada")


@pytest.mark.parametrize(
    ("session_id", "workflow", "field", "message"),
    [
        ("", "BlogPostGenerator", "session_id", "Give the session an id"),
        ("s" * 256, "BlogPostGenerator", "session_id", "The id is 256 characters long"),
        ("tab\there", "BlogPostGenerator", "session_id", "The id contains control characters (U+0009)"),
        ("nul\x00", "BlogPostGenerator", "session_id", "The id contains control characters (U+0000)"),
        ("ok", "Nope", "workflow", "No workflow named 'Nope' is registered"),
    ],
)
def test_session_create_refuses_bad_input(
    user: Any, session_id: str, workflow: str, field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        session_create(session_id=session_id, workflow=workflow, user=user)
    assert caught.value.message_dict[field][0].startswith(message)


def test_session_create_refuses_a_duplicate_id(user: Any) -> None:
    session_create(session_id="same", workflow="BlogPostGenerator", user=user)
    with pytest.raises(ValidationError) as caught:
        session_create(session_id="same", workflow="BlogPostGenerator", user=None)
    assert caught.value.message_dict == {"session_id": ["A session with the id 'same' already exists."]}


# -- selectors ----------------------------------------------------------------------------------------


async def _async_events(run: WorkflowRun, after_seq: int) -> list[RunEvent]:
    return await aevents_since(run=run, after_seq=after_seq, limit=2)


def test_selectors(blog_session: Callable[..., WorkflowSession], user: Any) -> None:
    session = blog_session()
    runs = [run_start(session=session, inputs={"topic": f"t{i}"}, user=user) for i in range(3)]
    RunEvent.objects.bulk_create(
        RunEvent(run=runs[0], seq=seq, event="E", content=str(seq)) for seq in (1, 2, 3)
    )
    assert [e.seq for e in events_since(run=runs[0], after_seq=1)] == [2, 3]
    assert [e.seq for e in events_since(run=runs[0], after_seq=0, limit=2)] == [1, 2]
    assert run_get(run_id=str(runs[1].run_id)) == runs[1]
    assert run_get(run_id=runs[1].run_id) == runs[1]
    assert run_get(run_id="not a uuid") is None
    assert session_runs(session=session, limit=2) == [runs[2], runs[1]]


def test_async_events_since(blog_session: Callable[..., WorkflowSession]) -> None:
    run = WorkflowRun.objects.create(session=blog_session(), workflow="BlogPostGenerator")
    RunEvent.objects.bulk_create(RunEvent(run=run, seq=seq, event="E") for seq in (1, 2, 3))
    # async_to_sync runs the ORM's thread-sensitive calls on this thread, inside the test's transaction.
    assert [e.seq for e in async_to_sync(_async_events)(run, 0)] == [1, 2]
    assert [e.seq for e in async_to_sync(_async_events)(run, 2)] == [3]
