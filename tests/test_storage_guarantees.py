"""The engine's guarantees, proven once against each storage: SqliteWorkflowStorage and DjangoWorkflowStorage.

Every test here runs twice, once per storage (`[sqlite]` and `[django]` in its id). What only one
storage has (phidata's tables, the Django rows' layout and history) is tested beside that storage:
tests/workflow/ for the engine's SQLite file, tests/state/ for the Django models.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sessions_app.workflow import (
    RunResponse,
    SqliteWorkflowStorage,
    StateConflictError,
    StateNotSerializableError,
    Workflow,
    WorkflowStorage,
)
from tests.django_fixtures import in_threads
from tests.workflow.conftest import Cacher

STORAGES = ["sqlite", "django"]
# The Django storage's runs need the test database; the SQLite one's do not touch it.
pytestmark = pytest.mark.django_db


@dataclass
class Backend:
    """One storage under test: how to open another instance on the same store, and its own checks."""

    name: str
    make: Callable[[], WorkflowStorage]
    check: Callable[[], None]

    def state(self, session_id: str = "s") -> dict[str, Any]:
        found = self.make().read(session_id)
        assert found is not None, f"no session {session_id!r}"
        return dict(found.session_state)

    def topics(self, session_id: str = "s") -> list[str]:
        return [post["topic"] for post in self.state(session_id)["blog_posts"]]


def _backend(request: pytest.FixtureRequest, tmp_path: Path, django_db: str) -> Backend:
    if request.param == "sqlite":
        db_file = tmp_path / "tmp" / "workflows.db"
        return Backend(
            "sqlite",
            lambda: SqliteWorkflowStorage(table_name="generate_blog_post_workflows", db_file=db_file),
            lambda: None,
        )
    request.getfixturevalue(django_db)
    from sessions_app.models import WorkflowSession
    from sessions_app.state.storage import DjangoWorkflowStorage
    from tests.django_fixtures import assert_rows_consistent

    def rows_consistent() -> None:
        for session in WorkflowSession.objects.all():
            assert_rows_consistent(session)

    return Backend("django", DjangoWorkflowStorage, rows_consistent)


@pytest.fixture(params=STORAGES)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each storage in turn; the Django one in a test transaction."""
    return _backend(request, tmp_path, "db")


@pytest.fixture(params=STORAGES)
def threaded_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each storage in turn; the Django one on a database that other threads' connections share."""
    return _backend(request, tmp_path, "shared_db")


@pytest.fixture
def storage(backend: Backend) -> WorkflowStorage:
    return backend.make()


# -- a run that fails, or whose consumer stops, keeps what it did -------------------------------------


def test_a_run_that_raises_keeps_its_state_and_is_recorded_failed(
    backend: Backend, storage: WorkflowStorage
) -> None:
    with pytest.raises(RuntimeError, match="model failed"):
        list(Cacher(session_id="s", storage=storage).run(topic="t", fail=True))

    # Upstream writes only after the generator is exhausted, so this post was lost there.
    assert backend.state() == {"blog_posts": [{"topic": "t", "blog_post": "post t"}]}
    [run] = storage.get_runs("s")
    assert run.status == "failed"
    assert run.error is not None
    assert "RuntimeError: model failed on t" in run.error
    backend.check()


def test_a_run_whose_consumer_stops_keeps_its_state_and_is_recorded_cancelled(
    backend: Backend, storage: WorkflowStorage
) -> None:
    stream = Cacher(session_id="s", storage=storage).run(topic="t")
    next(stream)
    next(stream)  # the post is in session_state now; the run is not finished
    stream.close()

    assert backend.topics() == ["t"]
    assert [run.status for run in storage.get_runs("s")] == ["cancelled"]
    backend.check()


# -- a value that is not JSON fails loudly and writes nothing --------------------------------------------


class Storing(Workflow):
    value: object = None

    def run(self) -> Iterator[RunResponse]:
        self.session_state["ok"] = "fine"
        self.session_state["nested"] = {"items": [1, {"when": self.value}]}
        yield RunResponse(content="done")


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "datetime"),
        (decimal.Decimal("1.5"), "Decimal"),
        ({1, 2}, "set"),
        (object(), "object"),
        (float("nan"), "NaN"),
    ],
)
def test_a_non_json_value_fails_loudly_naming_the_key_path_and_leaves_storage_untouched(
    backend: Backend, storage: WorkflowStorage, value: object, type_name: str
) -> None:
    list(Storing(session_id="s", storage=storage, value="2026-01-01").run())
    before = storage.read("s")
    assert before is not None

    with pytest.raises(StateNotSerializableError) as caught:
        list(Storing(session_id="s", storage=storage, value=value).run())

    message = str(caught.value)
    assert "session_state['nested']['items'][1]['when']" in message
    assert type_name in message
    after = storage.read("s")
    assert after is not None
    assert (after.session_state, after.version) == (before.session_state, before.version)
    failed = storage.get_runs("s")[-1]
    assert failed.status == "failed"
    assert failed.error is not None
    assert "session_state['nested']['items'][1]['when']" in failed.error
    assert failed.unsaved_state is not None
    assert '"when"' in failed.unsaved_state  # the state a person would need is kept with the run
    backend.check()


# -- clearing --------------------------------------------------------------------------------------------


class Clearing(Workflow):
    def run(self, how: str) -> Iterator[RunResponse]:
        if how == "empty":
            self.session_state.clear()
        elif how == "reassign":
            self.session_state = {}
        elif how == "delete":
            del self.session_state["blog_posts"]
        yield RunResponse(content="cleared")


@pytest.mark.parametrize("how", ["empty", "reassign", "delete"])
def test_clearing_stays_cleared(backend: Backend, storage: WorkflowStorage, how: str) -> None:
    stale = Cacher(session_id="s", storage=storage)
    list(stale.run(topic="old"))
    list(Clearing(session_id="s", storage=storage).run(how=how))

    assert "blog_posts" not in backend.state()
    backend.check()
    # A later run (a new instance, or one that had loaded the post before) does not bring it back.
    events = list(Cacher(session_id="s", storage=storage).run(topic="new"))
    assert events[-1].content == "post new"
    list(stale.run(topic="newer"))
    assert backend.topics() == ["new", "newer"]
    backend.check()


def test_a_session_deleted_meanwhile_keeps_only_the_runs_own_changes(
    backend: Backend, storage: WorkflowStorage
) -> None:
    list(Cacher(session_id="s", storage=storage).run(topic="a"))
    workflow = Cacher(session_id="s", storage=storage)
    workflow.read_from_storage()
    storage.delete_session("s")
    workflow.session_state["blog_posts"].append({"topic": "b", "blog_post": "post b"})
    workflow.write_to_storage()

    assert backend.state() == {"blog_posts": [{"topic": "b", "blog_post": "post b"}]}
    assert workflow.session_state == backend.state()
    backend.check()


# -- no lost updates: overlapping runs keep each other's writes ---------------------------------------


class Overlapping(Workflow):
    """Loads, waits until every other run has loaded too, then caches its topic."""

    barrier: Any = None

    def run(self, topic: str) -> Iterator[RunResponse]:
        self.barrier.wait(timeout=30)
        self.session_state.setdefault("blog_posts", []).append({"topic": topic, "blog_post": f"post {topic}"})
        yield RunResponse(content=f"post {topic}")


@pytest.mark.django_db(transaction=True)  # threads: each with its own connection
@pytest.mark.parametrize("existing", [False, True], ids=["new-session", "existing-session"])
def test_two_threads_on_one_session_keep_both_posts(threaded_backend: Backend, existing: bool) -> None:
    backend = threaded_backend
    if existing:
        list(Cacher(session_id="s", storage=backend.make()).run(topic="first"))
    barrier = threading.Barrier(2)

    def run(topic: str) -> None:
        list(Overlapping(session_id="s", storage=backend.make(), barrier=barrier).run(topic=topic))

    assert in_threads(lambda: run("alpha"), lambda: run("beta")) == [None, None]
    assert sorted(backend.topics()) == sorted(["alpha", "beta", *(["first"] if existing else [])])
    found = backend.make().read("s")
    assert found is not None
    assert found.version == 2 + existing
    runs = backend.make().get_runs("s")
    assert sorted(run.state_version or 0 for run in runs) == [1, 2, 3][: 2 + existing]
    backend.check()


@pytest.mark.django_db(transaction=True)  # threads: each with its own connection
def test_many_threads_appending_at_once_keep_every_post_in_order(threaded_backend: Backend) -> None:
    backend = threaded_backend
    names = [f"topic-{i}" for i in range(6)]
    barrier = threading.Barrier(len(names))

    def run(topic: str) -> None:
        list(Overlapping(session_id="s", storage=backend.make(), barrier=barrier).run(topic=topic))

    assert in_threads(*[lambda t=t: run(t) for t in names]) == [None] * len(names)
    assert sorted(backend.topics()) == names
    found = backend.make().read("s")
    assert found is not None
    assert found.version == len(names)
    assert len(backend.make().get_runs("s")) == len(names)
    backend.check()


def test_a_reused_instance_does_not_erase_another_instances_write(
    backend: Backend, storage: WorkflowStorage
) -> None:
    first = Cacher(session_id="s", storage=storage)
    list(first.run(topic="a"))
    list(Cacher(session_id="s", storage=storage).run(topic="b"))
    list(first.run(topic="c"))  # upstream: first's stale list overwrites, and "b" is gone

    assert backend.topics() == ["a", "b", "c"]
    backend.check()


def test_an_instance_that_loaded_before_another_wrote_merges_its_write(
    backend: Backend, storage: WorkflowStorage
) -> None:
    first = Cacher(session_id="s", storage=storage)
    first.read_from_storage()
    list(Cacher(session_id="s", storage=storage).run(topic="b"))
    first.session_state.setdefault("blog_posts", []).append({"topic": "a", "blog_post": "post a"})
    first.write_to_storage()

    assert backend.topics() == ["b", "a"]
    assert [p["topic"] for p in first.session_state["blog_posts"]] == ["b", "a"]
    backend.check()


def test_a_true_conflict_raises_naming_the_key_and_keeps_the_unsaved_state(
    backend: Backend, storage: WorkflowStorage
) -> None:
    first = Cacher(session_id="s", storage=storage)
    first.session_state["tone"] = "neutral"
    first.write_to_storage()
    mine, theirs = Cacher(session_id="s", storage=storage), Cacher(session_id="s", storage=storage)
    mine.read_from_storage()
    theirs.read_from_storage()
    theirs.session_state["tone"] = "formal"
    theirs.write_to_storage()

    mine.session_state["tone"] = "playful"
    mine.session_state["other"] = 1
    with pytest.raises(StateConflictError, match=r"session_state\['tone'\]") as caught:
        mine.write_to_storage()

    assert caught.value.paths == [("tone",)]
    found = storage.read("s")
    assert found is not None
    # Nothing overwritten, nothing half-applied; the run's work is still in hand.
    assert (found.session_state, found.version) == ({"tone": "formal"}, 2)
    assert mine.session_state == {"tone": "playful", "other": 1}
    backend.check()


class Toning(Workflow):
    barrier: Any = None

    def run(self, tone: str) -> Iterator[RunResponse]:
        self.barrier.wait(timeout=30)
        self.session_state["tone"] = tone
        yield RunResponse(content=tone)


@pytest.mark.django_db(transaction=True)  # threads: each with its own connection
def test_conflicting_threads_keep_the_losers_unsaved_state_on_its_run(threaded_backend: Backend) -> None:
    backend = threaded_backend
    list(Cacher(session_id="s", storage=backend.make()).run(topic="a"))
    barrier = threading.Barrier(2)

    def run(tone: str) -> None:
        list(Toning(session_id="s", storage=backend.make(), barrier=barrier).run(tone=tone))

    tones = ["formal", "playful"]
    outcomes = dict(zip(tones, in_threads(lambda: run("formal"), lambda: run("playful")), strict=True))
    [loser] = [tone for tone, error in outcomes.items() if isinstance(error, StateConflictError)]
    [winner] = [tone for tone, error in outcomes.items() if error is None]
    assert backend.state()["tone"] == winner
    [failed] = [run for run in backend.make().get_runs("s") if run.status == "failed"]
    assert failed.error is not None
    assert "session_state['tone']" in failed.error
    assert failed.unsaved_state is not None
    assert f'"tone": "{loser}"' in failed.unsaved_state
    assert failed.state_version is None
    backend.check()


# -- session ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "session_id", ["with spaces", "ünïcødé 🦜 id", "a/b?c=d&e#f%20'\"<>", "x" * 255, "line\nbreak"]
)
def test_any_session_id_the_engine_accepts_works(
    backend: Backend, storage: WorkflowStorage, session_id: str
) -> None:
    list(Cacher(session_id=session_id, storage=storage).run(topic="t"))
    assert backend.topics(session_id) == ["t"]
    assert storage.get_all_session_ids() == [session_id]
    backend.check()
