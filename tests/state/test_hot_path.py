"""The storage's raw-SQL read and append (state.hot_path) write what the ORM path writes, in fewer statements."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions_app.limits import StateTooLargeError
from sessions_app.models import CacheEntryStats, StateChange, StateEntry, WorkflowSession
from sessions_app.state.changes import ops_decode
from sessions_app.state.hot_path import read_state
from sessions_app.state.storage import DjangoWorkflowStorage
from sessions_app.state.store import state_load
from sessions_app.workflow.state import Op, diff
from sessions_app.workflow.storage import RunRecord, SessionMeta
from tests.django_fixtures import assert_rows_consistent

pytestmark = pytest.mark.django_db

WORKFLOW = "BlogPostGenerator"  # a registered workflow whose `blog_posts` is a declared cache


def post(i: int, text: str = "post") -> dict[str, str]:
    return {"topic": f"Topic {i}", "blog_post": f"{text} {i} é 🦜"}


def seeded(storage: DjangoWorkflowStorage, session_id: str, state: dict[str, Any]) -> int:
    meta = SessionMeta(session_id=session_id, workflow_id=WORKFLOW)
    return storage.commit(meta=meta, base_version=0, ops=diff({}, state), state=state).version


def append(
    storage: DjangoWorkflowStorage, session_id: str, version: int, items: list[Any], **meta: Any
) -> Any:
    return storage.commit(
        meta=SessionMeta(session_id=session_id, workflow_id=WORKFLOW, **meta),
        base_version=version,
        ops=[Op("append", ("blog_posts",), items)],
        state={},
    )


def rows(session_id: str) -> dict[str, Any]:
    """Everything the two paths write, without ids and times."""
    session = WorkflowSession.objects.get(session_id=session_id)
    return {
        "session": (
            session.version,
            session.list_keys,
            session.session_state,
            session.state_size,
            session.cache_entries,
            session.name,
            session.user_id,
        ),
        "entries": list(
            StateEntry.objects.filter(session=session)
            .order_by("key", "position")
            .values_list("key", "position", "value", "lookup_key", "size")
        ),
        "changes": [
            (c.version, c.source, ops_decode(c.ops), c.summary, c.run_id)
            for c in StateChange.objects.filter(session=session).order_by("version")
        ],
        "stats": list(
            CacheEntryStats.objects.filter(session=session)
            .order_by("cache", "key")
            .values_list("cache", "key", "content_hash", "hits", "produced_by")
        ),
    }


@pytest.mark.parametrize("start", [[], [post(0)], [post(0), post(1)]])
def test_an_append_writes_what_the_merge_path_writes(start: list[Any]) -> None:
    storage = DjangoWorkflowStorage()
    fast, slow = (
        seeded(storage, "fast", {"blog_posts": start}),
        seeded(storage, "slow", {"blog_posts": start}),
    )
    # The slow session moved on without changing its state's rows: its commit must merge.
    WorkflowSession.objects.filter(session_id="slow").update(version=slow + 1)
    WorkflowSession.objects.filter(session_id="fast").update(version=fast + 1)
    items = [post(5), post(6, "second")]
    append(storage, "fast", fast + 1, items, session_name="named", user_id="u1")
    merged = append(storage, "slow", slow, items, session_name="named", user_id="u1")
    assert merged.merged_state is not None  # it did take the merge path
    assert rows("fast") == rows("slow")
    assert storage.read("fast").session_state == {"blog_posts": [*start, *items]}
    assert_rows_consistent(WorkflowSession.objects.get(session_id="fast"))


def test_an_append_is_one_statement_on_postgresql_and_four_on_sqlite() -> None:
    storage = DjangoWorkflowStorage()
    version = seeded(storage, "s", {"blog_posts": [post(0)], "tone": "dry"})
    with CaptureQueriesContext(connection) as queries:
        done = append(storage, "s", version, [post(1)])
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("BEGIN", "SAVEPOINT", "RELEASE"))
    ]
    assert len(writes) == (1 if connection.vendor == "postgresql" else 4), writes
    assert done.version == version + 1
    assert done.merged_state is None
    with CaptureQueriesContext(connection) as queries:
        record = storage.read("s")
    assert len(queries.captured_queries) == 1
    assert record.session_state == {"tone": "dry", "blog_posts": [post(0), post(1)]}
    assert record.version == version + 1


def test_the_read_is_the_rows_state() -> None:
    storage = DjangoWorkflowStorage()
    state = {"blog_posts": [post(0), None, [1, [2]]], "drafts": [], "tone": {"a": 1.5}, "z": None}
    seeded(storage, "s", state)
    row, loaded = read_state("s")
    session = WorkflowSession.objects.get(session_id="s")
    assert loaded == state_load(session) == state
    assert (row.pk, row.version, row.workflow, row.created_at) == (
        session.pk,
        session.version,
        session.session_id and session.workflow,
        session.created_at,
    )
    assert read_state("absent") is None


def test_an_append_to_a_plain_or_absent_key_takes_the_orm_path() -> None:
    storage = DjangoWorkflowStorage()
    version = seeded(storage, "s", {"tone": "dry"})
    storage.commit(
        meta=SessionMeta(session_id="s"), base_version=version, ops=[Op("append", ("posts",), [1])], state={}
    )
    assert storage.read("s").session_state == {"tone": "dry", "posts": [1]}
    assert_rows_consistent(WorkflowSession.objects.get(session_id="s"))


def test_a_run_that_appends_keeps_its_run_row_stats_and_credit() -> None:
    storage = DjangoWorkflowStorage()
    version = seeded(storage, "s", {"blog_posts": [post(0)]})
    run = RunRecord(
        run_id=str(uuid.uuid4()),
        session_id="s",
        workflow_id=WORKFLOW,
        input={"topic": "Topic 1"},
        status="succeeded",
        started_at=1.0,
        ended_at=3.5,
        usage={"prompt_tokens": 10, "completion_tokens": 20, "estimated": False},
    )
    storage.commit(
        meta=SessionMeta(session_id="s", workflow_id=WORKFLOW),
        base_version=version,
        ops=[Op("append", ("blog_posts",), [post(1)])],
        state={},
        run=run,
    )
    session = WorkflowSession.objects.get(session_id="s")
    change = StateChange.objects.get(session=session, version=session.version)
    assert change.source == StateChange.Source.RUN
    assert change.run.run_id == uuid.UUID(run.run_id)
    stats = CacheEntryStats.objects.get(session=session, key="topic 1")
    assert (str(stats.produced_by), stats.generation_seconds, stats.tokens) == (run.run_id, 2.5, 30)
    assert (session.run_count, session.last_run_status) == (1, "succeeded")
    assert_rows_consistent(session)


def test_unchanged_content_keeps_its_stats_and_new_content_starts_afresh() -> None:
    storage = DjangoWorkflowStorage()
    version = seeded(storage, "s", {"blog_posts": [post(0)]})
    CacheEntryStats.objects.filter(key="topic 0").update(hits=7)
    version = append(storage, "s", version, [post(0)]).version  # the same content again
    assert CacheEntryStats.objects.get(key="topic 0").hits == 7
    append(storage, "s", version, [post(0, "rewritten")])
    assert CacheEntryStats.objects.get(key="topic 0").hits == 0


def test_an_append_over_the_size_limit_writes_nothing(settings: Any) -> None:
    storage = DjangoWorkflowStorage()
    version = seeded(storage, "s", {"blog_posts": [post(0)]})
    before = rows("s")
    settings.WFSITE_MAX_STATE_BYTES = WorkflowSession.objects.get().state_size + 10
    with pytest.raises(StateTooLargeError):
        append(storage, "s", version, [post(1, "x" * 100)])
    assert rows("s") == before
