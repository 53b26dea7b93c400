"""What only DjangoWorkflowStorage has: its rows, history and run rows (tests/test_storage_guarantees.py
proves the guarantees both storages keep)."""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions_app.models import StateChange, StateEntry, WorkflowRun, WorkflowSession
from sessions_app.state.changes import ops_decode, ops_encode, ops_summary
from sessions_app.state.storage import DjangoWorkflowStorage
from sessions_app.workflow import (
    RunEvent,
    RunRecord,
    RunResponse,
    StateNotSerializableError,
    Workflow,
    WorkflowStorage,
)
from sessions_app.workflow.state import MISSING, Op, diff
from sessions_app.workflow.storage import SessionMeta
from tests.django_fixtures import assert_rows_consistent, stored_state
from tests.test_storage_guarantees import Storing
from tests.workflow.conftest import Cacher, FakeWriter

pytestmark = pytest.mark.django_db


@pytest.fixture
def storage() -> DjangoWorkflowStorage:
    return DjangoWorkflowStorage()


def topics(session_id: str = "s") -> list[str]:
    return sorted(post["topic"] for post in stored_state(session_id)["blog_posts"])


def test_it_is_a_workflow_storage(storage: DjangoWorkflowStorage) -> None:
    assert isinstance(storage, WorkflowStorage)
    storage.create()


@pytest.mark.parametrize("name", ["seed_000", "seed_001", "seed_002"])
def test_the_seeds_cache_hit_works_on_django(storage: DjangoWorkflowStorage, name: str) -> None:
    seed = importlib.import_module(f"tests.workflow.seeds.{name}")
    seed.BlogPostGenerator.writer = FakeWriter("# Post\n\nBody.")
    list(seed.BlogPostGenerator(session_id="my-session-id", storage=storage).run(topic="AI agents"))
    seed.BlogPostGenerator.writer = FakeWriter("a different post that must not be used")

    workflow = seed.BlogPostGenerator(session_id="my-session-id", storage=storage)
    events = list(workflow.run(topic="AI agents"))

    assert [(e.event, e.content) for e in events] == [(RunEvent.workflow_completed, "# Post\n\nBody.")]
    runs = storage.get_runs("my-session-id")
    assert [(r.status, r.cache_hit) for r in runs] == [("succeeded", False), ("succeeded", True)]
    assert runs[1].input == {"args": [], "kwargs": {"topic": "AI agents"}}
    assert runs[1].run_id == workflow.run_id
    session = WorkflowSession.objects.get(session_id="my-session-id")
    assert (session.run_count, session.last_run_status, session.cache_entries) == (2, "succeeded", 1)
    assert StateEntry.objects.get().lookup_key == "ai agents"


def test_storage_itself_refuses_non_json_ops(storage: DjangoWorkflowStorage) -> None:
    meta = SessionMeta(session_id="s")
    with pytest.raises(StateNotSerializableError, match=r"session_state\['x'\]"):
        storage.commit(meta=meta, base_version=0, ops=[Op("set", ("x",), object())], state={"x": object()})
    storage.commit(meta=meta, base_version=0, ops=[], state={"x": 1})
    with pytest.raises(StateNotSerializableError, match=r"session_state\['x'\]"):
        storage.commit(meta=meta, base_version=1, ops=[Op("set", ("x",), {1, 2}, 1)], state={})
    assert storage.read("s").session_state == {"x": 1}


def test_first_run_that_cannot_save_is_still_recorded(storage: DjangoWorkflowStorage) -> None:
    with pytest.raises(StateNotSerializableError):
        list(Storing(session_id="new", storage=storage, value=object()).run())

    session = WorkflowSession.objects.get(session_id="new")
    assert (session.version, stored_state("new"), session.run_count) == (0, {}, 1)
    list(Storing(session_id="new", storage=storage, value="fine").run())
    assert storage.read("new").session_state["nested"] == {"items": [1, {"when": "fine"}]}


def test_too_long_session_id_is_a_clear_error(storage: DjangoWorkflowStorage) -> None:
    with pytest.raises(ValueError, match="256 characters long; at most 255"):
        list(Cacher(session_id="x" * 256, storage=storage).run(topic="t"))
    assert WorkflowSession.objects.count() == 0


def test_each_change_is_recorded_with_decodable_ops(storage: DjangoWorkflowStorage) -> None:
    workflow = Cacher(session_id="s", storage=storage)
    list(workflow.run(topic="a"))
    list(workflow.run(topic="b"))
    workflow.session_state["tone"] = "formal"
    workflow.write_to_storage()

    changes = list(StateChange.objects.order_by("version"))
    assert [(c.version, c.source, c.summary) for c in changes] == [
        (1, "run", "appended 1 item to blog_posts"),
        (2, "run", "appended 1 item to blog_posts"),
        (3, "edit", "set tone"),
    ]
    assert changes[1].ops == [["append", ["blog_posts"], [{"topic": "b", "blog_post": "post b"}]]]
    assert changes[1].run == WorkflowRun.objects.get(run_id=uuid.UUID(storage.get_runs("s")[1].run_id))
    assert ops_decode(changes[2].ops) == [Op("set", ("tone",), "formal")]


def test_ops_encoding_round_trips_with_bases() -> None:
    ops = [
        *diff({"a": {"b": 1}, "gone": [1], "xs": [1]}, {"a": {"b": 2}, "xs": [1, 2], "new": None}),
        Op("set", ("xs", 0, "k"), [1], MISSING),
    ]
    decoded = ops_decode(ops_encode(ops))
    assert decoded == ops
    assert [d.base for d in decoded] == [1, MISSING, MISSING, [1], MISSING]
    assert ops_summary(ops) == "set a.b; appended 1 item to xs; set new; removed gone; set xs[0].k"


def test_a_dashboard_run_row_is_updated_in_place(storage: DjangoWorkflowStorage) -> None:
    list(Cacher(session_id="s", storage=storage).run(topic="a"))
    session = WorkflowSession.objects.get()
    queued = WorkflowRun.objects.create(session=session, workflow="Cacher", inputs={"topic": "b"})
    record = RunRecord(
        str(queued.run_id), "s", "Cacher", {}, "succeeded", "post b", started_at=time.time() - 1
    )
    record.ended_at = time.time()
    post = {"topic": "b", "blog_post": "post b"}
    storage.commit(
        meta=SessionMeta(session_id="s"),
        base_version=1,
        ops=[Op("append", ("blog_posts",), [post])],
        state={},
        run=record,
    )

    queued.refresh_from_db()
    assert (queued.status, queued.output, queued.state_version) == ("succeeded", "post b", 2)
    assert queued.inputs == {"topic": "b"}
    assert queued.started_at is not None
    assert queued.finished_at is not None
    assert StateChange.objects.get(version=2).run == queued
    session.refresh_from_db()
    assert (session.run_count, session.last_run_status) == (2, "succeeded")


def test_a_run_given_the_dashboards_run_id_records_into_that_row(storage: DjangoWorkflowStorage) -> None:
    session = WorkflowSession.objects.create(session_id="s", workflow="Cacher", state_size=2)
    queued = WorkflowRun.objects.create(session=session, workflow="Cacher", inputs={"topic": "b"})
    workflow = Cacher(session_id="s", storage=storage)
    workflow.use_run_id(str(queued.run_id))
    list(workflow.run(topic="b"))

    [run] = WorkflowRun.objects.all()
    assert (run.pk, run.status, run.state_version, run.output) == (queued.pk, "succeeded", 1, "post b")
    assert StateChange.objects.get().run == run


def test_upsert_is_last_writer_wins_and_bumps_the_version(storage: DjangoWorkflowStorage) -> None:
    list(Cacher(session_id="s", storage=storage).run(topic="a"))
    record = storage.read("s")
    record.session_data = {"session_state": {"blog_posts": [], "tone": "x"}, "session_name": "Named"}

    stored = storage.upsert(record)

    assert (stored.session_state, stored.version, stored.session_name) == (
        {"blog_posts": [], "tone": "x"},
        2,
        "Named",
    )
    assert StateChange.objects.get(version=2).source == "edit"
    assert_rows_consistent(WorkflowSession.objects.get())


def test_listing_deleting_and_dropping_sessions() -> None:
    blogs, other = DjangoWorkflowStorage("blogs"), DjangoWorkflowStorage("other")
    for sid in ("one", "two"):
        list(Cacher(session_id=sid, storage=blogs, user_id="u").run(topic=sid))
    list(Cacher(session_id="three", storage=other).run(topic="3"))

    assert blogs.get_all_session_ids() == ["two", "one"]
    assert DjangoWorkflowStorage().get_all_session_ids() == ["three", "two", "one"]
    assert DjangoWorkflowStorage().get_all_session_ids(user_id="u", workflow_id="blogs") == ["two", "one"]
    sessions = blogs.get_all_sessions()
    assert [s.session_state["blog_posts"][0]["topic"] for s in sessions] == ["two", "one"]
    assert blogs.read("one", user_id="someone else") is None

    blogs.delete_session("one")
    assert blogs.get_all_session_ids() == ["two"]
    blogs.drop()
    assert DjangoWorkflowStorage().get_all_session_ids() == ["three"]
    DjangoWorkflowStorage().drop()
    assert WorkflowSession.objects.count() == 0


def test_nul_in_state_on_postgresql_is_a_clear_error(storage: DjangoWorkflowStorage) -> None:
    list(Cacher(session_id="s", storage=storage).run(topic="a"))
    workflow = Cacher(session_id="s", storage=storage)
    if connection.vendor != "postgresql":
        list(workflow.run(topic="b\x00c"))
        assert "b\x00c" in topics()
        return
    with pytest.raises(StateNotSerializableError, match=r"\['blog_posts'\]\[1\]\['topic'\]: PostgreSQL"):
        list(workflow.run(topic="b\x00c"))
    assert topics() == ["a"]
    assert WorkflowRun.objects.filter(status="failed").count() == 1


def test_a_lone_surrogate_in_a_runs_state_is_refused_on_every_database(
    storage: DjangoWorkflowStorage,
) -> None:
    list(Cacher(session_id="s", storage=storage).run(topic="a"))
    workflow = Cacher(session_id="s", storage=storage)
    with pytest.raises(
        StateNotSerializableError, match=r"\['blog_posts'\]\[1\]\['topic'\]: the text holds a lone"
    ):
        list(workflow.run(topic="b\ud800c"))

    assert topics() == ["a"]
    failed = WorkflowRun.objects.get(status="failed")
    assert "lone surrogate (U+D800)" in failed.error
    assert "\\ud800" in failed.unsaved_state  # kept, escaped


def test_a_run_nesting_deeper_than_the_setting_is_refused(
    storage: DjangoWorkflowStorage, settings: Any
) -> None:
    settings.WFSITE_MAX_STATE_DEPTH = 3
    assert storage.max_depth == 3
    workflow = Cacher(session_id="s", storage=storage)
    workflow.session_state["a"] = {"b": {"c": 1}}
    workflow.write_to_storage()
    workflow.session_state["a"] = {"b": {"c": {}}}
    with pytest.raises(StateNotSerializableError, match="more than 3 levels deep"):
        workflow.write_to_storage()
    assert stored_state("s") == {"a": {"b": {"c": 1}}}


class Echo(Workflow):
    def run(self, payload: Any = None) -> Iterator[RunResponse]:
        self.session_state["ran"] = True
        yield RunResponse(content="ok")


def test_run_inputs_nested_too_deep_are_kept_as_a_note(storage: DjangoWorkflowStorage) -> None:
    deep: Any = 1
    for _ in range(900):
        deep = [deep]

    list(Echo(session_id="s", storage=storage).run(payload={"ok": [1], "deep": deep}))

    inputs = WorkflowRun.objects.get().inputs["kwargs"]["payload"]
    assert inputs["ok"] == [1]
    cut = inputs["deep"]
    for _ in range(61):  # the inputs' own levels: {"args", "kwargs"} > "payload" > "deep" > ...
        cut = cut[0]
    assert cut == "(nested deeper than 64 levels; not kept)"


def _append_queries(storage: DjangoWorkflowStorage, n: int) -> tuple[int, int]:
    """Store n posts, then count the queries of a commit that appends one, and of a whole run."""
    sid = f"s{n}"
    posts = [{"topic": f"t{i}", "blog_post": "p"} for i in range(n)]
    storage.commit(meta=SessionMeta(session_id=sid), base_version=0, ops=[], state={"blog_posts": posts})
    new = {"topic": "new", "blog_post": "p"}
    with CaptureQueriesContext(connection) as commit_queries:
        storage.commit(
            meta=SessionMeta(session_id=sid),
            base_version=1,
            ops=[Op("append", ("blog_posts",), [new])],
            state={},
        )
    with CaptureQueriesContext(connection) as run_queries:
        list(Cacher(session_id=sid, storage=storage).run(topic="newer"))
    assert len(stored_state(sid)["blog_posts"]) == n + 2
    return len(commit_queries), len(run_queries)


def test_caching_the_nth_post_costs_the_same_queries_whatever_n(storage: DjangoWorkflowStorage) -> None:
    at_10, at_1000 = _append_queries(storage, 10), _append_queries(storage, 1000)
    assert at_10 == at_1000
    print(f"queries to append one post (commit, whole run): N=10 {at_10}, N=1000 {at_1000}")
